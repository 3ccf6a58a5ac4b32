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

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import ConvParams
from kilotrain.reference.quant import requantize


def padded_taps(
    x_off: npt.NDArray[np.int64],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> Iterator[tuple[int, int, npt.NDArray[np.int64]]]:
    """Yield (kh, kw, view (N,OH,OW,C)) for each filter tap of an offset-corrected NHWC tensor,
    zero outside the input."""
    _, h, w, _ = x_off.shape
    kh, kw = kernel
    sh, sw = stride
    pt, pl = padding
    dh, dw = dilation
    oh, ow = out_hw
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    pb = max(0, need_h - pt - h)
    pr = max(0, need_w - pl - w)
    xp = np.pad(x_off, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            yield i, j, xp[:, r0 : r0 + (oh - 1) * sh + 1 : sh, c0 : c0 + (ow - 1) * sw + 1 : sw, :]


def im2col(
    x_off: npt.NDArray[np.int64],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> npt.NDArray[np.int64]:
    """Patches (N, OH, OW, KH, KW, C) of an offset-corrected NHWC tensor, zero outside the input."""
    n, c = x_off.shape[0], x_off.shape[3]
    oh, ow = out_hw
    out = np.empty((n, oh, ow, kernel[0], kernel[1], c), dtype=x_off.dtype)
    for i, j, v in padded_taps(x_off, kernel, stride, padding, dilation, out_hw):
        out[:, :, :, i, j, :] = v
    return out


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
