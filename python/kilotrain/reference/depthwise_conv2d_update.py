"""DEPTHWISE_CONV_2D fused QAS update: as :mod:`conv2d_update`, output channel
co = ci * depth_multiplier + j reads input channel ci::

    acc_w[kh,kw,co] = sum over output pixels of gy[n,oh,ow,co] * (x[n,ih,iw,co // dm] - zx)
    acc_b[co]       = sum over output pixels of gy[n,oh,ow,co]

and the same clamped / saturated update of filt[0,:,:,co] (co < n_weight_channels) and bias.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.geometry import padded_taps
from kilotrain.reference._grad_common import (
    apply_update,
    check_exponents,
    check_geometry,
    check_update,
)
from kilotrain.reference.grad_params import UpdateParams


def depthwise_conv2d_update(
    x: npt.NDArray[np.int8],
    gy: npt.NDArray[np.int8],
    filt: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32] | None,
    p: UpdateParams,
    e_gy: int,
    key: int = 0,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """x (N,H,W,Cin) int8, gy (N,OH,OW,Cout) int8, filt (1,KH,KW,Cout) int8 with Cout = Cin *
    p.depth_multiplier, bias (Cout,) int32 or None -> (new filt, new bias)."""
    x, gy, filt = np.asarray(x), np.asarray(gy), np.asarray(filt)
    n, _, _, cin = x.shape
    gn, oh, ow, cout = gy.shape
    one, kh, kw, fco = filt.shape
    dm = int(p.depth_multiplier)
    if gn != n or one != 1 or fco != cout or dm < 1 or cin * dm != cout:
        raise ValueError(
            f"depthwise_conv2d_update: x {x.shape}, gy {gy.shape}, filter {filt.shape}, depth_multiplier {dm}"
        )
    check_geometry("depthwise_conv2d_update", p.stride, p.padding, p.dilation)
    check_exponents("depthwise_conv2d_update", e_gy=e_gy)
    wm, ws, bm, bs = check_update("depthwise_conv2d_update", p, cout)
    nw = int(p.n_weight_channels)
    acc_w = np.zeros((nw, kh, kw), dtype=np.int64)
    if nw:
        x_off = np.repeat(x.astype(np.int64) - p.input_zero_point, dm, axis=-1)[..., :nw]
        g = gy[..., :nw].astype(np.int64)
        for i, j, v in padded_taps(x_off, (kh, kw), p.stride, p.padding, p.dilation, (oh, ow)):
            acc_w[:, i, j] = (g * v).reshape(-1, nw).sum(axis=0)
    acc_b = gy.astype(np.int64).reshape(-1, cout).sum(axis=0)
    w_cfirst = np.moveaxis(filt[0], -1, 0)  # (Cout, KH, KW)
    index = np.arange(kh * kw, dtype=np.int64).reshape(1, kh, kw) * cout + np.arange(nw, dtype=np.int64).reshape(
        nw, 1, 1
    )  # flat index in (1,KH,KW,Cout)
    new_w, new_b = apply_update(
        w_cfirst, acc_w, bias, acc_b, wm, ws, bm, bs, int(e_gy), bool(p.stochastic), int(key), index
    )
    return np.ascontiguousarray(np.moveaxis(new_w, 0, -1)[None]), new_b
