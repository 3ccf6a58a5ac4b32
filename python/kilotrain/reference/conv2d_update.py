"""CONV_2D fused QAS update (docs/numerics.md, "fused QAS update")::

    acc_w[co,kh,kw,ci] = sum over output pixels of gy[n,oh,ow,co] * (x[n,ih,iw,ci] - zx)
                         (ih = oh*sh - pt + kh*dh, iw likewise; taps in the padding add 0)
    acc_b[co]          = sum over output pixels of gy[n,oh,ow,co]
    W[co] = clamp(W[co] - scale_round(acc_w, weight_multiplier[co], weight_shift[co] + e_gy), -127, 127)
            for co < n_weight_channels (other channels unchanged); with ``p.stochastic`` the weight
            delta is scale_round_stochastic(acc_w, .., u = hash32(key ^ i)) instead, i = the
            element's flat index in the OHWI filter
    b[co] = sat32(b[co] - scale_round(acc_b, bias_multiplier[co], bias_shift[co] + e_gy))  (all co)

Accumulators are int32 in C (the compiler checks P*128*255 < 2**31); here exact then wrapped.
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


def conv2d_update(
    x: npt.NDArray[np.int8],
    gy: npt.NDArray[np.int8],
    filt: npt.NDArray[np.int8],
    bias: npt.NDArray[np.int32] | None,
    p: UpdateParams,
    e_gy: int,
    key: int = 0,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """x (N,H,W,Cin) int8 saved input (zero point p.input_zero_point), gy (N,OH,OW,Cout) int8
    (exponent e_gy), filt (Cout,KH,KW,Cin) int8, bias (Cout,) int32 or None -> (new filt, new
    bias) (new arrays; the inputs are not modified)."""
    x, gy, filt = np.asarray(x), np.asarray(gy), np.asarray(filt)
    n, _, _, cin = x.shape
    gn, oh, ow, cout = gy.shape
    fco, kh, kw, fci = filt.shape
    if gn != n or fco != cout or fci != cin:
        raise ValueError(f"conv2d_update: x {x.shape}, gy {gy.shape}, filter {filt.shape}")
    check_geometry("conv2d_update", p.stride, p.padding, p.dilation)
    check_exponents("conv2d_update", e_gy=e_gy)
    wm, ws, bm, bs = check_update("conv2d_update", p, cout)
    nw = int(p.n_weight_channels)
    g = gy.astype(np.float64).reshape(-1, cout)
    acc_w = np.zeros((nw, kh, kw, cin), dtype=np.int64)
    if nw:
        x_off = x.astype(np.int64) - p.input_zero_point
        gt = g[:, :nw].T
        for i, j, v in padded_taps(x_off, (kh, kw), p.stride, p.padding, p.dilation, (oh, ow)):
            acc_w[:, i, j, :] = (gt @ v.reshape(-1, cin).astype(np.float64)).astype(np.int64)
    acc_b = gy.astype(np.int64).reshape(-1, cout).sum(axis=0)
    return apply_update(filt, acc_w, bias, acc_b, wm, ws, bm, bs, int(e_gy), bool(p.stochastic), int(key))
