"""FULLY_CONNECTED fused QAS update::

    acc_w[co,ci] = sum_n gy[n,co] * (x[n,ci] - zx);   acc_b[co] = sum_n gy[n,co]

and the clamped / saturated update of w[co] (co < n_weight_channels) and bias (all co), as
:mod:`conv2d_update`. Geometry fields of the record are ignored.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import apply_update, check_exponents, check_update
from kilotrain.reference.grad_params import UpdateParams


def fully_connected_update(
    x: npt.NDArray[np.int8],
    gy: npt.NDArray[np.int8],
    w: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32] | None,
    p: UpdateParams,
    e_gy: int,
    key: int = 0,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """x (N,Cin) int8, gy (N,Cout) int8, w (Cout,Cin) int8, bias (Cout,) int32 or None ->
    (new w, new bias)."""
    x, gy, w = np.asarray(x), np.asarray(gy), np.asarray(w)
    if x.ndim != 2 or gy.ndim != 2 or w.ndim != 2 or x.shape[0] != gy.shape[0] or w.shape != (gy.shape[1], x.shape[1]):
        raise ValueError(f"fully_connected_update: x {x.shape}, gy {gy.shape}, w {w.shape}")
    cout = gy.shape[1]
    check_exponents("fully_connected_update", e_gy=e_gy)
    wm, ws, bm, bs = check_update("fully_connected_update", p, cout)
    nw = int(p.n_weight_channels)
    x_off = x.astype(np.float64) - p.input_zero_point
    acc_w = (gy[:, :nw].astype(np.float64).T @ x_off).astype(np.int64)
    acc_b = gy.astype(np.int64).sum(axis=0)
    return apply_update(w, acc_w, bias, acc_b, wm, ws, bm, bs, int(e_gy), bool(p.stochastic), int(key))
