"""PAD / PADV2 backward: crop the gradient (same exponent, no arithmetic)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.params import PadParams


def pad_grad(g: npt.NDArray[np.int8], p: PadParams) -> npt.NDArray[np.int8]:
    """g: gradient of the padded output -> gradient of the input (p.paddings removed)."""
    g = np.asarray(g)
    if len(p.paddings) != g.ndim:
        raise ValueError(f"pad_grad: rank {g.ndim} with paddings {p.paddings}")
    sl = tuple(slice(int(b), n - int(a)) for (b, a), n in zip(p.paddings, g.shape))
    return np.ascontiguousarray(g[sl])
