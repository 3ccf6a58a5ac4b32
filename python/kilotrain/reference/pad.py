"""PAD / PADV2 int8: copy the input into the middle, fill the rest with ``pad_value``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import PadParams


def pad(x: npt.NDArray[np.int8], p: PadParams) -> npt.NDArray[np.int8]:
    """x int8 of rank len(p.paddings) -> padded int8."""
    x = np.asarray(x)
    if x.ndim != len(p.paddings):
        raise ValueError(f"pad: rank {x.ndim} != {len(p.paddings)} paddings")
    return np.pad(x, p.paddings, mode="constant", constant_values=np.int8(p.pad_value))
