"""Hypothesis strategies shared by the backward / update kernel tests (C == golden): gradient
tensors (dense or ReLU-sparse), run-time exponents, per-channel folds with a ratio <= 1, a
headroom inside the contract's overflow bound, and update multipliers calibrated so that the
updates are neither all zero nor all clamped."""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kilotrain import contract
from kilotrain.model.quantize import quantize_multiplier
from kilotrain.reference import grad_params as gp

#: One property's budget (the backward suite stays well under a minute on 2 cores);
#: KILOTRAIN_KERNEL_EXAMPLES=5000 runs a deeper search.
GRAD_SETTINGS = settings(
    max_examples=int(os.environ.get("KILOTRAIN_KERNEL_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Run-time exponents: mostly the scale policy's window, sometimes anything legal.
exponents = st.one_of(
    st.integers(contract.POLICY_EXP_MIN, contract.POLICY_EXP_MAX), st.integers(contract.EXP_MIN, contract.EXP_MAX)
)
multipliers = st.one_of(st.integers(1 << 30, (1 << 31) - 1), st.sampled_from([0, 1 << 30, (1 << 31) - 1]))


def grads(draw: st.DrawFn, r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """An int8 gradient in [-127, 127]: dense, ReLU-sparse (about half zeros) or small."""
    kind = draw(st.sampled_from(["dense", "sparse", "small"]))
    bound = 128 if kind != "small" else 4
    g = r.integers(-bound + 1, bound, size=shape, dtype=np.int64)
    if kind == "sparse":
        g = g * (r.random(shape) < 0.5)
    return g.astype(np.int8)


def chan_fold(draw: st.DrawFn, r: np.random.Generator, cout: int) -> tuple[np.ndarray, np.ndarray]:
    """(chan_multiplier, chan_shift): QuantizeMultiplier of ratios s_W[co] / max s_W in (0, 1]
    (one channel at ratio 1), or raw Q31 multipliers with shifts <= 0 (ratio < 1)."""
    if draw(st.booleans()):
        ratios = np.exp(r.uniform(np.log(2.0**-6), 0.0, size=cout))
        ratios[r.integers(cout)] = 1.0
        pairs = [quantize_multiplier(float(v)) for v in ratios]
        return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))
    m = np.array(draw(st.lists(multipliers, min_size=cout, max_size=cout)), np.int32)
    sh = st.one_of(st.integers(-3, 0), st.integers(-31, 0))
    s = np.array(draw(st.lists(sh, min_size=cout, max_size=cout)), np.int32)
    return m, s


def headroom_for(draw: st.DrawFn, k: int) -> int:
    """A headroom H in [0, headroom(K)] (the compiler's choice or less)."""
    return draw(st.integers(0, gp.headroom(k)))


def out_exponent(draw: st.DrawFn, x_shift: int, e_gy: int, log2_typical: float) -> int:
    """An output exponent: three times in four calibrated so typical outputs land in the int8 range,
    otherwise any legal exponent."""
    if draw(st.integers(0, 3)) > 0:
        e = x_shift + e_gy + round(log2_typical) - 6 + draw(st.integers(-2, 2))
        return int(np.clip(e, contract.EXP_MIN, contract.EXP_MAX))
    return draw(exponents)


def input_grad_tail(
    draw: st.DrawFn, k: int, e_gy: int, gy: np.ndarray, chan_m: np.ndarray, chan_s: np.ndarray
) -> tuple[int, int, int, int]:
    """(headroom, x_multiplier, x_shift, e_gx) of an input-gradient record and call; the
    calibrated e_gx uses the rms of gy and of the fold ratios."""
    h = headroom_for(draw, k)
    xm = draw(st.one_of(st.integers(1 << 30, (1 << 31) - 1), multipliers))
    xs = draw(st.one_of(st.integers(-12, 0), st.integers(contract.SHIFT_MIN, contract.SHIFT_MAX)))
    ratio = chan_m.astype(np.float64) * np.exp2(chan_s.astype(np.float64) - 31)
    g_rms = float(np.sqrt(np.mean(gy.astype(np.float64) ** 2))) if gy.size else 0.0
    r_rms = float(np.sqrt(np.mean(ratio**2)))
    typical = math.log2(max(1.0, math.sqrt(k) * 73.0 * max(g_rms * r_rms, 1e-3)))
    return h, xm, xs, out_exponent(draw, xs, e_gy, typical)


def update_quant(draw: st.DrawFn, cout: int, e_gy: int, log2_acc: float) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) arrays of a weight or bias update: calibrated so that
    scale_round(acc, m, shift + e_gy) is about 1..64 for a typical |acc| = 2**log2_acc, or any
    legal shift."""
    m = np.array(draw(st.lists(multipliers, min_size=cout, max_size=cout)), np.int32)
    if draw(st.booleans()):
        centre = -round(log2_acc) - e_gy + 3
        lo, hi = centre - 3, centre + 3
        sh = st.integers(max(contract.SHIFT_MIN, lo), max(contract.SHIFT_MIN, min(contract.SHIFT_MAX, hi)))
    else:
        sh = st.integers(contract.SHIFT_MIN, contract.SHIFT_MAX)
    s = np.array(draw(st.lists(sh, min_size=cout, max_size=cout)), np.int32)
    return m, s


def int32_biases(draw: st.DrawFn, r: np.random.Generator, n: int) -> np.ndarray | None:
    """None, small biases, or biases near the int32 limits (saturation of the update)."""
    kind = draw(st.sampled_from(["none", "small", "edge"]))
    if kind == "none":
        return None
    if kind == "small":
        return r.integers(-(1 << 20), 1 << 20, size=n, dtype=np.int64).astype(np.int32)
    v = r.integers(0, 1 << 12, size=n, dtype=np.int64)
    sign = r.integers(0, 2, size=n) * 2 - 1
    return np.where(sign > 0, 2**31 - 1 - v, -(2**31) + v).astype(np.int32)


def assert_stats_equal(a, b) -> None:
    assert (a.saturated, a.amax) == (b.saturated, b.amax)
