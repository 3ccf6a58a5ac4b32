"""Fixed-point requantization exactly as TFLite Micro's reference kernels do it.

TFLM is built without ``TFLITE_SINGLE_ROUNDING`` by default, so
``MultiplyByQuantizedMultiplier`` is the *double rounding* gemmlowp form::

    RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**left, m), right)

(``left = max(shift, 0)``, ``right = max(-shift, 0)``). This was checked bit-for-bit against the
``tflite-micro`` interpreter (tests/python/reference/test_quant.py). The single-rounding variant is
kept as :func:`multiply_by_quantized_multiplier_single` for reference only.

All functions take and return numpy integer arrays; values are int32 in meaning (computed in
int64, wrapped to int32 where C would wrap).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

ArrayLike = npt.ArrayLike
I64 = npt.NDArray[np.int64]


def _wrap32(x: np.ndarray) -> I64:
    """Two's-complement wrap of int64 values to the int32 range (what C's int32 arithmetic does)."""
    return np.asarray(x, dtype=np.int64).astype(np.int32).astype(np.int64)


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> I64:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` (ARM VQRDMULH): round(a*b / 2**31).

    The nudge is +2**30 for a non-negative product and 1 - 2**30 for a negative one, followed by a
    division truncating toward zero; INT32_MIN * INT32_MIN saturates to INT32_MAX.
    """
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    ab = a64 * b64
    nudged = ab + np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    # C division by 2**31 truncates toward zero.
    q = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))
    overflow = (a64 == b64) & (a64 == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), q).astype(np.int64)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> I64:
    """gemmlowp ``RoundingDivideByPOT``: x / 2**exponent rounded to nearest, ties away from zero.

    ``exponent`` in [0, 31], scalar or broadcasting array.
    """
    x64 = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0).astype(np.int64)
    return (x64 >> e) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(acc: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> npt.NDArray[np.int32]:
    """TFLM's ``MultiplyByQuantizedMultiplier(int32 x, int32 m, int shift)`` (double rounding).

    ``acc`` is an int32-valued accumulator (int64 input is wrapped to int32 as C would);
    ``multiplier``/``shift`` are scalars or arrays broadcasting over the last axis of ``acc``.
    Returns int32.
    """
    x = _wrap32(np.asarray(acc))
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    shifted = _wrap32(x * (np.int64(1) << left))  # C: x * (1 << left_shift), int32
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m), right).astype(np.int32)


def multiply_by_quantized_multiplier_single(
    acc: ArrayLike, multiplier: ArrayLike, shift: ArrayLike
) -> npt.NDArray[np.int32]:
    """The ``TFLITE_SINGLE_ROUNDING`` variant: (x*m + 2**(30-shift)) >> (31-shift). Not TFLM's default."""
    x = np.asarray(acc, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    r = (x * m + (np.int64(1) << (total - 1))) >> total
    return r.astype(np.int32)


def multiply_by_quantized_multiplier_greater_than_one(x: ArrayLike, multiplier: int, left_shift: int) -> I64:
    """TFLM's ``MultiplyByQuantizedMultiplierGreaterThanOne`` (double rounding): srdhm(x << s, m)."""
    x64 = _wrap32(np.asarray(x, dtype=np.int64) * (np.int64(1) << np.int64(left_shift)))
    return saturating_rounding_doubling_high_mul(x64, multiplier)


def requantize(
    acc: ArrayLike,
    multiplier: ArrayLike,
    shift: ArrayLike,
    output_offset: int,
    act_min: int,
    act_max: int,
) -> npt.NDArray[np.int8]:
    """The common tail of conv/FC: MBQM(acc) + output_offset, clamped to [act_min, act_max], int8."""
    y = multiply_by_quantized_multiplier(acc, multiplier, shift).astype(np.int64) + output_offset
    return np.clip(y, act_min, act_max).astype(np.int8)
