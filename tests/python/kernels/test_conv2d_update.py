"""CONV_2D fused QAS update: C kt_conv2d_update_s8 (in place) == golden conv2d_update, every
updated weight and bias, with round-to-nearest and stochastic weight rounding (random key)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grad_strategies import GRAD_SETTINGS, exponents, grads, int32_biases, update_quant
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import Geometry, geometries, int8s, rng, weights, zero_points

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.conv2d_update import conv2d_update
from kilotrain.reference.grad_params import UpdateParams


def check_update(got, want, filt, nw) -> None:
    np.testing.assert_array_equal(got[0], want[0])
    if want[1] is None:
        assert got[1] is None
    else:
        np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(want[0][nw:], np.asarray(filt)[nw:])  # untouched channels
    assert want[0][:nw].min(initial=0) >= -127


@st.composite
def cases(draw: st.DrawFn, pointwise: bool = False):
    """Random cases; ``pointwise``: only 1x1 ones with updated weights and the host path's tile
    widths in cin."""
    r = rng(draw)
    n = draw(st.integers(1, 2))
    cin = draw(st.sampled_from([8, 33, 40, 71] if pointwise else [1, 2, 3, 8, 33, 40]))
    cout = draw(st.integers(1, 16))
    if pointwise or draw(st.integers(0, 3)) == 0:  # 1x1, stride 1, no padding: the C kernel's pointwise path
        gh, gw = (Geometry(s, 1, 1, 1, 0, s) for s in (draw(st.integers(1, 9)), draw(st.integers(1, 9))))
    else:
        gh = draw(geometries(max_size=9, max_kernel=4, max_stride=3, max_dilation=2))
        gw = draw(geometries(max_size=9, max_kernel=4, max_stride=3, max_dilation=2))
    x = int8s(r, (n, gh.size, gw.size, cin))
    gy = grads(draw, r, (n, gh.out, gw.out, cout))
    filt = weights(r, (cout, gh.kernel, gw.kernel, cin))
    bias = int32_biases(draw, r, cout)
    ratio = draw(st.sampled_from([0.125, 0.25, 0.5, 1.0] if pointwise else [0.0, 0.125, 0.25, 0.5, 1.0]))
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
        stochastic=draw(st.booleans()),
    )
    return x, gy, filt, bias, p, e_gy, draw(st.integers(0, 2**32 - 1))


@GRAD_SETTINGS
@given(case=cases())
def test_conv2d_update_matches_golden(case) -> None:
    x, gy, filt, bias, p, e_gy, key = case
    filt0 = filt.copy()
    bias0 = None if bias is None else bias.copy()
    want = conv2d_update(x, gy, filt, bias, p, e_gy, key)
    got = ckernels_train.conv2d_update(x, gy, filt, bias, p, e_gy, key)
    check_update(got, want, filt, p.n_weight_channels)
    np.testing.assert_array_equal(filt, filt0)  # inputs are not modified
    if bias is not None:
        np.testing.assert_array_equal(bias, bias0)


def test_update_params_builder() -> None:
    s_w = np.array([0.01, 0.02, 0.04, 0.005])
    p = gp.update_params(0.05, 0.02, s_w, 0.5, cout=4, input_zero_point=-3, stride=(2, 2))
    assert p.n_weight_channels == 2 and p.stride == (2, 2)
    for co in range(4):
        assert p.weight_multiplier[co] * 2.0 ** (p.weight_shift[co] - 31) == pytest.approx(
            0.05 * 0.02 / s_w[co], rel=1e-8
        )
        assert p.bias_multiplier[co] * 2.0 ** (p.bias_shift[co] - 31) == pytest.approx(
            0.05 / (0.02 * s_w[co]), rel=1e-8
        )
    q = gp.update_params(0.05, 0.02, s_w, 1 / 8, cout=4, input_zero_point=0, qas=False)
    assert q.n_weight_channels == 1
    assert q.weight_multiplier[1] * 2.0 ** (q.weight_shift[1] - 31) == pytest.approx(0.05 * 0.02 * 0.02, rel=1e-8)
    assert [gp.n_channels(r, 24) for r in (0, 1 / 8, 1 / 4, 1 / 2, 1)] == [0, 3, 6, 12, 24]
    assert gp.n_channels(1 / 8, 10) == 2
    with pytest.raises(ValueError, match="output pixels"):
        gp.update_params(0.05, 0.02, s_w, 1, cout=4, input_zero_point=0, out_pixels=70000)


def test_conv2d_update_rejects_bad_arguments() -> None:
    r = np.random.default_rng(1)
    x = int8s(r, (1, 4, 4, 2))
    gy = r.integers(-127, 128, (1, 2, 2, 3)).astype(np.int8)
    filt = weights(r, (3, 3, 3, 2))
    m, s = np.full(3, 1 << 30, np.int32), np.full(3, -10, np.int32)
    bad = [
        UpdateParams(4, m, s, m, s, 0),  # n > Cout
        UpdateParams(1, m, s, m, s, 128),  # zero point
        UpdateParams(1, m, np.full(3, 64, np.int32), m, s, 0),  # shift
        UpdateParams(1, m, s, m, s, 0, stride=(0, 1)),
    ]
    for p in bad:
        with pytest.raises(KernelError):
            ckernels_train.conv2d_update(x, gy, filt, None, p, 0)
        with pytest.raises(ValueError):
            conv2d_update(x, gy, filt, None, p, 0)
