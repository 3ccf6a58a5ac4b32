"""DEPTHWISE_CONV_2D int8, per-channel: TFLM ``reference_integer_ops::DepthwiseConvPerChannel``.

Output channel ``co = ci * depth_multiplier + m`` sees only input channel ``ci``::

    acc = sum_{kh,kw} filt[0,kh,kw,co] * (x[n, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, ci] + input_offset)
    acc += bias[co]
    y = clamp(MultiplyByQuantizedMultiplier(acc, multiplier[co], shift[co]) + output_offset,
              act_min, act_max)

Out-of-input taps contribute nothing. int64 accumulation (exact).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.geometry import padded_taps
from kilotrain.model.params import DepthwiseConvParams
from kilotrain.reference.quant import requantize


def depthwise_conv2d(
    x: npt.NDArray[np.int8],
    filt: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32] | None,
    p: DepthwiseConvParams,
    out_hw: tuple[int, int],
) -> npt.NDArray[np.int8]:
    """x (N,H,W,Cin) int8, filt (1,KH,KW,Cin*dm) int8, bias (Cout,) int32 or None -> (N,OH,OW,Cout)."""
    x = np.asarray(x)
    filt = np.asarray(filt)
    n, _, _, cin = x.shape
    _, kh, kw, cout = filt.shape
    dm = p.depth_multiplier
    if cin * dm != cout:
        raise ValueError(f"depthwise_conv2d: Cin {cin} * depth_multiplier {dm} != Cout {cout}")
    x_off = x.astype(np.int64) + p.input_offset
    if dm > 1:
        x_off = np.repeat(x_off, dm, axis=-1)
    f = filt[0].astype(np.int64)
    acc = np.zeros((n, out_hw[0], out_hw[1], cout), dtype=np.int64)
    for i, j, v in padded_taps(x_off, (kh, kw), p.stride, p.padding, p.dilation, tuple(out_hw)):
        acc += v * f[i, j]
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return requantize(acc, p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)
