"""CONV_2D input gradient: C kt_conv2d_input_grad_s8 == golden conv2d_input_grad, every byte
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
from kilotrain.reference.conv2d_input_grad import conv2d_input_grad
from kilotrain.reference.grad_params import ConvGradParams


@st.composite
def cases(draw: st.DrawFn, pointwise: bool = False):
    """Random cases; ``pointwise``: only 1x1 ones, with the host path's tile widths in cin."""
    r = rng(draw)
    n = draw(st.integers(1, 2))
    cin = draw(st.sampled_from([8, 33, 40, 71] if pointwise else [1, 2, 3, 5, 8, 33, 40]))  # > 32 crosses the C block
    cout = draw(st.integers(1, 8))
    if pointwise or draw(st.integers(0, 4)) == 0:  # 1x1 (pointwise) case
        h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        kh = kw = 1
        stride, padding, dilation, out_hw = (1, 1), (0, 0), (1, 1), (h, w)
    else:
        gh = draw(geometries(max_size=9, max_kernel=5, max_stride=3, max_dilation=3))
        gw = draw(geometries(max_size=9, max_kernel=5, max_stride=3, max_dilation=3))
        h, w, kh, kw = gh.size, gw.size, gh.kernel, gw.kernel
        stride, padding = (gh.stride, gw.stride), (gh.pad_before, gw.pad_before)
        dilation, out_hw = (gh.dilation, gw.dilation), (gh.out, gw.out)
    gy = grads(draw, r, (n, out_hw[0], out_hw[1], cout))
    filt = weights(r, (cout, kh, kw, cin))
    cm, cs = chan_fold(draw, r, cout)
    k = gp.taps_per_input(kh, stride[0], dilation[0]) * gp.taps_per_input(kw, stride[1], dilation[1]) * cout
    e_gy = draw(exponents)
    hr, xm, xs, e_gx = input_grad_tail(draw, k, e_gy, gy, cm, cs)
    p = ConvGradParams(stride, padding, dilation, cm, cs, hr, xm, xs)
    return gy, filt, p, (h, w), e_gy, e_gx


@GRAD_SETTINGS
@given(case=cases(), s=st.integers(0, 1 << 16))
def test_conv2d_input_grad_matches_golden(case, s: int) -> None:
    gy, filt, p, in_hw, e_gy, e_gx = case
    want, ws = conv2d_input_grad(gy, filt, p, in_hw, e_gy, e_gx)
    got, gs = ckernels_train.conv2d_input_grad(gy, filt, p, in_hw, e_gy, e_gx)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)
    split = s % (filt.shape[0] + 1)
    got, gs = ckernels_train.conv2d_input_grad(gy, filt, p, in_hw, e_gy, e_gx, split=split)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)
    assert want.min() >= -127


def test_conv2d_input_grad_mobilenet_like_layer() -> None:
    """3x3 stride 2 SAME (odd total), 16 -> 24 channels, params from real scales."""
    r = np.random.default_rng(3)
    s_w = r.uniform(0.002, 0.02, 24)
    p = gp.conv_grad_params(s_w, (3, 3), 24, (2, 2), (0, 0))
    gy = r.integers(-127, 128, (1, 9, 9, 24)).astype(np.int8)
    filt = r.integers(-127, 128, (24, 3, 3, 16)).astype(np.int8)
    want = conv2d_input_grad(gy, filt, p, (17, 17), -6, -4)
    got = ckernels_train.conv2d_input_grad(gy, filt, p, (17, 17), -6, -4)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    assert want[1].amax > 0


def test_conv2d_input_grad_rejects_bad_arguments() -> None:
    r = np.random.default_rng(0)
    gy = r.integers(-127, 128, (1, 2, 2, 2)).astype(np.int8)
    filt = r.integers(-127, 128, (2, 3, 3, 3)).astype(np.int8)
    m, s = np.full(2, 1 << 30, np.int32), np.zeros(2, np.int32)
    good = ConvGradParams((1, 1), (0, 0), (1, 1), m, s, 4, 1 << 30, -5)
    bad = [
        (ConvGradParams((0, 1), (0, 0), (1, 1), m, s, 4, 1 << 30, -5), 0, 0),  # stride 0
        (ConvGradParams((1, 1), (0, 0), (1, 1), m, s, 9, 1 << 30, -5), 0, 0),  # headroom > 8
        (ConvGradParams((1, 1), (0, 0), (1, 1), m, np.full(2, 2, np.int32), 4, 1 << 30, -5), 0, 0),  # fold ratio > 1
        (ConvGradParams((1, 1), (0, 0), (1, 1), m, s, 4, 1 << 30, 64), 0, 0),  # x_shift
        (good, 65, 0),  # exponent out of range
        (good, 0, -65),
    ]
    for p, e_gy, e_gx in bad:
        with pytest.raises(KernelError):
            ckernels_train.conv2d_input_grad(gy, filt, p, (4, 4), e_gy, e_gx)
        with pytest.raises(ValueError):
            conv2d_input_grad(gy, filt, p, (4, 4), e_gy, e_gx)
    with pytest.raises(ValueError):  # Cout mismatch
        conv2d_input_grad(gy, filt[:1], good, (4, 4), 0, 0)
    with pytest.raises(KernelError):
        ckernels_train.conv2d_input_grad(gy, filt[:1], good, (4, 4), 0, 0)


def test_conv_grad_params_refuses_negative_headroom() -> None:
    k_max = (2**31 - 1) // (127 * 128)
    assert gp.headroom(k_max) == 0
    assert gp.headroom(1) == 8
    with pytest.raises(ValueError, match="headroom H < 0"):
        gp.conv_grad_params(0.01, (3, 3), k_max // 9 + 1)
    # stride 2 on a 3x3 filter: at most 2x2 taps per input pixel
    assert gp.taps_per_input(3, 2, 1) == 2
    # stride 2 with dilation 2: every tap lands on the same parity
    assert gp.taps_per_input(3, 2, 2) == 3
