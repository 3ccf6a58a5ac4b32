"""DEPTHWISE_CONV_2D input gradient: C kt_depthwise_conv2d_input_grad_s8 == golden, every byte
and the stats."""

from __future__ import annotations

import numpy as np
import pytest
from grad_strategies import (
    GRAD_SETTINGS,
    assert_stats_equal,
    chan_fold,
    exponents,
    grads,
    input_grad_tail,
)
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import geometries, rng, weights

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.depthwise_conv2d_input_grad import depthwise_conv2d_input_grad
from kilotrain.reference.grad_params import DepthwiseConvGradParams


@st.composite
def cases(draw: st.DrawFn, padded: bool = False):
    """Any geometry; with ``padded`` 3x3 filters, stride and dilation 1, depth multiplier 1 on maps
    up to 9x9: the staged and padded forms of the C kernel."""
    r = rng(draw)
    n = draw(st.integers(1, 2))
    cin = draw(st.sampled_from([1, 2, 3, 7, 16, 33, 36]))
    dm = 1 if padded else draw(st.sampled_from([1, 1, 2, 3]))
    cout = cin * dm
    geo = {"min_kernel": 3, "max_kernel": 3, "max_stride": 1, "max_dilation": 1} if padded else {}
    gh = draw(geometries(max_size=9, **geo))
    gw = draw(geometries(max_size=9, **geo))
    stride, padding = (gh.stride, gw.stride), (gh.pad_before, gw.pad_before)
    dilation = (gh.dilation, gw.dilation)
    gy = grads(draw, r, (n, gh.out, gw.out, cout))
    filt = weights(r, (1, gh.kernel, gw.kernel, cout))
    cm, cs = chan_fold(draw, r, cout)
    k = gp.taps_per_input(gh.kernel, gh.stride, gh.dilation) * gp.taps_per_input(gw.kernel, gw.stride, gw.dilation) * dm
    e_gy = draw(exponents)
    hr, xm, xs, e_gx = input_grad_tail(draw, k, e_gy, gy, cm, cs)
    p = DepthwiseConvGradParams(stride, padding, dilation, dm, cm, cs, hr, xm, xs)
    return gy, filt, p, (gh.size, gw.size), e_gy, e_gx


@GRAD_SETTINGS
@given(case=st.one_of(cases(), cases(padded=True)))
def test_depthwise_conv2d_input_grad_matches_golden(case) -> None:
    gy, filt, p, in_hw, e_gy, e_gx = case
    want, ws = depthwise_conv2d_input_grad(gy, filt, p, in_hw, e_gy, e_gx)
    got, gs = ckernels_train.depthwise_conv2d_input_grad(gy, filt, p, in_hw, e_gy, e_gx)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)


def test_depthwise_input_grad_rejects_bad_arguments() -> None:
    r = np.random.default_rng(0)
    gy = r.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8)
    filt = r.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8)
    m, s = np.full(4, 1 << 30, np.int32), np.zeros(4, np.int32)
    for dm in (3, 0):  # 4 channels are not Cin * 3; dm 0
        p = DepthwiseConvGradParams((1, 1), (1, 1), (1, 1), dm, m, s, 4, 1 << 30, -5)
        with pytest.raises(ValueError):
            depthwise_conv2d_input_grad(gy, filt, p, (3, 3), 0, 0)
        with pytest.raises(KernelError):
            ckernels_train.depthwise_conv2d_input_grad(gy, filt, p, (3, 3), 0, 0)
    p = gp.depthwise_conv_grad_params(np.full(4, 0.01), (3, 3), 4, 2, padding=(1, 1))
    assert p.headroom == 8 and p.depth_multiplier == 2
