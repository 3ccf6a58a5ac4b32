"""ctypes wrappers of the C backward / update kernels (``include/kt_train_kernels.h``) with exactly
the signatures of the numpy golden ops (``kilotrain.reference.<name>``), taking the same records
(:mod:`kilotrain.reference.grad_params`) and returning the same values (int8 gradients with
:class:`~kilotrain.reference.grad_quant.GradStats`; updates return new arrays — the C kernel
updates a copy in place). A non-OK status raises :class:`kilotrain.kernels.build.KernelError`.

PAD's and TRANSPOSE's gradients move bytes only (``kt_pad_grad_s8``, ``kt_transpose_grad_s8``).
The set is a complete :class:`kilotrain.training.step.BackwardKernels`.
"""

from __future__ import annotations

from ctypes import POINTER, c_int32, c_uint16, c_uint32, c_void_p
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.contract import MAX_RANK
from kilotrain.kernels import build as host_lib
from kilotrain.kernels.build import KernelError
from kilotrain.kernels.cstructs import (
    ConvGradParamsC,
    DwConvGradParamsC,
    FcGradParamsC,
    GradStatsC,
    PoolGradParamsC,
    ReluMaskParamsC,
    SoftmaxCeParamsC,
    TransposeParamsC,
    UpdateParamsC,
)
from kilotrain.kernels.forward import (
    Dims,
    PerChannelQuant,
    Tile,
    _dims,
    _i8,
    _i32,
    _ptr,
    _ref,
    pad_struct,
    split_filter,
)
from kilotrain.model.params import PadParams, TransposeParams
from kilotrain.reference.grad_params import (
    ConvGradParams,
    DepthwiseConvGradParams,
    FullyConnectedGradParams,
    PoolGradParams,
    ReluMaskParams,
    SoftmaxCeParams,
    UpdateParams,
)
from kilotrain.reference.grad_quant import GradStats

__all__ = [
    "KernelError",
    "avg_pool_grad",
    "conv2d_input_grad",
    "conv2d_update",
    "depthwise_conv2d_input_grad",
    "depthwise_conv2d_update",
    "fully_connected_input_grad",
    "fully_connected_update",
    "grad_rescale",
    "grad_sum",
    "pad_grad",
    "relu_mask_apply",
    "relu_mask_pack",
    "softmax_ce_grad",
    "transpose_grad",
]


# --- C structs (mirror include/kt_train_kernels.h) ----------------------------------------------


_P = c_void_p
_SIGNATURES: dict[str, list[Any]] = {
    "kt_conv2d_input_grad_s8": [_P, c_int32, c_int32] + [_P] * 7,
    "kt_depthwise_conv2d_input_grad_s8": [_P, c_int32, c_int32] + [_P] * 7,
    "kt_fully_connected_input_grad_s8": [_P, c_int32, c_int32] + [_P] * 7,
    "kt_conv2d_input_grad_split_s8": [_P, c_int32, c_int32] + [_P] * 7,
    "kt_fully_connected_input_grad_split_s8": [_P, c_int32, c_int32] + [_P] * 7,
    "kt_conv2d_update_s8": [_P, c_int32, c_uint32] + [_P] * 7,
    "kt_depthwise_conv2d_update_s8": [_P, c_int32, c_uint32] + [_P] * 7,
    "kt_fully_connected_update_s8": [_P, c_int32, c_uint32] + [_P] * 7,
    "kt_relu_mask_pack_s8": [_P, c_int32, _P, _P],
    "kt_relu_mask_apply_s8": [c_int32, _P, _P, _P],
    "kt_avg_pool_grad_s8": [_P, c_int32, c_int32, _P, _P, _P, _P, _P],
    "kt_grad_rescale_s8": [c_int32, c_int32, c_int32, _P, _P, _P],
    "kt_grad_sum_s8": [c_int32, _P, c_int32, _P, c_int32, c_int32, _P, _P],
    "kt_softmax_ce_grad_s8": [_P, c_int32, c_int32, c_int32, _P, _P, _P, _P, _P, _P],
    "kt_pad_grad_s8": [_P] * 4,
    "kt_transpose_grad_s8": [_P] * 4,
}


def _call(name: str, *args: Any) -> None:
    host_lib.call(name, _SIGNATURES[name], *args)


def _int(v: Any) -> int:
    """A Python int for a c_int32 argument; out-of-range values become KernelError (as C would
    reject them) instead of silently wrapping."""
    i = int(v)
    if not -(2**31) <= i <= 2**31 - 1:
        raise KernelError(f"argument {i} does not fit int32")
    return i


def _quant(mult: npt.ArrayLike, shift: npt.ArrayLike, n: int) -> tuple[PerChannelQuant, Any, Any]:
    """(struct, keep-alive arrays); arrays must hold exactly n entries (else KernelError)."""
    m = _i32(np.asarray(mult, dtype=np.int64).ravel())
    s = _i32(np.asarray(shift, dtype=np.int64).ravel())
    if m.shape != (n,) or s.shape != (n,):
        raise KernelError(f"per-channel arrays need {n} entries, got {m.size}/{s.size}")
    q = PerChannelQuant(m.ctypes.data_as(POINTER(c_int32)), s.ctypes.data_as(POINTER(c_int32)))
    return q, m, s


def _stats(s: GradStatsC) -> GradStats:
    return GradStats(int(s.saturated), int(s.amax))


def _tile(t: Any) -> Tile:
    return Tile(_int(t[0]), _int(t[1]))


# --- input gradients ----------------------------------------------------------------------------


def conv2d_input_grad(
    gy: npt.ArrayLike,
    filt: npt.ArrayLike,
    p: ConvGradParams,
    in_hw: tuple[int, int],
    e_gy: int,
    e_gx: int,
    split: int | None = None,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,OH,OW,Cout), filt (Cout,KH,KW,Cin) -> (gx (N,H,W,Cin), GradStats). ``split``: the
    filter as a kt_split_filter in two parts (kt_conv2d_input_grad_split_s8)."""
    g, f = _i8(gy), _i8(filt)
    f_arg, suffix, keep_f = split_filter(f, split)
    out = np.empty((g.shape[0], int(in_hw[0]), int(in_hw[1]), f.shape[3]), dtype=np.int8)
    q, *keep = _quant(p.chan_multiplier, p.chan_shift, g.shape[3])
    cp = ConvGradParamsC(
        _tile(p.stride), _tile(p.padding), _tile(p.dilation), q, _int(p.headroom), _int(p.x_multiplier), _int(p.x_shift)
    )
    st = GradStatsC()
    d_g, d_f, d_x = _dims(g.shape), _dims(f.shape), _dims(out.shape)
    _call(
        f"kt_conv2d_input_grad{suffix}_s8",
        _ref(cp),
        _int(e_gy),
        _int(e_gx),
        _ref(d_g),
        _ptr(g),
        _ref(d_f),
        f_arg,
        _ref(d_x),
        _ptr(out),
        _ref(st),
    )
    del keep, keep_f
    return out, _stats(st)


def depthwise_conv2d_input_grad(
    gy: npt.ArrayLike,
    filt: npt.ArrayLike,
    p: DepthwiseConvGradParams,
    in_hw: tuple[int, int],
    e_gy: int,
    e_gx: int,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,OH,OW,Cout), filt (1,KH,KW,Cout) -> (gx (N,H,W,Cout/dm), GradStats)."""
    g, f = _i8(gy), _i8(filt)
    dm = _int(p.depth_multiplier)
    if dm < 1:
        raise KernelError(f"depth_multiplier {dm} < 1")
    out = np.empty((g.shape[0], int(in_hw[0]), int(in_hw[1]), g.shape[3] // dm), dtype=np.int8)
    q, *keep = _quant(p.chan_multiplier, p.chan_shift, g.shape[3])
    dp = DwConvGradParamsC(
        _tile(p.stride),
        _tile(p.padding),
        _tile(p.dilation),
        dm,
        q,
        _int(p.headroom),
        _int(p.x_multiplier),
        _int(p.x_shift),
    )
    st = GradStatsC()
    d_g, d_f, d_x = _dims(g.shape), _dims(f.shape), _dims(out.shape)
    _call(
        "kt_depthwise_conv2d_input_grad_s8",
        _ref(dp),
        _int(e_gy),
        _int(e_gx),
        _ref(d_g),
        _ptr(g),
        _ref(d_f),
        _ptr(f),
        _ref(d_x),
        _ptr(out),
        _ref(st),
    )
    del keep
    return out, _stats(st)


def fully_connected_input_grad(
    gy: npt.ArrayLike,
    w: npt.ArrayLike,
    p: FullyConnectedGradParams,
    e_gy: int,
    e_gx: int,
    split: int | None = None,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,Cout), w (Cout,Cin) -> (gx (N,Cin), GradStats); ``split`` as in conv2d_input_grad."""
    g, wa = _i8(gy), _i8(w)
    w_arg, suffix, keep_w = split_filter(wa, split)
    if g.ndim != 2 or wa.ndim != 2:
        raise ValueError(f"fully_connected_input_grad: gy {g.shape} and w {wa.shape} must be 2-D")
    n, cout = g.shape
    cin = wa.shape[1]
    out = np.empty((n, cin), dtype=np.int8)
    q, *keep = _quant(p.chan_multiplier, p.chan_shift, cout)
    fp = FcGradParamsC(q, _int(p.headroom), _int(p.x_multiplier), _int(p.x_shift))
    st = GradStatsC()
    d_g, d_f, d_x = Dims(n, 1, 1, cout), Dims(wa.shape[0], 1, 1, cin), Dims(n, 1, 1, cin)
    _call(
        f"kt_fully_connected_input_grad{suffix}_s8",
        _ref(fp),
        _int(e_gy),
        _int(e_gx),
        _ref(d_g),
        _ptr(g),
        _ref(d_f),
        w_arg,
        _ref(d_x),
        _ptr(out),
        _ref(st),
    )
    del keep, keep_w
    return out, _stats(st)


# --- fused updates ------------------------------------------------------------------------------


def _key(key: int) -> c_uint32:
    return c_uint32(int(key) & 0xFFFFFFFF)


def _update_struct(p: UpdateParams, cout: int) -> tuple[UpdateParamsC, list[Any]]:
    wq, *k1 = _quant(p.weight_multiplier, p.weight_shift, cout)
    bq, *k2 = _quant(p.bias_multiplier, p.bias_shift, cout)
    up = UpdateParamsC(
        _int(p.n_weight_channels),
        wq,
        bq,
        _int(p.input_zero_point),
        _tile(p.stride),
        _tile(p.padding),
        _tile(p.dilation),
        _int(p.depth_multiplier),
        _int(bool(p.stochastic)),
    )
    return up, [*k1, *k2]


def _bias_copy(bias: npt.ArrayLike | None) -> npt.NDArray[np.int32] | None:
    return None if bias is None else np.array(bias, dtype=np.int32, copy=True).ravel()


def _spatial_update(
    name: str,
    x: npt.ArrayLike,
    gy: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: UpdateParams,
    e_gy: int,
    key: int,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """The in-place C update of a conv / depthwise layer, on copies of filt and bias."""
    xa, g = _i8(x), _i8(gy)
    f = np.array(filt, dtype=np.int8, copy=True, order="C")
    b = _bias_copy(bias)
    if b is not None and b.shape != (g.shape[3],):
        raise ValueError(f"bias shape {b.shape} != ({g.shape[3]},)")
    up, keep = _update_struct(p, g.shape[3])
    d_x, d_g, d_f = _dims(xa.shape), _dims(g.shape), _dims(f.shape)
    _call(name, _ref(up), _int(e_gy), _key(key), _ref(d_x), _ptr(xa), _ref(d_g), _ptr(g), _ref(d_f), _ptr(f), _ptr(b))
    del keep
    return f, b


def conv2d_update(
    x: npt.ArrayLike,
    gy: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: UpdateParams,
    e_gy: int,
    key: int = 0,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """x (N,H,W,Cin), gy (N,OH,OW,Cout), filt (Cout,KH,KW,Cin), bias (Cout,) or None ->
    (new filt, new bias)."""
    return _spatial_update("kt_conv2d_update_s8", x, gy, filt, bias, p, e_gy, key)


def depthwise_conv2d_update(
    x: npt.ArrayLike,
    gy: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: UpdateParams,
    e_gy: int,
    key: int = 0,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """x (N,H,W,Cin), gy (N,OH,OW,Cout), filt (1,KH,KW,Cout), bias (Cout,) or None ->
    (new filt, new bias)."""
    return _spatial_update("kt_depthwise_conv2d_update_s8", x, gy, filt, bias, p, e_gy, key)


def fully_connected_update(
    x: npt.ArrayLike,
    gy: npt.ArrayLike,
    w: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: UpdateParams,
    e_gy: int,
    key: int = 0,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32] | None]:
    """x (N,Cin), gy (N,Cout), w (Cout,Cin), bias (Cout,) or None -> (new w, new bias)."""
    xa, g = _i8(x), _i8(gy)
    f = np.array(w, dtype=np.int8, copy=True, order="C")
    if xa.ndim != 2 or g.ndim != 2 or f.ndim != 2:
        raise ValueError(f"fully_connected_update: x {xa.shape}, gy {g.shape}, w {f.shape}")
    b = _bias_copy(bias)
    if b is not None and b.shape != (g.shape[1],):
        raise ValueError(f"bias shape {b.shape} != ({g.shape[1]},)")
    up, keep = _update_struct(p, g.shape[1])
    d_x = Dims(xa.shape[0], 1, 1, xa.shape[1])
    d_g = Dims(g.shape[0], 1, 1, g.shape[1])
    d_f = Dims(f.shape[0], 1, 1, f.shape[1])
    _call(
        "kt_fully_connected_update_s8",
        _ref(up),
        _int(e_gy),
        _key(key),
        _ref(d_x),
        _ptr(xa),
        _ref(d_g),
        _ptr(g),
        _ref(d_f),
        _ptr(f),
        _ptr(b),
    )
    del keep
    return f, b


# --- masks, pooling, rescale, sum, loss ---------------------------------------------------------


def relu_mask_pack(y: npt.ArrayLike, p: ReluMaskParams) -> npt.NDArray[np.uint8]:
    """y int8 (any shape) -> packed mask bits uint8 (ceil(size / 8),), LSB first."""
    ya = _i8(y)
    mask = np.empty((ya.size + 7) // 8, dtype=np.uint8)
    mp = ReluMaskParamsC(_int(p.act_min), _int(p.act_max), int(bool(p.relu6)))
    _call("kt_relu_mask_pack_s8", _ref(mp), ya.size, _ptr(ya), _ptr(mask))
    return mask


def relu_mask_apply(g: npt.ArrayLike, mask: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """g int8 (any shape), mask packed bits -> g * bit (int8, same shape)."""
    ga = _i8(g)
    m = np.ascontiguousarray(mask, dtype=np.uint8).ravel()
    if m.size < (ga.size + 7) // 8:
        raise ValueError(f"relu_mask_apply: {m.size} mask bytes for {ga.size} elements")
    out = np.empty(ga.shape, dtype=np.int8)
    _call("kt_relu_mask_apply_s8", ga.size, _ptr(m), _ptr(ga), _ptr(out))
    return out


def avg_pool_grad(
    gy: npt.ArrayLike,
    p: PoolGradParams,
    in_hw: tuple[int, int],
    e_gy: int,
    e_gx: int,
) -> tuple[npt.NDArray[np.int8], GradStats]:
    """gy (N,OH,OW,C) -> (gx (N,H,W,C), GradStats)."""
    g = _i8(gy)
    out = np.empty((g.shape[0], int(in_hw[0]), int(in_hw[1]), g.shape[3]), dtype=np.int8)
    pp = PoolGradParamsC(_tile(p.filter), _tile(p.stride), _int(p.count_multiplier), _int(p.count_shift))
    st = GradStatsC()
    d_g, d_x = _dims(g.shape), _dims(out.shape)
    _call("kt_avg_pool_grad_s8", _ref(pp), _int(e_gy), _int(e_gx), _ref(d_g), _ptr(g), _ref(d_x), _ptr(out), _ref(st))
    return out, _stats(st)


def grad_rescale(g: npt.ArrayLike, e_in: int, e_out: int) -> tuple[npt.NDArray[np.int8], GradStats]:
    """g int8 (exponent e_in) -> (int8 with exponent e_out, GradStats)."""
    ga = _i8(g)
    out = np.empty(ga.shape, dtype=np.int8)
    st = GradStatsC()
    _call("kt_grad_rescale_s8", ga.size, _int(e_in), _int(e_out), _ptr(ga), _ptr(out), _ref(st))
    return out, _stats(st)


def grad_sum(g1: npt.ArrayLike, e1: int, g2: npt.ArrayLike, e2: int, e: int) -> tuple[npt.NDArray[np.int8], GradStats]:
    """g1, g2 int8 (same shape) -> (their sum with exponent e, GradStats)."""
    a, b = _i8(g1), _i8(g2)
    if a.shape != b.shape:
        raise ValueError(f"grad_sum: shapes {a.shape} != {b.shape}")
    out = np.empty(a.shape, dtype=np.int8)
    st = GradStatsC()
    _call("kt_grad_sum_s8", a.size, _ptr(a), _int(e1), _ptr(b), _int(e2), _int(e), _ptr(out), _ref(st))
    return out, _stats(st)


def softmax_ce_grad(
    z: npt.ArrayLike,
    labels: npt.ArrayLike,
    p: SoftmaxCeParams,
    e_z: int,
) -> tuple[npt.NDArray[np.int8], GradStats, npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """z (N, C) int8, labels (N,) -> (gz (N, C), GradStats, p_label (N,) int32 Q15,
    correct (N,) bool)."""
    za = _i8(z)
    if za.ndim != 2:
        raise ValueError(f"softmax_ce_grad: logits {za.shape} must be (N, C)")
    rows, depth = za.shape
    lab_in = np.asarray(labels, dtype=np.int64).ravel()
    if lab_in.shape != (rows,):
        raise ValueError(f"softmax_ce_grad: labels {lab_in.shape} != ({rows},)")
    lab = _i32(np.clip(lab_in, -1, 2**31 - 1))
    table = np.ascontiguousarray(p.exp_table, dtype=np.uint16).ravel()
    if table.shape != (256,):
        raise ValueError("softmax_ce_grad: exp_table must have 256 entries")
    sp = SoftmaxCeParamsC(table.ctypes.data_as(POINTER(c_uint16)))
    gz = np.empty(za.shape, dtype=np.int8)
    p_label = np.empty(rows, dtype=np.int32)
    correct = np.empty(rows, dtype=np.uint8)
    st = GradStatsC()
    _call(
        "kt_softmax_ce_grad_s8",
        _ref(sp),
        rows,
        depth,
        _int(e_z),
        _ptr(za),
        _ptr(lab),
        _ptr(gz),
        _ref(st),
        _ptr(p_label),
        _ptr(correct),
    )
    return gz, _stats(st), p_label, correct.astype(bool)


def pad_grad(g: npt.ArrayLike, p: PadParams) -> npt.NDArray[np.int8]:
    """PAD / PADV2 input gradient (``kt_pad_grad_s8``): ``g`` (the padded output's gradient) with
    ``p.paddings`` cut away."""
    ga = _i8(g)
    rank = ga.ndim
    if not 1 <= rank <= MAX_RANK or len(p.paddings) != rank:
        raise ValueError(f"pad_grad: rank {rank} with paddings {p.paddings}")
    pp = pad_struct(p)
    shape = tuple(n - b - a for n, b, a in zip(ga.shape, pp.before, pp.after))
    if min(shape) < 1:
        raise ValueError(f"pad_grad: gradient shape {ga.shape} is smaller than paddings {p.paddings}")
    out = np.empty(shape, dtype=np.int8)
    in_shape = _i32(list(shape))
    _call("kt_pad_grad_s8", _ref(pp), _ptr(in_shape), _ptr(ga), _ptr(out))
    return out


def transpose_grad(g: npt.ArrayLike, p: TransposeParams) -> npt.NDArray[np.int8]:
    """TRANSPOSE input gradient (``kt_transpose_grad_s8``): ``g`` (the transposed output's gradient,
    axis i = input axis p.perm[i]) back in the input's axis order."""
    ga = _i8(g)
    rank = ga.ndim
    if not 1 <= rank <= MAX_RANK or sorted(p.perm) != list(range(rank)):
        raise ValueError(f"transpose_grad: rank {rank} with perm {p.perm}")
    shape = [0] * rank
    for i, a in enumerate(p.perm):
        shape[int(a)] = ga.shape[i]
    tp = TransposeParamsC(rank, (c_int32 * MAX_RANK)(*([int(v) for v in p.perm] + [0] * (MAX_RANK - rank))))
    out = np.empty(tuple(shape), dtype=np.int8)
    in_shape = _i32(shape)
    _call("kt_transpose_grad_s8", _ref(tp), _ptr(in_shape), _ptr(ga), _ptr(out))
    return out
