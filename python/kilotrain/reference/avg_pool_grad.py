"""AVERAGE_POOL_2D / MEAN input gradient (windows of equal size n, no padding)::

    acc[n,ih,iw,c] = sum of gy[n,oh,ow,c] over the windows (oh,ow) containing (ih,iw)
    gx = to_grad8(scale_round(acc, count_multiplier, count_shift + e_gy - e_gx))

with (count_multiplier, count_shift) = QuantizeMultiplier(1 / (filter_h * filter_w)). Window
(oh, ow) covers rows oh*sh .. oh*sh + fh - 1 (and likewise columns); inputs no window covers
get 0. MEAN over (H, W) is the single window filter = (H, W) with a 1x1 gradient.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import check_exponents
from kilotrain.reference.grad_params import PoolGradParams, check_shifts
from kilotrain.reference.grad_quant import GradStats, scale_round, to_grad8


def avg_pool_grad(
    gy: npt.NDArray[np.int8],
    p: PoolGradParams,
    in_hw: tuple[int, int],
    e_gy: int,
    e_gx: int,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,OH,OW,C) int8 (exponent e_gy), in_hw = (H, W) -> (gx (N,H,W,C) int8 with exponent
    e_gx, GradStats). ValueError if a window leaves the input ((OH-1)*sh + fh > H)."""
    gy = np.asarray(gy)
    n, oh, ow, c = gy.shape
    (fh, fw), (sh, sw) = p.filter, p.stride
    h, w = int(in_hw[0]), int(in_hw[1])
    if min(fh, fw, sh, sw) < 1 or (oh - 1) * sh + fh > h or (ow - 1) * sw + fw > w:
        raise ValueError(
            f"avg_pool_grad: filter {p.filter}, stride {p.stride}, gradient "
            f"{oh}x{ow} do not fit the {h}x{w} input without padding"
        )
    check_exponents("avg_pool_grad", e_gy=e_gy, e_gx=e_gx)
    check_shifts("avg_pool_grad: count_shift", [p.count_shift])
    acc = np.zeros((n, h, w, c), dtype=np.int64)
    g = gy.astype(np.int64)
    for i in range(fh):
        for j in range(fw):
            acc[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw, :] += g
    return to_grad8(scale_round(acc, p.count_multiplier, p.count_shift + e_gy - e_gx))
