"""TRANSPOSE: output axis i is input axis ``perm[i]`` (bytes permuted, values unchanged)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import TransposeParams


def transpose(x: npt.NDArray[np.int8], p: TransposeParams) -> npt.NDArray[np.int8]:
    """Permute the axes of x by p.perm; returns a contiguous copy."""
    return np.ascontiguousarray(np.transpose(np.asarray(x), p.perm))
