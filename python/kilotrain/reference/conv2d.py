"""CONV_2D int8, per-channel: TFLM ``reference_integer_ops::ConvPerChannel``.

For every output pixel and channel::

    acc = sum_{kh,kw,ci} filt[co,kh,kw,ci] * (x[n, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, ci] + input_offset)
    acc += bias[co]
    y = clamp(MultiplyByQuantizedMultiplier(acc, multiplier[co], shift[co]) + output_offset,
              act_min, act_max)

Taps outside the input contribute nothing (TFLM skips them), which is the same as padding the
input with its zero point. The dot product is computed as a float64 matrix product: every
partial sum is an integer below 2**53, so it is exact in any summation order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.geometry import im2col
from kilotrain.model.params import ConvParams
from kilotrain.reference.quant import requantize


def conv2d(
    x: npt.NDArray[np.int8],
    filt: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32] | None,
    p: ConvParams,
    out_hw: tuple[int, int],
) -> npt.NDArray[np.int8]:
    """x (N,H,W,Cin) int8, filt (Cout,KH,KW,Cin) int8, bias (Cout,) int32 or None -> (N,OH,OW,Cout) int8."""
    x = np.asarray(x)
    filt = np.asarray(filt)
    n, _, _, cin = x.shape
    cout, kh, kw, fcin = filt.shape
    if fcin != cin:
        raise ValueError(f"conv2d: filter Cin {fcin} != input Cin {cin}")
    x_off = x.astype(np.int64) + p.input_offset
    cols = im2col(x_off, (kh, kw), p.stride, p.padding, p.dilation, tuple(out_hw))
    oh, ow = out_hw
    a = cols.reshape(n * oh * ow, kh * kw * cin).astype(np.float64)
    b = filt.reshape(cout, kh * kw * cin).astype(np.float64)
    acc = (a @ b.T).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    y = requantize(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)
    return y.reshape(n, oh, ow, cout)
