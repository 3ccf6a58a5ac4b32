"""ADD int8: TFLM ``reference_integer_ops::Add`` / ``BroadcastAdd6DSlow`` (``AddElementwise``)::

    a' = (a + input1_offset) << left_shift          # left_shift = 20 for int8
    b' = (b + input2_offset) << left_shift
    a'' = MultiplyByQuantizedMultiplierSmallerThanOneExp(a', input1_multiplier, input1_shift)
    b'' = MultiplyByQuantizedMultiplierSmallerThanOneExp(b', input2_multiplier, input2_shift)
    y = clamp(MBQMSmallerThanOneExp(a'' + b'', output_multiplier, output_shift) + output_offset,
              act_min, act_max)

With TFLM's default double rounding, ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` is
``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, m), -shift)``, which equals
``MultiplyByQuantizedMultiplier`` for shift <= 0. Shapes broadcast numpy-style.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import AddParams
from kilotrain.reference.quant import multiply_by_quantized_multiplier


def add(a: npt.NDArray[np.int8], b: npt.NDArray[np.int8], p: AddParams) -> npt.NDArray[np.int8]:
    """Elementwise int8 ADD of a and b (same shape or broadcastable) -> int8."""
    a64 = np.asarray(a).astype(np.int64)
    b64 = np.asarray(b).astype(np.int64)
    sa = (a64 + p.input1_offset) * (1 << p.left_shift)
    sb = (b64 + p.input2_offset) * (1 << p.left_shift)
    ra = multiply_by_quantized_multiplier(sa, p.input1_multiplier, p.input1_shift).astype(np.int64)
    rb = multiply_by_quantized_multiplier(sb, p.input2_multiplier, p.input2_shift).astype(np.int64)
    raw = multiply_by_quantized_multiplier(ra + rb, p.output_multiplier, p.output_shift)
    y = raw.astype(np.int64) + p.output_offset
    return np.clip(y, p.act_min, p.act_max).astype(np.int8)
