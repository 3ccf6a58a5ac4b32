"""Parameter records of the int8 kernels: the contract shared by the numpy golden ops
(``kilotrain.reference``), the C kernels (``include/kt_kernels.h``) and their ctypes wrappers
(``kilotrain.kernels.forward``).

Everything here is integer and already derived from the float scales at compile (import) time,
the way TFLite Micro's ``Prepare`` step derives it. Conventions follow TFLM's reference kernels:

* activations are NHWC int8; ``*_offset`` fields hold the value *added* to a quantized input
  (``input_offset = -input_zero_point``) or to the accumulator on output
  (``output_offset = +output_zero_point``);
* a real multiplier ``m`` is ``multiplier * 2**(shift - 31)`` with ``multiplier`` in
  ``[2**30, 2**31 - 1]`` (or 0) and ``shift`` in ``[-31, 30]`` (positive = left);
* ``act_min``/``act_max`` are the int8 clamp bounds (fused ReLU/ReLU6 narrow them);
* padding fields give the *top/left* padding; the output shape is passed separately, so SAME
  padding with an odd total (more at the bottom/right) needs no extra field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]


@dataclass(frozen=True)
class ConvParams:
    """CONV_2D: x (N,H,W,Cin) int8, filter (Cout,KH,KW,Cin) int8, bias (Cout,) int32 or None."""

    stride: tuple[int, int]  # (stride_h, stride_w) >= 1
    padding: tuple[int, int]  # (pad_top, pad_left) >= 0
    dilation: tuple[int, int]  # (dilation_h, dilation_w) >= 1
    input_offset: int  # -input_zero_point, [-127, 128]
    output_offset: int  # output_zero_point, [-128, 127]
    multiplier: I32  # (Cout,) per-channel Q31
    shift: I32  # (Cout,)
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class DepthwiseConvParams:
    """DEPTHWISE_CONV_2D: x (N,H,W,Cin), filter (1,KH,KW,Cin*depth_multiplier), bias (Cout,)."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    depth_multiplier: int  # >= 1; Cout = Cin * depth_multiplier
    input_offset: int
    output_offset: int
    multiplier: I32  # (Cout,)
    shift: I32  # (Cout,)
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class FullyConnectedParams:
    """FULLY_CONNECTED: x (N, Cin) int8, weights (Cout, Cin) int8, bias (Cout,) int32 or None.

    ``multiplier``/``shift`` have length 1 (per-tensor weights) or Cout (per-channel weights).
    """

    input_offset: int
    output_offset: int
    multiplier: I32
    shift: I32
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class AddParams:
    """ADD (int8, same shape or broadcast): TFLM's reference ``AddElementwise`` arithmetic."""

    input1_offset: int  # -zp1
    input2_offset: int  # -zp2
    output_offset: int  # +zp_out
    left_shift: int  # 20 for int8
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class AvgPoolParams:
    """AVERAGE_POOL_2D (int8, input and output share scale and zero point)."""

    filter: tuple[int, int]  # (filter_h, filter_w)
    stride: tuple[int, int]
    padding: tuple[int, int]  # (pad_top, pad_left)
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class MeanParams:
    """MEAN over H and W of an NHWC int8 tensor (keep_dims either way), TFLM's int8 rules:
    always requantized with ``multiplier``/``shift`` (s_in / s_out, 1/(H*W) folded in by the
    kernel), even when input and output quantization are equal."""

    input_offset: int  # -zp_in
    output_offset: int  # +zp_out
    multiplier: int
    shift: int


@dataclass(frozen=True)
class PadParams:
    """PAD / PADV2: ``paddings`` is ((before, after),) * rank; the pad value is an int8."""

    paddings: tuple[tuple[int, int], ...]
    pad_value: int  # the output zero point for PAD


@dataclass(frozen=True)
class TransposeParams:
    """TRANSPOSE: output axis i is input axis ``perm[i]``."""

    perm: tuple[int, ...]


@dataclass(frozen=True)
class SoftmaxParams:
    """SOFTMAX int8 -> int8 (output scale 1/256, zero point -128), TFLM's fixed-point algorithm."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class ReshapeParams:
    """RESHAPE: a pure view change (bytes unchanged)."""

    shape: tuple[int, ...] = field(default_factory=tuple)
