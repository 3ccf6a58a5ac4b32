"""Convolution and pooling geometry shared by the importer, the zoo and the golden ops: TFLite's
output-size and padding rules, and the tap views of a padded input (pure numpy, no arithmetic
contract of its own)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def compute_out_size(padding: str, image: int, filt: int, stride: int, dilation: int) -> int:
    """TFLite ``ComputeOutSize``."""
    eff = (filt - 1) * dilation + 1
    if padding == "SAME":
        return (image + stride - 1) // stride
    return (image + stride - eff) // stride


def compute_padding(stride: int, dilation: int, in_size: int, filt: int, out_size: int) -> int:
    """TFLite ``ComputePaddingWithOffset``: the top/left padding (the odd extra goes bottom/right)."""
    eff = (filt - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2


def padded_taps(
    x_off: npt.NDArray[Any],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    out_hw: tuple[int, ...],
) -> Iterator[tuple[int, int, npt.NDArray[Any]]]:
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
    x_off: npt.NDArray[Any],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    out_hw: tuple[int, ...],
) -> npt.NDArray[Any]:
    """Patches (N, OH, OW, KH, KW, C) of an offset-corrected NHWC tensor, zero outside the input."""
    n, c = x_off.shape[0], x_off.shape[3]
    oh, ow = out_hw
    out = np.empty((n, oh, ow, kernel[0], kernel[1], c), dtype=x_off.dtype)
    for i, j, v in padded_taps(x_off, kernel, stride, padding, dilation, out_hw):
        out[:, :, :, i, j, :] = v
    return out


def pair(v: Sequence[int]) -> tuple[int, int]:
    """A (height, width) pair of Python ints from any 2-sequence."""
    return int(v[0]), int(v[1])
