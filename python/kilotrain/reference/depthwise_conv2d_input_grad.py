"""DEPTHWISE_CONV_2D input gradient: as :mod:`conv2d_input_grad`, per channel; input channel
ci gathers the output channels co = ci * depth_multiplier + j::

    h[n,oh,ow,co] = scale_round(gy[n,oh,ow,co], chan_multiplier[co], chan_shift[co] + H)
    acc[n,ih,iw,ci] = sum over (oh,ow,kh,kw,j) reading x[n,ih,iw,ci] of filt[0,kh,kw,co] * h[n,oh,ow,co]
    gx = to_grad8(scale_round(acc, x_multiplier, x_shift + e_gy - H - e_gx))
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
from kilotrain.reference.grad_params import DepthwiseConvGradParams
from kilotrain.reference.grad_quant import GradStats, _wrap32, scale_round, to_grad8


def depthwise_conv2d_input_grad(
    gy: npt.NDArray[np.int8],
    filt: npt.NDArray[np.int8],
    p: DepthwiseConvGradParams,
    in_hw: tuple[int, int],
    e_gy: int,
    e_gx: int,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,OH,OW,Cout) int8, filt (1,KH,KW,Cout) int8, Cout = Cin * depth_multiplier ->
    (gx (N,H,W,Cin) int8 with exponent e_gx, GradStats)."""
    gy = np.asarray(gy)
    filt = np.asarray(filt)
    n, oh, ow, cout = gy.shape
    one, kh, kw, fco = filt.shape
    dm = int(p.depth_multiplier)
    if one != 1 or fco != cout or dm < 1 or cout % dm:
        raise ValueError(
            f"depthwise_conv2d_input_grad: filter {filt.shape}, gradient Cout {cout}, depth_multiplier {dm}"
        )
    cin = cout // dm
    check_geometry("depthwise_conv2d_input_grad", p.stride, p.padding, p.dilation)
    check_exponents("depthwise_conv2d_input_grad", e_gy=e_gy, e_gx=e_gx)
    cm, cs = check_fold("depthwise_conv2d_input_grad", p.chan_multiplier, p.chan_shift, p.headroom, p.x_shift, cout)
    h_in, w_in = int(in_hw[0]), int(in_hw[1])
    (sh, sw), (pt, pl), (dh, dw) = p.stride, p.padding, p.dilation
    hv = scale_round(gy, cm, cs + p.headroom)
    hp = scatter_size(h_in, pt, oh, kh, sh, dh)
    wp = scatter_size(w_in, pl, ow, kw, sw, dw)
    acc = np.zeros((n, hp, wp, cin), dtype=np.int64)
    f = filt[0].astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            contrib = (hv * f[i, j]).reshape(n, oh, ow, cin, dm).sum(axis=-1)
            acc[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw, :] += contrib
    acc = _wrap32(acc[:, pt : pt + h_in, pl : pl + w_in, :])
    return to_grad8(scale_round(acc, p.x_multiplier, p.x_shift + e_gy - p.headroom - e_gx))
