"""Backward fixed-point primitives: golden scale_round / shift_round / to_grad8 == the contract's
definitions evaluated with Python's exact integers (docs/numerics.md, "Fixed-point primitives
(backward only)"). The C twins (firmware/kernels/internal/kt_grad_quant.h) are compared through every kernel test."""

from __future__ import annotations

import numpy as np
from grad_strategies import GRAD_SETTINGS
from hypothesis import given
from hypothesis import strategies as st

from kilotrain.reference.grad_quant import (
    hash32,
    scale_round,
    scale_round_stochastic,
    shift_round,
    to_grad8,
    update_key,
)

I32 = st.one_of(
    st.integers(-(2**31), 2**31 - 1), st.integers(-300, 300), st.sampled_from([-(2**31), 2**31 - 1, 0, 1, -1])
)


def _sat(v: int) -> int:
    return max(-(2**31), min(2**31 - 1, v))


def _round_half_away(num: int, den: int) -> int:
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def ref_scale_round(acc: int, m: int, shift: int) -> int:
    p = acc * m
    r = 31 - shift
    if r >= 63:
        return 0
    if r > 0:
        return _sat(_round_half_away(p, 2**r))
    return _sat(p * 2 ** (-r))


def ref_shift_round(x: int, n: int) -> int:
    if n >= 31:
        return 0
    if n > 0:
        return _round_half_away(x, 2**n)
    return _sat(x * 2 ** (-n))


@GRAD_SETTINGS
@given(
    acc=st.lists(I32, min_size=1, max_size=16),
    m=st.one_of(st.integers(1 << 30, 2**31 - 1), st.just(0), st.integers(-(2**31), 2**31 - 1)),
    shift=st.one_of(st.integers(-40, 40), st.integers(-200, 200)),
)
def test_scale_round_is_the_contract(acc, m, shift) -> None:
    got = scale_round(np.array(acc, np.int64), m, shift)
    assert got.tolist() == [ref_scale_round(a, m, shift) for a in acc]


@GRAD_SETTINGS
@given(x=st.lists(I32, min_size=1, max_size=16), n=st.integers(-70, 70))
def test_shift_round_is_the_contract(x, n) -> None:
    assert shift_round(np.array(x, np.int64), n).tolist() == [ref_shift_round(v, n) for v in x]


def test_rounding_ties_go_away_from_zero() -> None:
    assert scale_round(np.array([3, -3, 1, -1]), 1 << 30, 0).tolist() == [2, -2, 1, -1]
    assert shift_round(np.array([6, -6, 2, -2, 1, -1]), 2).tolist() == [2, -2, 1, -1, 0, 0]
    assert shift_round(np.array([2**30]), 31).tolist() == [0]  # n >= 31 gives 0


@GRAD_SETTINGS
@given(v=st.lists(st.integers(-(2**40), 2**40), max_size=20))
def test_to_grad8(v) -> None:
    g, s = to_grad8(np.array(v, np.int64))
    assert g.dtype == np.int8
    assert g.tolist() == [max(-127, min(127, a)) for a in v]
    assert s.saturated == sum(abs(a) > 127 for a in v)
    assert s.amax == max((min(127, abs(a)) for a in v), default=0)


def ref_hash32(x: int) -> int:
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def ref_scale_round_stochastic(acc: int, m: int, shift: int, u: int) -> int:
    """floor((p + u * 2^(r-32)) / 2^r) in exact integers (r > 0), the exact shift otherwise."""
    p = acc * m
    r = 31 - shift
    if r <= 0:
        return _sat(p * 2 ** (-r))
    # floor(p / 2^r + u / 2^32) = floor((p * 2^32 + u * 2^r) / 2^(r + 32))
    return _sat((p * 2**32 + u * 2**r) >> (r + 32))


@GRAD_SETTINGS
@given(x=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=16))
def test_hash32_is_lowbias32(x) -> None:
    assert hash32(np.array(x, np.int64)).tolist() == [ref_hash32(v) for v in x]


def test_update_key() -> None:
    assert update_key(0, 0) == ref_hash32(0)
    assert update_key(7, 13) == ref_hash32((7 * 0x85EBCA6B + 13) & 0xFFFFFFFF)
    assert update_key(2**31, 2) == ref_hash32((2**31 * 0x85EBCA6B + 2) & 0xFFFFFFFF)


@GRAD_SETTINGS
@given(
    acc=st.lists(I32, min_size=1, max_size=16),
    m=st.one_of(st.integers(1 << 30, 2**31 - 1), st.just(0), st.integers(-(2**31), 2**31 - 1)),
    shift=st.one_of(st.integers(-40, 40), st.integers(-200, 200)),
    u=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1])),
)
def test_scale_round_stochastic_is_the_contract(acc, m, shift, u) -> None:
    got = scale_round_stochastic(np.array(acc, np.int64), m, shift, u)
    assert got.tolist() == [ref_scale_round_stochastic(a, m, shift, u) for a in acc]


def test_scale_round_stochastic_is_unbiased() -> None:
    """Mean over uniformly spread u of the stochastic result == the exact real value."""
    u = np.arange(4096, dtype=np.int64) << 20  # 4096 evenly spaced uint32 values
    for acc, m, shift in ((3, 1 << 30, -4), (-3, 1 << 30, -4), (12345, 1518500250, -20), (-7, 2**31 - 1, 20)):
        exact = acc * m * 2.0 ** (shift - 31)
        got = scale_round_stochastic(np.full(u.shape, acc), m, shift, u)
        assert abs(got.mean() - exact) <= 1 / 4096 + 1e-9 * abs(exact), (acc, m, shift)
