"""Compile-time quantisation (floats allowed here, never at run time): float scales become the
integer multipliers, shifts and clamps of the op parameter records, exactly as TFLite Micro's
``Prepare`` computes them. The importer (:mod:`kilotrain.model.tflite`), the zoo and the graph
edits all derive parameters through these functions, so a Python-built model gets exactly the
importer's numbers."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import AddParams, MeanParams, SoftmaxParams

ArrayLike = npt.ArrayLike


def _round_half_away(x: float) -> int:
    """C's ``std::round`` for a double: halves away from zero (exact, no float re-rounding)."""
    fl = math.floor(abs(x))
    r = fl + (1 if abs(x) - fl >= 0.5 else 0)
    return int(r if x >= 0 else -r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM's ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    frexp-based; the Q31 significand is rounded half away from zero; a significand that rounds
    up to 2**31 is halved (shift + 1); a shift below -31 gives (0, 0). Returns (multiplier, shift).
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * float(1 << 31))
    if abs(q_fixed) == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """TFLM's ``QuantizeMultiplierSmallerThanOneExp``: 0 < real < 1, shift <= 0."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} not in (0, 1)")
    m, s = quantize_multiplier(real)
    if s > 0:
        raise ValueError(f"multiplier {real} gives positive shift {s}")
    return m, s


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLM's ``QuantizeMultiplierGreaterThanOne``: real > 1, shift >= 0."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} not > 1")
    m, s = quantize_multiplier(real)
    if s < 0:
        raise ValueError(f"multiplier {real} gives negative shift {s}")
    return m, s


def quantize_multipliers(reals: ArrayLike) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """:func:`quantize_multiplier` over an array of reals (per-channel); int32 arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(np.asarray(reals, dtype=np.float64))]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def quantize_activation_bound(f: float, scale: float, zero_point: int) -> int:
    """TFLM's ``Quantize`` helper of ``CalculateActivationRangeQuantized``:
    ``zp + (int)roundf(f / scale)`` with the division in float32."""
    q = np.float32(f) / np.float32(scale)
    return int(zero_point) + _round_half_away(float(q))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLM's ``CalculateActivationRangeQuantized`` for an int8 output."""
    qmin, qmax = -128, 127
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_activation_bound(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return (
            max(qmin, quantize_activation_bound(0.0, scale, zero_point)),
            min(qmax, quantize_activation_bound(6.0, scale, zero_point)),
        )
    if activation == "RELU_N1_TO_1":
        return (
            max(qmin, quantize_activation_bound(-1.0, scale, zero_point)),
            min(qmax, quantize_activation_bound(1.0, scale, zero_point)),
        )
    raise ValueError(f"unsupported fused activation {activation!r}")


def conv_multipliers(s_in: float, w_scales: np.ndarray, s_out: float, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``PopulateConvolutionQuantizationParams``: per channel (double)s_in * (double)s_w / (double)s_out,
    a single weight scale broadcast to all channels."""
    w_s = np.broadcast_to(np.asarray(w_scales, dtype=np.float32).astype(np.float64).reshape(-1), (channels,))
    return quantize_multipliers([float(s_in) * float(sw) / float(s_out) for sw in w_s])


def fc_multipliers(s_in: float, w_scales: np.ndarray, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    """FULLY_CONNECTED: per-tensor weights use ``GetQuantizedConvolutionMultipler``
    ((double)(float s_in * float s_w) / (double)s_out, one multiplier); per-channel weights use
    the conv formula."""
    ws = np.asarray(w_scales, dtype=np.float32).reshape(-1)
    if ws.size == 1:
        prod = float(np.float32(s_in) * ws[0])
        m, s = quantize_multiplier(prod / float(np.float32(s_out)))
        return np.array([m], np.int32), np.array([s], np.int32)
    return conv_multipliers(s_in, ws, s_out, ws.size)


def add_params(s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int, act: str) -> AddParams:
    """``CalculateOpDataAdd`` (int8: left_shift 20)."""
    left_shift = 20
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(float(np.float32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(float(np.float32(s2)) / twice_max)
    mo, so = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << left_shift) * float(np.float32(s_out))))
    act_min, act_max = activation_range(act, s_out, zp_out)
    return AddParams(
        input1_offset=-int(zp1),
        input2_offset=-int(zp2),
        output_offset=int(zp_out),
        left_shift=left_shift,
        input1_multiplier=m1,
        input1_shift=sh1,
        input2_multiplier=m2,
        input2_shift=sh2,
        output_multiplier=mo,
        output_shift=so,
        act_min=act_min,
        act_max=act_max,
    )


def mean_params(s_in: float, zp_in: int, s_out: float, zp_out: int) -> MeanParams:
    """MEAN Prepare: QuantizeMultiplier((double)s_in / (double)s_out)."""
    m, s = quantize_multiplier(float(np.float32(s_in)) / float(np.float32(s_out)))
    return MeanParams(input_offset=-int(zp_in), output_offset=int(zp_out), multiplier=m, shift=s)


def softmax_params(s_in: float, beta: float = 1.0) -> SoftmaxParams:
    """``CalculateSoftmaxParams`` for int8 (double rounding build): PreprocessSoftmaxScaling with
    5 integer bits, then diff_min = -CalculateInputRadius(5, left_shift)."""
    real = min(float(np.float32(beta)) * float(np.float32(s_in)) * float(1 << (31 - 5)), float((1 << 31) - 1))
    mult, left = quantize_multiplier_greater_than_one(real)
    radius = int(np.floor(1.0 * ((1 << 5) - 1) * float(1 << (31 - 5)) / float(1 << left)))
    return SoftmaxParams(input_multiplier=mult, input_left_shift=left, diff_min=-radius)
