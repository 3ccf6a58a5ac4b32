"""Hypothesis strategies shared by the kernel tests: quantization parameters, activation ranges,
padded conv geometry, and seeded random int8/int32 data."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: The budget of one op's property test (the whole kernels suite stays well under 2 minutes);
#: KILOTRAIN_KERNEL_EXAMPLES=5000 runs a deeper search.
KERNEL_SETTINGS = settings(
    max_examples=int(os.environ.get("KILOTRAIN_KERNEL_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

zero_points = st.integers(-128, 127)
input_offsets = zero_points.map(lambda zp: -zp)  # [-127, 128]
output_offsets = zero_points

#: Q31 multipliers: the normal range [2^30, 2^31-1], its edges, and 0.
multipliers = st.one_of(
    st.integers(1 << 30, (1 << 31) - 1),
    st.sampled_from([0, 1 << 30, (1 << 31) - 1]),
)
#: Shifts: mostly the realistic right shifts, plus the whole legal range [-31, 30].
shifts = st.one_of(st.integers(-14, 1), st.integers(-31, 30))


@st.composite
def activations(draw: st.DrawFn) -> tuple[int, int]:
    """(act_min, act_max): the full int8 range, a ReLU-like floor, or any sub-range."""
    kind = draw(st.sampled_from(["none", "relu", "range"]))
    if kind == "none":
        return -128, 127
    lo = draw(st.integers(-128, 127))
    if kind == "relu":
        return lo, 127
    hi = draw(st.integers(lo, 127))
    return lo, hi


def per_channel(draw: st.DrawFn, n: int, terms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n (multiplier, shift) pairs as int32 arrays.

    With ``terms`` (products per accumulator), half the draws are *calibrated*: the shift brings a
    typical accumulator (~128 * 128 * sqrt(terms)) to the int8 range, so most outputs are neither
    clamped nor zero; the other half span the whole legal range.
    """
    mult = np.array(draw(st.lists(multipliers, min_size=n, max_size=n)), dtype=np.int32)
    if terms is not None and draw(st.booleans()):
        centre = -round(7.0 + 0.5 * np.log2(max(terms, 1)))
        shift_st = st.integers(centre - 2, centre + 1)
    else:
        shift_st = shifts
    shift = np.array(draw(st.lists(shift_st, min_size=n, max_size=n)), dtype=np.int32)
    return mult, shift


def rng(draw: st.DrawFn) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def int8s(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return r.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def weights(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Symmetric int8 weights in [-127, 127] (the TFLite int8 weight spec)."""
    return r.integers(-127, 128, size=shape, dtype=np.int64).astype(np.int8)


def biases(draw: st.DrawFn, r: np.random.Generator, n: int) -> np.ndarray | None:
    kind = draw(st.sampled_from(["none", "small", "large"]))
    if kind == "none":
        return None
    bound = 1 << (12 if kind == "small" else 24)
    return r.integers(-bound, bound, size=n, dtype=np.int64).astype(np.int32)


@dataclass(frozen=True)
class Geometry:
    """One spatial axis of a padded, strided, dilated window op."""

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    out: int


@st.composite
def geometries(
    draw: st.DrawFn,
    max_size: int = 9,
    max_kernel: int = 5,
    max_stride: int = 3,
    max_dilation: int = 3,
    min_kernel: int = 1,
) -> Geometry:
    """VALID, SAME (odd totals put the extra pad after) or arbitrary before/after padding."""
    k = draw(st.integers(min_kernel, max_kernel))
    s = draw(st.integers(1, max_stride))
    d = draw(st.integers(1, max_dilation)) if k > 1 else 1
    eff = (k - 1) * d + 1
    mode = draw(st.sampled_from(["valid", "same", "free"]))
    if mode == "valid":
        size = draw(st.integers(eff, max(eff, max_size)))
        return Geometry(size, k, s, d, 0, (size - eff) // s + 1)
    size = draw(st.integers(1, max_size))
    if mode == "same":
        out = -(-size // s)
        total = max((out - 1) * s + eff - size, 0)
        return Geometry(size, k, s, d, total // 2, out)
    before = draw(st.integers(0, eff - 1))
    lo = max(0, eff - size - before)
    after = draw(st.integers(lo, max(lo, eff - 1)))
    out = (size + before + after - eff) // s + 1
    return Geometry(size, k, s, d, before, out)


@st.composite
def shapes(draw: st.DrawFn, min_rank: int = 1, max_rank: int = 4, max_dim: int = 5) -> tuple[int, ...]:
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.lists(st.integers(1, max_dim), min_size=rank, max_size=rank)))
