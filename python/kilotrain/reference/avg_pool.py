"""AVERAGE_POOL_2D int8: TFLM ``reference_integer_ops::AveragePool``.

For each output pixel the window is clipped to the input (padding is *not* counted)::

    sum = sum of the valid int8 inputs;  count = number of valid taps
    avg = (sum + count/2) / count   if sum > 0  else  (sum - count/2) / count   (C division, toward 0)
    y = clamp(avg, act_min, act_max)

Input and output share scale and zero point, so no offsets are applied.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.geometry import padded_taps
from kilotrain.model.params import AvgPoolParams


def _valid_counts(size: int, out: int, k: int, stride: int, pad: int) -> npt.NDArray[np.int64]:
    """Per output position: number of window taps inside [0, size)."""
    origin = np.arange(out, dtype=np.int64) * stride - pad
    start = np.maximum(0, -origin)
    end = np.minimum(k, size - origin)
    return np.maximum(end - start, 0)


def avg_pool(x: npt.NDArray[np.int8], p: AvgPoolParams, out_hw: tuple[int, int]) -> npt.NDArray[np.int8]:
    """x (N,H,W,C) int8 -> (N,OH,OW,C) int8."""
    x = np.asarray(x)
    n, h, w, c = x.shape
    oh, ow = out_hw
    acc = np.zeros((n, oh, ow, c), dtype=np.int64)
    for _, _, v in padded_taps(x.astype(np.int64), p.filter, p.stride, p.padding, (1, 1), (oh, ow)):
        acc += v
    count = (
        _valid_counts(h, oh, p.filter[0], p.stride[0], p.padding[0])[:, None]
        * _valid_counts(w, ow, p.filter[1], p.stride[1], p.padding[1])[None, :]
    )[None, :, :, None]
    if np.any(count == 0):
        raise ValueError("avg_pool: a window has no valid input (TFLM fails the same way)")
    half = count // 2
    num = np.where(acc > 0, acc + half, acc - half)
    avg = np.sign(num) * (np.abs(num) // count)  # C integer division truncates toward zero
    return np.clip(avg, p.act_min, p.act_max).astype(np.int8)
