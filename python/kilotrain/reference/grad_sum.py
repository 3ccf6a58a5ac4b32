"""Fan-out: the gradients of a tensor read by two ops are summed into the tensor's exponent e::

g = to_grad8(shift_round(g1, e - e1) + shift_round(g2, e - e2))   (the sum is exact)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import check_exponents
from kilotrain.reference.grad_quant import GradStats, shift_round, to_grad8


def grad_sum(
    g1: npt.NDArray[np.int8], e1: int, g2: npt.NDArray[np.int8], e2: int, e: int
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """g1, g2 int8 of the same shape with exponents e1, e2 -> (int8 sum with exponent e,
    GradStats)."""
    g1, g2 = np.asarray(g1), np.asarray(g2)
    if g1.shape != g2.shape:
        raise ValueError(f"grad_sum: shapes {g1.shape} != {g2.shape}")
    check_exponents("grad_sum", e1=e1, e2=e2, e=e)
    return to_grad8(shift_round(g1, int(e) - int(e1)) + shift_round(g2, int(e) - int(e2)))
