"""SOFTMAX int8 -> int8 (output scale 1/256, zero point -128): TFLM ``reference_ops::Softmax``
with gemmlowp fixed point (Q5.26 scaled differences, Q12.19 sum of exponentials).

Per row (last axis)::

    d = x - max(x)                                     (int32, <= 0)
    if d >= diff_min:
        e = exp_on_negative_values(Q5.26 raw = MBQMGreaterThanOne(d, input_multiplier, input_left_shift))
        sum += RoundingDivideByPOT(e, 12)               (Q0.31 -> Q12.19)
    r, k = GetReciprocal(sum, 12)                        (1/sum as Q0.31 and its exponent)
    y = clamp(RoundingDivideByPOT(SRDHM(r, e), k + 31 - 8) - 128, -128, 127)  or -128 if d < diff_min

Every helper is a numpy transcription of gemmlowp's scalar code (fixedpoint.h).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import SoftmaxParams
from kilotrain.reference.quant import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier_greater_than_one,
    rounding_divide_by_pot,
)
from kilotrain.reference.quant import saturating_rounding_doubling_high_mul as _srdhm

I64 = npt.NDArray[np.int64]


def _wrap(x: np.ndarray) -> I64:
    return np.asarray(x, dtype=np.int64).astype(np.int32).astype(np.int64)


def saturating_rounding_multiply_by_pot(x: I64, exponent: int) -> I64:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<exponent>`` on int32 raws."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    y = _wrap(x << exponent)
    y = np.where(x > threshold, INT32_MAX, y)
    return np.where(x < -threshold, INT32_MIN, y).astype(np.int64)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: I64) -> I64:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term = 1895147668
    constant_1_over_3 = 715827883
    x = _wrap(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    t = _wrap(_srdhm(_wrap(x4_over_4 + x3), constant_1_over_3) + x2)
    x4_over_24_plus = saturating_rounding_multiply_by_pot(t, -1)
    return _wrap(constant_term + _srdhm(constant_term, _wrap(x + x4_over_24_plus)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: I64, integer_bits: int = 5) -> I64:
    """gemmlowp ``exp_on_negative_values`` for a Q(integer_bits).(31-integer_bits) raw a <= 0; Q0.31 out."""
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    mask = one_quarter - 1
    a_mod = _wrap((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod, integer_bits)
    )
    remainder = _wrap(a_mod - a)
    for exponent, mult in _BARREL:
        if integer_bits > exponent:
            bit = 1 << (frac + exponent)
            result = np.where((remainder & bit) != 0, _srdhm(result, mult), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result).astype(np.int64)


def one_over_one_plus_x_for_x_in_0_1(a: I64) -> I64:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1``: Q0.31 in, Q0.31 out (Newton-Raphson, 3 steps)."""
    s = a + INT32_MAX  # RoundingHalfSum(a, One): (sum + sign) / 2, truncating
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2)).astype(np.int64)
    x = _wrap(1515870810 + _srdhm(half_den, -1010580540))  # F2
    one_f2 = 1 << 29
    for _ in range(3):
        hdx = _srdhm(half_den, x)
        one_minus = _wrap(one_f2 - hdx)
        x = _wrap(x + saturating_rounding_multiply_by_pot(_srdhm(x, one_minus), 2))
    return saturating_rounding_multiply_by_pot(x, 1)


def get_reciprocal(x: I64, x_integer_digits: int) -> tuple[I64, I64]:
    """TFLM ``GetReciprocal``: (1/x as Q0.31 raw, num_bits_over_unit) for x > 0."""
    x = np.asarray(x, dtype=np.int64)
    bitlen = np.frexp(x.astype(np.float64))[1].astype(np.int64)  # exact for x < 2**53
    headroom_plus_one = 32 - bitlen  # CountLeadingZeros(uint32 x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted), num_bits_over_unit


def softmax(x: npt.NDArray[np.int8], p: SoftmaxParams) -> npt.NDArray[np.int8]:
    """Softmax over the last axis of an int8 tensor -> int8 (scale 1/256, zero point -128)."""
    x = np.asarray(x)
    xi = x.astype(np.int64)
    diff = xi - xi.max(axis=-1, keepdims=True)
    valid = diff >= p.diff_min
    rescaled = multiply_by_quantized_multiplier_greater_than_one(diff, p.input_multiplier, p.input_left_shift)
    e = exp_on_negative_values(rescaled, 5)
    e = np.where(valid, e, 0)
    sum_of_exps = _wrap(rounding_divide_by_pot(e, 12).sum(axis=-1, keepdims=True))
    shifted_scale, nbits = get_reciprocal(sum_of_exps, 12)
    exponent = nbits + 31 - 8
    if np.any((exponent < 0) | (exponent > 31)):
        raise ValueError("softmax: reciprocal exponent out of [0, 31] (TFLM would fail too)")
    unsat = rounding_divide_by_pot(_srdhm(shifted_scale, e), exponent)
    y = np.clip(unsat - 128, -128, 127)
    return np.where(valid, y, -128).astype(np.int8)
