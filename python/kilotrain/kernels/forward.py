"""ctypes wrappers of the C int8 kernels (``include/kt_kernels.h``) with exactly the signatures of
the numpy golden ops in :mod:`kilotrain.reference`, taking the same parameter records
(:mod:`kilotrain.model.params`). The tests call both and compare every byte.

Outputs are allocated here in numpy and filled by the C kernel; a non-OK status raises
:class:`KernelError`. The library is built on first use (:mod:`kilotrain.kernels.build`).
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_int8, c_int32, c_void_p
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.contract import MAX_RANK
from kilotrain.kernels import build as host_lib
from kilotrain.kernels.build import KernelError as KernelError  # re-exported: callers catch it from here
from kilotrain.kernels.cstructs import (
    Activation,
    AddParamsC,
    ConvParamsC,
    Dims,
    DwConvParamsC,
    FcParamsC,
    MeanParamsC,
    PackedFilterC,
    PadParamsC,
    PerChannelQuant,
    PoolParamsC,
    SoftmaxParamsC,
    SplitFilterC,
    Tile,
    TransposeParamsC,
)
from kilotrain.kernels.packed import pack_conv, packed_k
from kilotrain.model.params import (
    AddParams,
    AvgPoolParams,
    ConvParams,
    DepthwiseConvParams,
    FullyConnectedParams,
    MeanParams,
    PadParams,
    SoftmaxParams,
    TransposeParams,
)

# --- C structs (mirror include/kt_types.h and include/kt_kernels.h) ----------------------------


_P = c_void_p
_SIGNATURES: dict[str, list[Any]] = {
    "kt_requantize_s32": [c_int32, _P, _P, _P, _P],
    "kt_conv2d_s8": [_P] * 9,
    "kt_conv2d_1x1_s8": [_P] * 9,
    "kt_depthwise_conv2d_s8": [_P] * 9,
    "kt_fully_connected_s8": [_P] * 9,
    "kt_conv2d_split_s8": [_P] * 9,
    "kt_conv2d_1x1_split_s8": [_P] * 9,
    "kt_conv2d_packed_s8": [_P] * 8,
    "kt_fully_connected_split_s8": [_P] * 9,
    "kt_add_s8": [_P] * 7,
    "kt_avg_pool_s8": [_P] * 5,
    "kt_mean_s8": [_P] * 5,
    "kt_pad_s8": [_P] * 4,
    "kt_transpose_s8": [_P] * 4,
    "kt_softmax_s8": [_P, c_int32, c_int32, _P, _P],
}


def _call(name: str, *args: Any) -> None:
    host_lib.call(name, _SIGNATURES[name], *args)


# --- helpers ------------------------------------------------------------------------------------


def _ref(s: Structure) -> int:
    return ctypes.addressof(s)


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def _i8(x: npt.ArrayLike) -> npt.NDArray[np.int8]:
    return np.ascontiguousarray(x, dtype=np.int8)


def _i32(x: npt.ArrayLike) -> npt.NDArray[np.int32]:
    return np.ascontiguousarray(x, dtype=np.int32)


def _dims(shape: tuple[int, ...]) -> Dims:
    if len(shape) != 4:
        raise ValueError(f"expected a 4-D shape, got {shape}")
    return Dims(*(int(v) for v in shape))


def _act(lo: int, hi: int) -> Activation:
    return Activation(int(lo), int(hi))


def _per_channel(mult: npt.ArrayLike, shift: npt.ArrayLike, n: int) -> tuple[Any, ...]:
    """(quant struct, keep-alive arrays) with multiplier/shift broadcast to n entries."""
    m = _i32(np.broadcast_to(np.asarray(mult, dtype=np.int64), (n,)))
    s = _i32(np.broadcast_to(np.asarray(shift, dtype=np.int64), (n,)))
    q = PerChannelQuant(m.ctypes.data_as(POINTER(c_int32)), s.ctypes.data_as(POINTER(c_int32)))
    return q, m, s


def split_filter(filt: npt.NDArray[np.int8], split: int | None) -> tuple[Any, ...]:
    """(filter argument, kernel-name suffix, keep-alive arrays): the array itself, or with ``split``
    a kt_split_filter whose rows [0, split) and [split, Cout) are two separate copies (so a kernel
    that read across the parts would read the wrong bytes)."""
    if split is None:
        return _ptr(filt), "", ()
    if not 0 <= split <= filt.shape[0]:
        raise ValueError(f"split {split} not in [0, {filt.shape[0]}]")
    head, tail = np.array(filt[:split]), np.array(filt[split:])
    sf = SplitFilterC(
        head.ctypes.data_as(POINTER(c_int8)) if split else None,
        tail.ctypes.data_as(POINTER(c_int8)) if split < filt.shape[0] else None,
        split,
    )
    return _ref(sf), "_split", (sf, head, tail)


def _bias(bias: npt.ArrayLike | None, n: int) -> npt.NDArray[np.int32] | None:
    if bias is None:
        return None
    b = _i32(bias)
    if b.shape != (n,):
        raise ValueError(f"bias shape {b.shape} != ({n},)")
    return b


# --- the golden signatures ----------------------------------------------------------------------


def multiply_by_quantized_multiplier(
    acc: npt.ArrayLike, multiplier: npt.ArrayLike, shift: npt.ArrayLike
) -> npt.NDArray[np.int32]:
    """TFLM's ``MultiplyByQuantizedMultiplier`` element-wise in C (kt_requantize_s32);
    multiplier/shift broadcast against acc (int64 acc values wrap to int32 as in C)."""
    a = np.asarray(acc)
    a32 = np.asarray(a, dtype=np.int64).astype(np.int32)
    a_b, m_b, s_b = np.broadcast_arrays(a32, np.asarray(multiplier, dtype=np.int64), np.asarray(shift, dtype=np.int64))
    x, m, s = _i32(a_b), _i32(m_b), _i32(s_b)
    out = np.empty(x.shape, dtype=np.int32)
    _call("kt_requantize_s32", int(x.size), _ptr(x), _ptr(m), _ptr(s), _ptr(out))
    return out


def _conv_params(p: ConvParams) -> ConvParamsC:
    """The kt_conv_params of a ConvParams (kt_conv2d_s8 and kt_conv2d_packed_s8)."""
    return ConvParamsC(
        Tile(*p.stride),
        Tile(*p.padding),
        Tile(*p.dilation),
        p.input_offset,
        p.output_offset,
        _act(p.act_min, p.act_max),
    )


def _conv(
    name: str,
    x: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: ConvParams,
    out_hw: tuple[int, int] | None,
    split: int | None = None,
) -> npt.NDArray[np.int8]:
    xa, fa = _i8(x), _i8(filt)
    f_arg, suffix, keep_f = split_filter(fa, split)
    n, cout = xa.shape[0], fa.shape[0]
    oh, ow = (xa.shape[1], xa.shape[2]) if out_hw is None else (int(out_hw[0]), int(out_hw[1]))
    out = np.empty((n, oh, ow, cout), dtype=np.int8)
    q, *keep = _per_channel(p.multiplier, p.shift, cout)
    b = _bias(bias, cout)
    cp = _conv_params(p)
    d_in, d_f, d_out = _dims(xa.shape), _dims(fa.shape), _dims(out.shape)
    name = name.replace("_s8", suffix + "_s8")
    _call(name, _ref(cp), _ref(q), _ref(d_in), _ptr(xa), _ref(d_f), f_arg, _ptr(b), _ref(d_out), _ptr(out))
    del keep, keep_f
    return out


def conv2d(
    x: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: ConvParams,
    out_hw: tuple[int, int],
    split: int | None = None,
) -> npt.NDArray[np.int8]:
    """CONV_2D: x (N,H,W,Cin), filt (Cout,KH,KW,Cin), bias (Cout,) or None -> (N,OH,OW,Cout).
    ``split``: pass the filter as a kt_split_filter in two parts (kt_conv2d_split_s8)."""
    return _conv("kt_conv2d_s8", x, filt, bias, p, out_hw, split)


def conv2d_packed(
    x: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: ConvParams,
    out_hw: tuple[int, int],
    records: npt.NDArray[np.int32] | None = None,
    runtime_bias: bool = False,
) -> npt.NDArray[np.int8]:
    """CONV_2D through kt_conv2d_packed_s8: the filter packed by :func:`kilotrain.kernels.packed.pack_conv`
    (or ``records`` as given, k from the filter's shape: a test's tampered table). ``runtime_bias``:
    the bias is left out of the records and handed to the kernel (a bias being trained)."""
    xa, fa = _i8(x), _i8(filt)
    k = packed_k(fa.shape)
    rb = _bias(bias, fa.shape[0]) if runtime_bias else None
    rec = pack_conv(fa, None if runtime_bias else bias, p)[0] if records is None else records
    rec = np.ascontiguousarray(rec, dtype=np.int32)
    out = np.empty((xa.shape[0], int(out_hw[0]), int(out_hw[1]), fa.shape[0]), dtype=np.int8)
    pf = PackedFilterC(rec.ctypes.data_as(POINTER(c_int32)), k)
    cp = _conv_params(p)
    d_in, d_f, d_out = _dims(xa.shape), _dims(fa.shape), _dims(out.shape)
    _call("kt_conv2d_packed_s8", _ref(cp), _ref(pf), _ptr(rb), _ref(d_in), _ptr(xa), _ref(d_f), _ref(d_out), _ptr(out))
    return out


def conv2d_1x1(
    x: npt.ArrayLike, filt: npt.ArrayLike, bias: npt.ArrayLike | None, p: ConvParams, split: int | None = None
) -> npt.NDArray[np.int8]:
    """The 1x1 stride-1 no-padding fast path called directly (kt_conv2d_1x1_s8)."""
    return _conv("kt_conv2d_1x1_s8", x, filt, bias, p, None, split)


def depthwise_conv2d(
    x: npt.ArrayLike,
    filt: npt.ArrayLike,
    bias: npt.ArrayLike | None,
    p: DepthwiseConvParams,
    out_hw: tuple[int, int],
) -> npt.NDArray[np.int8]:
    """DEPTHWISE_CONV_2D: x (N,H,W,Cin), filt (1,KH,KW,Cin*dm), bias (Cout,) -> (N,OH,OW,Cout)."""
    xa, fa = _i8(x), _i8(filt)
    n, cout = xa.shape[0], fa.shape[3]
    out = np.empty((n, int(out_hw[0]), int(out_hw[1]), cout), dtype=np.int8)
    q, *keep = _per_channel(p.multiplier, p.shift, cout)
    b = _bias(bias, cout)
    dp = DwConvParamsC(
        Tile(*p.stride),
        Tile(*p.padding),
        Tile(*p.dilation),
        p.depth_multiplier,
        p.input_offset,
        p.output_offset,
        _act(p.act_min, p.act_max),
    )
    d_in, d_f, d_out = _dims(xa.shape), _dims(fa.shape), _dims(out.shape)
    _call(
        "kt_depthwise_conv2d_s8",
        _ref(dp),
        _ref(q),
        _ref(d_in),
        _ptr(xa),
        _ref(d_f),
        _ptr(fa),
        _ptr(b),
        _ref(d_out),
        _ptr(out),
    )
    del keep
    return out


def fully_connected(
    x: npt.ArrayLike, w: npt.ArrayLike, bias: npt.ArrayLike | None, p: FullyConnectedParams, split: int | None = None
) -> npt.NDArray[np.int8]:
    """FULLY_CONNECTED: x (N,Cin), w (Cout,Cin), bias (Cout,) or None -> (N,Cout)."""
    xa, wa = _i8(x), _i8(w)
    w_arg, suffix, keep_w = split_filter(wa, split)
    if xa.ndim != 2 or wa.ndim != 2:
        raise ValueError(f"fully_connected: x {xa.shape} and w {wa.shape} must be 2-D")
    n, cin = xa.shape
    cout = wa.shape[0]
    mult = np.atleast_1d(np.asarray(p.multiplier))
    per_channel = mult.size != 1
    q, *keep = _per_channel(p.multiplier, p.shift, cout if per_channel else 1)
    b = _bias(bias, cout)
    out = np.empty((n, cout), dtype=np.int8)
    fp = FcParamsC(p.input_offset, p.output_offset, int(per_channel), _act(p.act_min, p.act_max))
    d_in, d_f, d_out = Dims(n, 1, 1, cin), Dims(cout, 1, 1, wa.shape[1]), Dims(n, 1, 1, cout)
    _call(
        f"kt_fully_connected{suffix}_s8",
        _ref(fp),
        _ref(q),
        _ref(d_in),
        _ptr(xa),
        _ref(d_f),
        w_arg,
        _ptr(b),
        _ref(d_out),
        _ptr(out),
    )
    del keep, keep_w
    return out


def _dims4(shape: tuple[int, ...]) -> Dims:
    if len(shape) > MAX_RANK:
        raise ValueError(f"rank {len(shape)} > {MAX_RANK}")
    return Dims(*([1] * (MAX_RANK - len(shape)) + [int(v) for v in shape]))


def add(a: npt.ArrayLike, b: npt.ArrayLike, p: AddParams) -> npt.NDArray[np.int8]:
    """ADD int8, same shape or numpy broadcast (rank <= 4)."""
    aa, ba = _i8(a), _i8(b)
    shape = np.broadcast_shapes(aa.shape, ba.shape)
    out = np.empty(shape, dtype=np.int8)
    ap = AddParamsC(
        p.input1_offset,
        p.input2_offset,
        p.output_offset,
        p.left_shift,
        p.input1_multiplier,
        p.input1_shift,
        p.input2_multiplier,
        p.input2_shift,
        p.output_multiplier,
        p.output_shift,
        _act(p.act_min, p.act_max),
    )
    d1, d2, d_out = _dims4(aa.shape), _dims4(ba.shape), _dims4(shape)
    _call("kt_add_s8", _ref(ap), _ref(d1), _ptr(aa), _ref(d2), _ptr(ba), _ref(d_out), _ptr(out))
    return out


def avg_pool(x: npt.ArrayLike, p: AvgPoolParams, out_hw: tuple[int, int]) -> npt.NDArray[np.int8]:
    """AVERAGE_POOL_2D: x (N,H,W,C) -> (N,OH,OW,C)."""
    xa = _i8(x)
    n, _, _, c = xa.shape
    out = np.empty((n, int(out_hw[0]), int(out_hw[1]), c), dtype=np.int8)
    pp = PoolParamsC(Tile(*p.filter), Tile(*p.stride), Tile(*p.padding), _act(p.act_min, p.act_max))
    d_in, d_out = _dims(xa.shape), _dims(out.shape)
    _call("kt_avg_pool_s8", _ref(pp), _ref(d_in), _ptr(xa), _ref(d_out), _ptr(out))
    return out


def mean(x: npt.ArrayLike, p: MeanParams) -> npt.NDArray[np.int8]:
    """MEAN over H and W: x (N,H,W,C) -> (N,1,1,C)."""
    xa = _i8(x)
    n, _, _, c = xa.shape
    out = np.empty((n, 1, 1, c), dtype=np.int8)
    mp = MeanParamsC(p.input_offset, p.output_offset, p.multiplier, p.shift)
    d_in, d_out = _dims(xa.shape), _dims(out.shape)
    _call("kt_mean_s8", _ref(mp), _ref(d_in), _ptr(xa), _ref(d_out), _ptr(out))
    return out


def pad_struct(p: PadParams) -> PadParamsC:
    """The C record of PAD / PADV2 parameters (rank <= MAX_RANK; unused axes 0)."""
    rank = len(p.paddings)
    before = [int(b) for b, _ in p.paddings] + [0] * (MAX_RANK - rank)
    after = [int(a) for _, a in p.paddings] + [0] * (MAX_RANK - rank)
    return PadParamsC(rank, (c_int32 * MAX_RANK)(*before), (c_int32 * MAX_RANK)(*after), int(p.pad_value))


def pad(x: npt.ArrayLike, p: PadParams) -> npt.NDArray[np.int8]:
    """PAD / PADV2: rank <= 4, ``p.paddings`` = ((before, after),) * rank."""
    xa = _i8(x)
    rank = xa.ndim
    if not 1 <= rank <= MAX_RANK or len(p.paddings) != rank:
        raise ValueError(f"pad: rank {rank} with paddings {p.paddings}")
    pp = pad_struct(p)
    shape = tuple(s + b + a for s, b, a in zip(xa.shape, pp.before, pp.after))
    out = np.empty(shape, dtype=np.int8)
    in_shape = _i32(list(xa.shape))
    _call("kt_pad_s8", _ref(pp), _ptr(in_shape), _ptr(xa), _ptr(out))
    return out


def transpose(x: npt.ArrayLike, p: TransposeParams) -> npt.NDArray[np.int8]:
    """TRANSPOSE: output axis i is input axis p.perm[i]; rank <= 4."""
    xa = _i8(x)
    rank = xa.ndim
    if not 1 <= rank <= MAX_RANK or len(p.perm) != rank:
        raise ValueError(f"transpose: rank {rank} with perm {p.perm}")
    perm = [int(v) for v in p.perm] + [0] * (MAX_RANK - rank)
    tp = TransposeParamsC(rank, (c_int32 * MAX_RANK)(*perm))
    if sorted(p.perm) != list(range(rank)):
        raise ValueError(f"transpose: {p.perm} is not a permutation of 0..{rank - 1}")
    out = np.empty(tuple(xa.shape[i] for i in p.perm), dtype=np.int8)
    in_shape = _i32(list(xa.shape))
    _call("kt_transpose_s8", _ref(tp), _ptr(in_shape), _ptr(xa), _ptr(out))
    return out


def softmax(x: npt.ArrayLike, p: SoftmaxParams) -> npt.NDArray[np.int8]:
    """SOFTMAX int8 -> int8 over the last axis (output scale 1/256, zero point -128)."""
    xa = _i8(x)
    depth = xa.shape[-1] if xa.ndim else 1
    rows = xa.size // depth if depth else 0
    out = np.empty(xa.shape, dtype=np.int8)
    sp = SoftmaxParamsC(p.input_multiplier, p.input_left_shift, p.diff_min)
    _call("kt_softmax_s8", _ref(sp), rows, depth, _ptr(xa), _ptr(out))
    return out
