"""MEAN over H and W of an NHWC int8 tensor, as TFLM's ``EvalIntegerMean`` (reduce_common.cc).

TFLM (the ``tflite-micro`` build this project tests against) always uses
``reference_ops::QuantizedMeanOrSum``, whether or not input and output quantization are equal;
the multiplier of ``s_in / s_out`` absorbs 1/count::

    count = H * W
    s = min(floor(log2(count)), 32, 31 + shift)
    m' = (multiplier << s) / count        (int64, truncating);   shift' = shift - s
    y = clamp(MultiplyByQuantizedMultiplier(sum(x) + input_offset * count, m', shift')
              + output_offset, -128, 127)

(Older TFLM releases had a shortcut for equal quantization, ``(int8)(sum / count)`` truncating;
the oracle shows it is gone: tests/python/reference/test_models.py checks MobileNetV2's MEAN, whose
input and output quantization are equal, byte for byte.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import MeanParams
from kilotrain.reference.quant import multiply_by_quantized_multiplier


def mean_multiplier(p: MeanParams, count: int) -> tuple[int, int]:
    """The (multiplier, shift) TFLM actually applies to the zero-point-corrected sum of ``count`` values."""
    s = min(count.bit_length() - 1, 32, 31 + p.shift)
    return (p.multiplier << s) // count, p.shift - s


def mean(x: npt.NDArray[np.int8], p: MeanParams) -> npt.NDArray[np.int8]:
    """x (N,H,W,C) int8 -> (N,1,1,C) int8, the mean over H and W."""
    x = np.asarray(x)
    _, h, w, _ = x.shape
    count = h * w
    total = x.astype(np.int64).sum(axis=(1, 2), keepdims=True)
    mult, shift = mean_multiplier(p, count)
    shifted = total + p.input_offset * count  # sum - zp_in * count
    y = multiply_by_quantized_multiplier(shifted, mult, shift).astype(np.int64) + p.output_offset
    return np.clip(y, -128, 127).astype(np.int8)
