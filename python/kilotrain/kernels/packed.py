"""Packed frozen CONV_2D filters (``kt_packed_filter`` in include/kt_kernels.h, run by
``kt_conv2d_packed_s8``): the layout the header documents, written from a layer's filter, bias and
requantization. The code generators pack a frozen layer when :func:`why_not_packed` finds nothing
against it; the kernel tests pack random layers and compare the kernel with the golden model."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.contract import PACKED_MAX_K
from kilotrain.model.params import ConvParams


def packed_k(filter_shape: tuple[int, ...]) -> int:
    """The packed window: KH * KW * Cin rounded up to a multiple of 8."""
    _, kh, kw, cin = filter_shape
    return (kh * kw * cin + 7) // 8 * 8


def record_words(k: int) -> int:
    """int32 words of one output channel's record (KT_PACKED_RECORD_WORDS)."""
    return k // 2 + 5


def packed_bytes(filter_shape: tuple[int, ...]) -> int:
    """Flash of a filter's packed table: Cout records of record_words(k) int32 words."""
    return record_words(packed_k(filter_shape)) * 4 * int(filter_shape[0])


def why_not_packed(filter_shape: tuple[int, ...], p: ConvParams) -> str | None:
    """None if the layer can be packed, else what stands against it (the layer then keeps
    kt_conv2d_s8)."""
    k = packed_k(filter_shape)
    if k > PACKED_MAX_K:
        return f"window of {k} bytes > {PACKED_MAX_K}"
    if (p.act_min, p.act_max) != (-128, 127):
        return f"clamp [{p.act_min}, {p.act_max}] is not the whole int8 range"
    mult, shift = np.asarray(p.multiplier), np.asarray(p.shift)
    if (mult < 0).any() or (shift > -2).any():
        return "a channel outside the output stage's short form (shift <= -2, multiplier >= 0)"
    return None


def pack_conv(filt: npt.ArrayLike, bias: npt.ArrayLike | None, p: ConvParams) -> tuple[npt.NDArray[np.int32], int]:
    """(records, k): the packed filter of a CONV_2D layer, records of shape (Cout,
    record_words(k)). Raises ValueError for a layer :func:`why_not_packed` refuses."""
    f = np.asarray(filt, np.int8)
    reason = why_not_packed(f.shape, p)
    if reason is not None:
        raise ValueError(f"cannot pack the filter: {reason}")
    cout = f.shape[0]
    k = packed_k(f.shape)
    win = np.zeros((cout, k), np.int64)
    win[:, : f[0].size] = f.reshape(cout, -1)
    b = win.reshape(cout, k // 4, 4) & 0xFFFF
    words = np.stack([b[..., 0] | (b[..., 2] << 16), b[..., 1] | (b[..., 3] << 16)], axis=-1).reshape(cout, k // 2)
    bias64 = np.zeros(cout, np.int64) if bias is None else np.asarray(bias, np.int64)
    start = bias64 + p.input_offset * f.reshape(cout, -1).astype(np.int64).sum(axis=1)
    right = -np.asarray(p.shift, np.int64)
    tail = np.stack(
        [
            start,
            np.asarray(p.multiplier, np.int64),
            np.left_shift(1, right - 2),
            right - 1,
            np.full(cout, p.output_offset, np.int64),
        ],
        axis=1,
    )
    records = np.concatenate([words, tail], axis=1)
    # int32 words: the filter lanes and the start value wrap like the kernel's sums
    return ((records + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32), k
