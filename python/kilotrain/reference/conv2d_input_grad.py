"""CONV_2D input gradient (docs/numerics.md, "Conv / depthwise / fully connected: input
gradient"), the transpose of the forward conv in integers::

    h[n,oh,ow,co] = scale_round(gy[n,oh,ow,co], chan_multiplier[co], chan_shift[co] + H)
    acc[n,ih,iw,ci] = sum over (oh,ow,kh,kw,co) with oh*sh - pt + kh*dh == ih and
                      ow*sw - pl + kw*dw == iw of filt[co,kh,kw,ci] * h[n,oh,ow,co]
    gx = to_grad8(scale_round(acc, x_multiplier, x_shift + e_gy - H - e_gx))

so that gx * 2**e_gx = sum s_W * W * gy * 2**e_gy. Taps that fall into the padding are dropped.
Any KH x KW (1x1 included), stride, dilation and padding. The accumulator is int32 in C; here it
is exact (float64 products of integers < 2**53) and wrapped to int32 as C would.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import (
    check_exponents,
    check_fold,
    check_geometry,
    scatter_size,
)
from kilotrain.reference.grad_params import ConvGradParams
from kilotrain.reference.grad_quant import GradStats, _wrap32, scale_round, to_grad8


def conv2d_input_grad(
    gy: npt.NDArray[np.int8],
    filt: npt.NDArray[np.int8],
    p: ConvGradParams,
    in_hw: tuple[int, int],
    e_gy: int,
    e_gx: int,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,OH,OW,Cout) int8 (exponent e_gy), filt (Cout,KH,KW,Cin) int8, in_hw = (H, W) of the
    forward input -> (gx (N,H,W,Cin) int8 with exponent e_gx, GradStats)."""
    gy = np.asarray(gy)
    filt = np.asarray(filt)
    n, oh, ow, cout = gy.shape
    fco, kh, kw, cin = filt.shape
    if fco != cout:
        raise ValueError(f"conv2d_input_grad: filter Cout {fco} != gradient Cout {cout}")
    check_geometry("conv2d_input_grad", p.stride, p.padding, p.dilation)
    check_exponents("conv2d_input_grad", e_gy=e_gy, e_gx=e_gx)
    cm, cs = check_fold("conv2d_input_grad", p.chan_multiplier, p.chan_shift, p.headroom, p.x_shift, cout)
    h_in, w_in = int(in_hw[0]), int(in_hw[1])
    (sh, sw), (pt, pl), (dh, dw) = p.stride, p.padding, p.dilation
    hv = scale_round(gy, cm, cs + p.headroom).astype(np.float64).reshape(-1, cout)
    hp = scatter_size(h_in, pt, oh, kh, sh, dh)
    wp = scatter_size(w_in, pl, ow, kw, sw, dw)
    acc = np.zeros((n, hp, wp, cin), dtype=np.int64)
    f = filt.astype(np.float64)
    for i in range(kh):
        for j in range(kw):
            contrib = (hv @ f[:, i, j, :]).astype(np.int64).reshape(n, oh, ow, cin)
            acc[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw, :] += contrib
    acc = _wrap32(acc[:, pt : pt + h_in, pl : pl + w_in, :])
    return to_grad8(scale_round(acc, p.x_multiplier, p.x_shift + e_gy - p.headroom - e_gx))
