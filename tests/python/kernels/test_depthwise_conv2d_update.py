"""DEPTHWISE_CONV_2D fused QAS update: C kt_depthwise_conv2d_update_s8 (in place) == golden,
every updated weight and bias, with
round-to-nearest and stochastic weight rounding (random key)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grad_strategies import GRAD_SETTINGS, exponents, grads, int32_biases, update_quant
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import geometries, int8s, rng, weights, zero_points

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.depthwise_conv2d_update import depthwise_conv2d_update
from kilotrain.reference.grad_params import UpdateParams


@st.composite
def cases(draw: st.DrawFn):
    r = rng(draw)
    n = draw(st.integers(1, 2))
    cin = draw(st.sampled_from([1, 2, 3, 8, 17]))
    dm = draw(st.sampled_from([1, 1, 2, 3]))
    cout = cin * dm
    gh = draw(geometries(max_size=9, max_kernel=5, max_stride=3, max_dilation=2))
    gw = draw(geometries(max_size=9, max_kernel=5, max_stride=3, max_dilation=2))
    x = int8s(r, (n, gh.size, gw.size, cin))
    gy = grads(draw, r, (n, gh.out, gw.out, cout))
    filt = weights(r, (1, gh.kernel, gw.kernel, cout))
    bias = int32_biases(draw, r, cout)
    ratio = draw(st.sampled_from([0.0, 0.125, 0.25, 0.5, 1.0]))
    e_gy = draw(exponents)
    pixels = n * gh.out * gw.out
    wm, ws = update_quant(draw, cout, e_gy, math.log2(math.sqrt(pixels) * 73 * 100 + 1))
    bm, bs = update_quant(draw, cout, e_gy, math.log2(math.sqrt(pixels) * 73 + 1))
    p = UpdateParams(
        gp.n_channels(ratio, cout),
        wm,
        ws,
        bm,
        bs,
        draw(zero_points),
        (gh.stride, gw.stride),
        (gh.pad_before, gw.pad_before),
        (gh.dilation, gw.dilation),
        dm,
        stochastic=draw(st.booleans()),
    )
    return x, gy, filt, bias, p, e_gy, draw(st.integers(0, 2**32 - 1))


@GRAD_SETTINGS
@given(case=cases())
def test_depthwise_conv2d_update_matches_golden(case) -> None:
    x, gy, filt, bias, p, e_gy, key = case
    want = depthwise_conv2d_update(x, gy, filt, bias, p, e_gy, key)
    got = ckernels_train.depthwise_conv2d_update(x, gy, filt, bias, p, e_gy, key)
    np.testing.assert_array_equal(got[0], want[0])
    if bias is None:
        assert got[1] is None and want[1] is None
    else:
        np.testing.assert_array_equal(got[1], want[1])
    nw = p.n_weight_channels
    np.testing.assert_array_equal(want[0][..., nw:], filt[..., nw:])


def test_depthwise_update_rejects_wrong_depth_multiplier() -> None:
    r = np.random.default_rng(2)
    x = int8s(r, (1, 4, 4, 2))
    gy = r.integers(-127, 128, (1, 2, 2, 4)).astype(np.int8)
    filt = weights(r, (1, 3, 3, 4))
    m, s = np.full(4, 1 << 30, np.int32), np.full(4, -10, np.int32)
    p = UpdateParams(4, m, s, m, s, 0, depth_multiplier=1)  # should be 2
    with pytest.raises(KernelError):
        ckernels_train.depthwise_conv2d_update(x, gy, filt, None, p, 0)
    with pytest.raises(ValueError):
        depthwise_conv2d_update(x, gy, filt, None, p, 0)
