"""Requantization: C kt_requantize_s32 == golden multiply_by_quantized_multiplier, and the one
compile-time quantize_multiplier (kilotrain.model.quantize) == an independent frexp oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS, multipliers, shifts

from kilotrain.kernels import forward as ckernels
from kilotrain.model.quantize import quantize_multiplier
from kilotrain.reference import quant as golden

int32s = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**16), 2**16),
    st.sampled_from([-(2**31), -(2**31) + 1, -1, 0, 1, 2**31 - 1]),
)


@KERNEL_SETTINGS
@given(
    acc=st.lists(int32s, min_size=1, max_size=64),
    mult=st.one_of(multipliers, st.integers(-(2**31), 2**31 - 1)),
    shift=shifts,
)
def test_mbqm_matches_golden(acc: list[int], mult: int, shift: int) -> None:
    a = np.array(acc, dtype=np.int32)
    np.testing.assert_array_equal(
        ckernels.multiply_by_quantized_multiplier(a, mult, shift),
        golden.multiply_by_quantized_multiplier(a, mult, shift),
    )


@KERNEL_SETTINGS
@given(data=st.data(), n=st.integers(1, 32))
def test_mbqm_per_channel_broadcast(data: st.DataObject, n: int) -> None:
    rows = data.draw(st.integers(1, 4))
    acc = np.array(data.draw(st.lists(int32s, min_size=rows * n, max_size=rows * n)), dtype=np.int32).reshape(rows, n)
    mult = np.array(data.draw(st.lists(multipliers, min_size=n, max_size=n)), dtype=np.int32)
    shift = np.array(data.draw(st.lists(shifts, min_size=n, max_size=n)), dtype=np.int32)
    np.testing.assert_array_equal(
        ckernels.multiply_by_quantized_multiplier(acc, mult, shift),
        golden.multiply_by_quantized_multiplier(acc, mult, shift),
    )


def test_mbqm_rounding_edges() -> None:
    """RoundingDivideByPOT ties go away from zero, the doubling high multiply's ties go up;
    INT32_MIN * INT32_MIN saturates; left shifts wrap like C's int32."""
    acc = np.array([1, -1, 3, -3, 5, -5, 2**31 - 1, -(2**31), 2**20, -(2**20)], dtype=np.int32)
    for mult, shift in [
        (1 << 30, -1),
        (1 << 30, 0),
        ((1 << 31) - 1, -31),
        (-(2**31), 0),
        ((1 << 31) - 1, 30),
        (1 << 30, 12),
    ]:
        np.testing.assert_array_equal(
            ckernels.multiply_by_quantized_multiplier(acc, mult, shift),
            golden.multiply_by_quantized_multiplier(acc, mult, shift),
        )
    # exact high product 3 / -3, then / 2: +-1.5 -> +-2 (away from zero)
    assert list(ckernels.multiply_by_quantized_multiplier([6, -6], 1 << 30, -1)) == [2, -2]
    # high multiply tie: 0.5 * 3 = 1.5 -> 2, 0.5 * -3 = -1.5 -> -1 (gemmlowp nudge)
    assert list(ckernels.multiply_by_quantized_multiplier([3, -3], 1 << 30, 0)) == [2, -1]


def test_shift_out_of_range_is_an_argument_error() -> None:
    with pytest.raises(ckernels.KernelError, match="KT_ARG_ERROR"):
        ckernels.multiply_by_quantized_multiplier([1], 1 << 30, 31)
    with pytest.raises(ckernels.KernelError, match="KT_ARG_ERROR"):
        ckernels.multiply_by_quantized_multiplier([1], 1 << 30, -32)


reals = st.one_of(
    st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=2.0**-40, max_value=2.0**-28),
    st.integers(-40, 20).map(lambda e: math.ldexp(1.0, e)),
    st.integers(0, 2**31 - 1).map(lambda m: math.ldexp(m + 0.5, -31)),  # exact ties
    st.just(0.0),
)


def _frexp_oracle(real: float) -> tuple[int, int]:
    """TFLM's QuantizeMultiplier written independently: the Q31 significand rounded half away
    from zero with floor(|x| + 0.5); 2**31 halved with shift + 1; shifts below -31 flush to 0."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    scaled = q * 2.0**31
    q_fixed = math.floor(abs(scaled) + 0.5) * (1 if scaled >= 0 else -1)
    if abs(q_fixed) == 2**31:
        q_fixed //= 2
        shift += 1
    return (0, 0) if shift < -31 else (q_fixed, shift)


@KERNEL_SETTINGS
@given(real=reals)
def test_quantize_multiplier_matches_an_independent_oracle(real: float) -> None:
    assert quantize_multiplier(real) == _frexp_oracle(real)
    m, s = quantize_multiplier(real)
    if m:
        assert 2**30 <= m <= 2**31 - 1
        assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=2**-30)
