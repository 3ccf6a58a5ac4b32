"""ReLU masks (docs/numerics.md, "ReLU masks"): one bit per output element of a forward op with
a fused RELU / RELU6, packed LSB first in element (NHWC, C) order; the bits of the last byte past
the end are 0.

    bit = act_min < y                 (RELU)
    bit = act_min < y < act_max       (RELU6)

Backward multiplies the incoming gradient by the bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference.grad_params import ReluMaskParams


def mask_bytes(count: int) -> int:
    """Bytes of the packed mask of ``count`` elements: ceil(count / 8)."""
    return (int(count) + 7) // 8


def relu_mask_pack(y: npt.NDArray[np.int8], p: ReluMaskParams) -> npt.NDArray[np.uint8]:
    """y: the int8 forward output (any shape) -> packed bits, uint8 (ceil(y.size / 8),)."""
    if not -128 <= p.act_min <= p.act_max <= 127:
        raise ValueError(f"relu_mask_pack: act_min {p.act_min} / act_max {p.act_max}")
    v = np.asarray(y).astype(np.int16).ravel()
    bits = v > p.act_min
    if p.relu6:
        bits &= v < p.act_max
    return np.packbits(bits, bitorder="little")


def relu_mask_apply(g: npt.NDArray[np.int8], mask: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
    """g: int8 gradient (any shape), mask: packed bits (>= ceil(g.size / 8) bytes) -> g * bit
    (int8, same shape; the exponent is unchanged and nothing can saturate)."""
    g = np.asarray(g)
    m = np.asarray(mask, dtype=np.uint8).ravel()
    if m.size < mask_bytes(g.size):
        raise ValueError(f"relu_mask_apply: {m.size} mask bytes for {g.size} elements")
    bits = np.unpackbits(m, count=g.size, bitorder="little").reshape(g.shape)
    return (g.astype(np.int8) * bits.astype(np.int8)).astype(np.int8)
