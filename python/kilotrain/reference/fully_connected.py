"""FULLY_CONNECTED int8: TFLM ``reference_integer_ops::FullyConnected`` (per-tensor) and
``FullyConnectedPerChannel`` (per-channel weights)::

    acc = sum_ci w[co,ci] * (x[n,ci] + input_offset) + bias[co]
    y = clamp(MultiplyByQuantizedMultiplier(acc, multiplier[co or 0], shift[co or 0]) + output_offset,
              act_min, act_max)

Exact float64 matrix product (integer partial sums < 2**53).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import FullyConnectedParams
from kilotrain.reference.quant import requantize


def fully_connected(
    x: npt.NDArray[np.int8],
    w: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32] | None,
    p: FullyConnectedParams,
) -> npt.NDArray[np.int8]:
    """x (N,Cin) int8, w (Cout,Cin) int8, bias (Cout,) int32 or None -> (N,Cout) int8."""
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fully_connected: x {x.shape} and w {w.shape} do not match")
    a = (x.astype(np.int64) + p.input_offset).astype(np.float64)
    acc = (a @ w.astype(np.float64).T).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return requantize(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)
