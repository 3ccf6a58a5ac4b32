"""FULLY_CONNECTED input gradient: the conv formula with KH = KW = 1 on a 1x1 image::

h[n,co] = scale_round(gy[n,co], chan_multiplier[co], chan_shift[co] + H)
acc[n,ci] = sum_co w[co,ci] * h[n,co]
gx = to_grad8(scale_round(acc, x_multiplier, x_shift + e_gy - H - e_gx))
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import check_exponents, check_fold
from kilotrain.reference.grad_params import FullyConnectedGradParams
from kilotrain.reference.grad_quant import GradStats, _wrap32, scale_round, to_grad8


def fully_connected_input_grad(
    gy: npt.NDArray[np.int8],
    w: npt.NDArray[np.int8],
    p: FullyConnectedGradParams,
    e_gy: int,
    e_gx: int,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,Cout) int8, w (Cout,Cin) int8 -> (gx (N,Cin) int8 with exponent e_gx, GradStats)."""
    gy = np.asarray(gy)
    w = np.asarray(w)
    if gy.ndim != 2 or w.ndim != 2 or w.shape[0] != gy.shape[1]:
        raise ValueError(f"fully_connected_input_grad: gy {gy.shape}, w {w.shape}")
    cout = gy.shape[1]
    check_exponents("fully_connected_input_grad", e_gy=e_gy, e_gx=e_gx)
    cm, cs = check_fold("fully_connected_input_grad", p.chan_multiplier, p.chan_shift, p.headroom, p.x_shift, cout)
    hv = scale_round(gy, cm, cs + p.headroom).astype(np.float64)
    acc = _wrap32((hv @ w.astype(np.float64)).astype(np.int64))
    return to_grad8(scale_round(acc, p.x_multiplier, p.x_shift + e_gy - p.headroom - e_gx))
