"""FULLY_CONNECTED fused QAS update: C kt_fully_connected_update_s8 (in place) == golden, every
updated weight and bias."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grad_strategies import GRAD_SETTINGS, exponents, grads, int32_biases, update_quant
from kernel_strategies import int8s, rng, weights, zero_points
from kilotrain import ckernels_train
from kilotrain.ckernels import KernelError
from kilotrain.golden import grad_params as gp
from kilotrain.golden.fully_connected_update import fully_connected_update
from kilotrain.golden.grad_params import UpdateParams


@st.composite
def cases(draw: st.DrawFn):
    r = rng(draw)
    n = draw(st.integers(1, 8))
    cin = draw(st.integers(1, 80))
    cout = draw(st.integers(1, 24))
    x = int8s(r, (n, cin))
    gy = grads(draw, r, (n, cout))
    w = weights(r, (cout, cin))
    if draw(st.integers(0, 9)) == 0:
        w[r.random(w.shape) < 0.2] = -128  # -128 weights are clamped to -127 when updated
    bias = int32_biases(draw, r, cout)
    ratio = draw(st.sampled_from([0.0, 0.125, 0.25, 0.5, 1.0]))
    e_gy = draw(exponents)
    wm, ws = update_quant(draw, cout, e_gy, math.log2(math.sqrt(n) * 73 * 100 + 1))
    bm, bs = update_quant(draw, cout, e_gy, math.log2(math.sqrt(n) * 73 + 1))
    p = UpdateParams(gp.n_channels(ratio, cout), wm, ws, bm, bs, draw(zero_points))
    return x, gy, w, bias, p, e_gy


@GRAD_SETTINGS
@given(case=cases())
def test_fully_connected_update_matches_golden(case) -> None:
    x, gy, w, bias, p, e_gy = case
    want = fully_connected_update(x, gy, w, bias, p, e_gy)
    got = ckernels_train.fully_connected_update(x, gy, w, bias, p, e_gy)
    np.testing.assert_array_equal(got[0], want[0])
    if bias is None:
        assert got[1] is None and want[1] is None
    else:
        np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(want[0][p.n_weight_channels:], w[p.n_weight_channels:])


def test_fully_connected_update_saturates() -> None:
    """A huge step clamps weights to [-127, 127] and saturates the int32 bias."""
    x = np.full((1, 3), 100, np.int8)
    gy = np.array([[127, -127]], np.int8)
    w = np.array([[5, 5, 5], [-5, -5, -5]], np.int8)
    bias = np.array([-(2**31) + 5, 2**31 - 5], np.int32)
    m = np.full(2, (1 << 31) - 1, np.int32)
    s = np.full(2, 20, np.int32)
    p = UpdateParams(2, m, s, m, s, 0)
    for impl in (fully_connected_update, ckernels_train.fully_connected_update):
        nw, nb = impl(x, gy, w, bias, p, 0)
        assert nw.tolist() == [[-127] * 3, [127] * 3]
        assert nb.tolist() == [-(2**31), 2**31 - 1]
    with pytest.raises(KernelError):
        ckernels_train.fully_connected_update(x, gy, w, bias, p, 65)
