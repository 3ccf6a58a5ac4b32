"""TRANSPOSE backward: the inverse permutation (same exponent, no arithmetic)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import TransposeParams


def transpose_grad(g: npt.NDArray[np.int8], p: TransposeParams) -> npt.NDArray[np.int8]:
    """g: gradient of the transposed output (axis i = input axis perm[i]) -> input gradient."""
    return np.ascontiguousarray(np.transpose(np.asarray(g), np.argsort(p.perm)))
