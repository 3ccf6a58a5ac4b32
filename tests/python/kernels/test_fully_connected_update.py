"""FULLY_CONNECTED fused QAS update: C kt_fully_connected_update_s8 (in place) == golden, every
updated weight and bias, with round-to-nearest and stochastic weight rounding (random key)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grad_strategies import GRAD_SETTINGS, exponents, grads, int32_biases, update_quant
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import int8s, rng, weights, zero_points

from kilotrain import contract
from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.fully_connected_update import fully_connected_update
from kilotrain.reference.grad_params import UpdateParams


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
    p = UpdateParams(gp.n_channels(ratio, cout), wm, ws, bm, bs, draw(zero_points), stochastic=draw(st.booleans()))
    return x, gy, w, bias, p, e_gy, draw(st.integers(0, 2**32 - 1))


@GRAD_SETTINGS
@given(case=cases())
def test_fully_connected_update_matches_golden(case) -> None:
    x, gy, w, bias, p, e_gy, key = case
    want = fully_connected_update(x, gy, w, bias, p, e_gy, key)
    got = ckernels_train.fully_connected_update(x, gy, w, bias, p, e_gy, key)
    np.testing.assert_array_equal(got[0], want[0])
    if bias is None:
        assert got[1] is None and want[1] is None
    else:
        np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(want[0][p.n_weight_channels :], w[p.n_weight_channels :])


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


@GRAD_SETTINGS
@given(data=st.data())
def test_stochastic_update_extreme_shifts_match_golden(data) -> None:
    """C kt_scale_round_sr == golden scale_round_stochastic over the whole shift range (every
    r = 31 - shift - e_gy branch: left shift, r <= 32, r > 32, r >= 63)."""
    r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, cin, cout = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 9)), data.draw(st.integers(1, 6))
    x, gy, w = int8s(r, (n, cin)), int8s(r, (n, cout)), weights(r, (cout, cin))
    m = r.integers(-(2**31), 2**31, cout).astype(np.int32)
    s = r.integers(contract.SHIFT_MIN, contract.SHIFT_MAX + 1, cout).astype(np.int32)
    p = UpdateParams(cout, m, s, m, s, data.draw(zero_points), stochastic=True)
    e_gy = data.draw(exponents)
    key = data.draw(st.integers(0, 2**32 - 1))
    want = fully_connected_update(x, gy, w, None, p, e_gy, key)
    got = ckernels_train.fully_connected_update(x, gy, w, None, p, e_gy, key)
    np.testing.assert_array_equal(got[0], want[0])


def test_stochastic_update_is_unbiased() -> None:
    """Golden vs float: over many keys the mean stochastic weight step equals the exact real
    update acc_w * m * 2^(shift + e_gy - 31), also for steps far below one LSB (which
    round-to-nearest drops)."""
    r = np.random.default_rng(0)
    x, gy = int8s(r, (1, 16)), int8s(r, (1, 4))
    w = np.zeros((4, 16), np.int8)
    lr_real = np.array([3e-5, 3e-4, 2e-3, 1e-2])  # per-channel weight multiplier (real)
    ms, ss = zip(*(gp.quantize_multiplier(v) for v in lr_real))
    m, s = np.array(ms, np.int32), np.array(ss, np.int32)
    e_gy = -6
    acc = gy[0].astype(np.int64)[:, None] * (x[0].astype(np.int64) + 5)[None, :]
    exact = acc * np.array(ms, np.float64)[:, None] * 2.0 ** (np.array(ss)[:, None] + e_gy - 31)
    keys = 4000
    total = np.zeros(w.shape)
    for kind in ("stochastic", "nearest"):
        p = UpdateParams(4, m, s, m, s, -5, stochastic=(kind == "stochastic"))
        total[:] = 0
        for k in range(keys):
            total -= fully_connected_update(x, gy, w, None, p, e_gy, gp_key(k))[0]
        mean = total / keys
        if kind == "stochastic":
            np.testing.assert_allclose(mean, exact, atol=0.05)
        else:
            assert np.abs(mean - exact).max() > 0.05  # nearest is biased for sub-LSB steps
    assert (np.abs(exact) < 0.5).any()


def gp_key(k: int) -> int:
    from kilotrain.reference.grad_quant import update_key

    return update_key(k, 3)
