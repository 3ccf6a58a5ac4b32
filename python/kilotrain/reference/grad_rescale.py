"""Rescale an int8 gradient to another exponent (the ADD input path; RESHAPE keeps bytes and
exponent and needs no op)::

    gx = to_grad8(shift_round(g, e_out - e_in))      so gx * 2**e_out ~= g * 2**e_in
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import check_exponents
from kilotrain.reference.grad_quant import GradStats, shift_round, to_grad8


def grad_rescale(g: npt.NDArray[np.int8], e_in: int, e_out: int) -> tuple[npt.NDArray[np.int8], GradStats]:
    """g int8 (any shape, exponent e_in) -> (int8 same shape with exponent e_out, GradStats)."""
    check_exponents("grad_rescale", e_in=e_in, e_out=e_out)
    return to_grad8(shift_round(np.asarray(g), int(e_out) - int(e_in)))
