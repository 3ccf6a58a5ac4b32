"""golden.quant: the vectorised fixed-point helpers against literal scalar transcriptions of
TFLM/gemmlowp C code, and TFLM's rounding mode established against the interpreter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilotrain.model import quantize
from kilotrain.reference import quant

I32 = st.integers(-(2**31), 2**31 - 1)


def c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def srdhm_ref(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def rdbpot_ref(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def mbqm_ref(x: int, m: int, shift: int) -> int:
    left = max(shift, 0)
    right = max(-shift, 0)
    return rdbpot_ref(srdhm_ref(wrap32(x * (1 << left)), m), right)


@settings(max_examples=500, deadline=None)
@given(I32, I32)
def test_srdhm_matches_scalar(a: int, b: int) -> None:
    assert int(quant.saturating_rounding_doubling_high_mul(np.int64(a), np.int64(b))) == srdhm_ref(a, b)


@settings(max_examples=500, deadline=None)
@given(I32, st.integers(0, 31))
def test_rounding_divide_by_pot_matches_scalar(x: int, e: int) -> None:
    assert int(quant.rounding_divide_by_pot(np.int64(x), e)) == rdbpot_ref(x, e)


@settings(max_examples=500, deadline=None)
@given(st.integers(-(2**24), 2**24), st.floats(1e-6, 30.0))
def test_multiply_by_quantized_multiplier_matches_scalar(x: int, real: float) -> None:
    m, s = quantize.quantize_multiplier(real)
    assert int(quant.multiply_by_quantized_multiplier(x, m, s)) == mbqm_ref(x, m, s)
    # and it approximates x * real within one unit (plus the Q31 representation error)
    assert abs(mbqm_ref(x, m, s) - x * m * 2.0 ** (s - 31)) <= 1.0


def test_multiply_by_quantized_multiplier_broadcasts_per_channel() -> None:
    acc = np.arange(-12, 12, dtype=np.int64).reshape(4, 6) * 1001
    m = np.array([2**30, 1518500250, 2**31 - 1, 1234567890, 2**30, 1999999999], np.int32)
    s = np.array([-1, 0, -5, 2, -31, -10], np.int32)
    got = quant.multiply_by_quantized_multiplier(acc, m, s)
    want = np.array([[mbqm_ref(int(acc[i, j]), int(m[j]), int(s[j])) for j in range(6)] for i in range(4)])
    np.testing.assert_array_equal(got, want)


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-12, 1e6))
def test_quantize_multiplier_is_frexp_rounded(real: float) -> None:
    m, s = quantize.quantize_multiplier(real)
    if s == 0 and m == 0:
        assert real < 2.0**-31
        return
    assert 2**30 <= m <= 2**31 - 1
    assert s >= -31
    assert abs(m * 2.0 ** (s - 31) - real) <= 2.0 ** (s - 32) * (1 + 1e-12)


def test_quantize_multiplier_known_values() -> None:
    assert quantize.quantize_multiplier(1.0) == (2**30, 1)
    assert quantize.quantize_multiplier(0.5) == (2**30, 0)
    assert quantize.quantize_multiplier(0.0) == (0, 0)
    # significand rounds up to 2**31 -> halved, exponent + 1
    assert quantize.quantize_multiplier(1.0 - 2.0**-40) == (2**30, 1)
    # shift below -31 -> (0, 0)
    assert quantize.quantize_multiplier(2.0**-40) == (0, 0)
    q, e = math.frexp(0.1)
    assert quantize.quantize_multiplier(0.1) == (round(q * 2**31), e)


def test_single_rounding_differs_from_double_rounding() -> None:
    """The two TFLite rounding modes disagree on ties of the high product; golden uses double."""
    x = np.arange(-(2**16), 2**16, dtype=np.int64)
    m, s = quantize.quantize_multiplier(0.3)
    d = quant.multiply_by_quantized_multiplier(x, m, s - 3)
    sgl = quant.multiply_by_quantized_multiplier_single(x, m, s - 3)
    assert np.count_nonzero(d != sgl) > 0
    assert np.max(np.abs(d.astype(int) - sgl.astype(int))) == 1


@pytest.mark.parametrize(
    "act,scale,zp,want",
    [
        ("NONE", 0.1, 5, (-128, 127)),
        ("RELU", 0.1, -20, (-20, 127)),
        ("RELU6", 0.05, -128, (-128, -8)),
        ("RELU6", 0.01, 0, (0, 127)),
        ("RELU_N1_TO_1", 0.02, 3, (-47, 53)),
    ],
)
def test_activation_range(act: str, scale: float, zp: int, want: tuple[int, int]) -> None:
    assert quantize.activation_range(act, scale, zp) == want
