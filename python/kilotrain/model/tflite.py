"""TFLite flatbuffer -> :class:`kilotrain.model.ir.Graph`, deriving every kernel parameter the way
TFLite Micro's ``Prepare`` does (see docs/numerics.md, "Forward: the TFLite int8 contract").

Supported: one subgraph of int8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD,
AVERAGE_POOL_2D, MEAN (over H and W), PAD, PADV2, TRANSPOSE, SOFTMAX and RESHAPE, with int8
per-tensor activations, int8 symmetric (per-channel or per-tensor) weights and int32 biases.
Anything else raises :class:`kilotrain.model.ir.ModelError` naming the op (index and opcode), the
tensor and what is supported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from kilotrain.model.geometry import compute_out_size, compute_padding
from kilotrain.model.ir import Graph, ModelError, Op, Tensor
from kilotrain.model.ops import SUPPORTED_OPS
from kilotrain.model.params import (
    AvgPoolParams,
    ConvParams,
    DepthwiseConvParams,
    FullyConnectedParams,
    PadParams,
    ReshapeParams,
    TransposeParams,
)
from kilotrain.model.quantize import (
    activation_range,
    add_params,
    conv_multipliers,
    fc_multipliers,
    mean_params,
    softmax_params,
)

_OPCODE_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)
}
_TYPE_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_") and isinstance(v, int)
}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
_INT8 = tflite.TensorType.INT8
_INT32 = tflite.TensorType.INT32
_INT64 = tflite.TensorType.INT64


@dataclass
class _RawTensor:
    name: str
    shape: tuple[int, ...]
    type: int
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    qdim: int
    data: bytes | None

    @property
    def zp_int(self) -> int:
        assert self.zero_point is not None
        return int(self.zero_point[0])


def load_tflite(path: str | Path) -> Graph:
    """Read a .tflite file into a Graph. Raises ModelError, one line naming the file, for anything
    unreadable or unsupported."""
    p = Path(path)
    try:
        buf = p.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model {p}: {e.strerror or e}") from None
    return read_tflite(buf, name=p.stem, where=str(p))


#: What reading a corrupt flatbuffer can raise (out-of-range offsets, bad lengths, bad UTF-8).
_CORRUPT = (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, OverflowError)


def read_tflite(buf: bytes, name: str = "", where: str = "") -> Graph:
    """Parse TFLite flatbuffer bytes into a Graph (see :func:`load_tflite`); ``where`` names the
    source in messages (default: ``name``)."""
    where = where or name or "model"
    buf = bytes(buf)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{where}: not a TFLite flatbuffer (no 'TFL3' file identifier in the first 8 bytes)")
    try:
        tensors, ops_raw, inputs, outputs = _parse(buf)
        _check_quantization(tensors)
        return _build(tensors, ops_raw, inputs, outputs, name)
    except ModelError as e:
        raise ModelError(f"{where}: {e}") from None
    except RecursionError:
        raise ModelError(f"{where}: corrupt TFLite file (its tables nest without end)") from None
    except _CORRUPT as e:
        raise ModelError(
            f"{where}: truncated or corrupt TFLite file ({len(buf)} bytes; reading it failed: {e})"
        ) from None


def _check_quantization(tensors: list[_RawTensor]) -> None:
    """Every scale a positive finite number, every zero point an int8 value, one per channel at most."""
    for i, r in enumerate(tensors):
        if r.scale is None:
            continue
        if not np.all(np.isfinite(r.scale)) or not np.all(r.scale > 0):
            raise ModelError(
                f"tensor {i} '{r.name}': quantization scale {r.scale[:4].tolist()} is not a positive finite number"
            )
        if r.zero_point is not None and r.type == _INT8 and (np.any(r.zero_point < -128) or np.any(r.zero_point > 127)):
            raise ModelError(f"tensor {i} '{r.name}': zero point outside [-128, 127]")


def _parse(
    buf: bytes,
) -> tuple[list[_RawTensor], list[tuple[int, str, list[int], list[int], Any]], list[int], list[int]]:
    """Flatbuffer -> plain Python records; any out-of-range read raises (caught by the caller)."""
    m = tflite.Model.GetRootAsModel(buf, 0)
    n_sub = m.SubgraphsLength()
    if n_sub != 1:
        raise ModelError(f"model has {n_sub} subgraphs; kilotrain supports exactly one")
    g = m.Subgraphs(0)
    tensors: list[_RawTensor] = []
    for t_i in range(g.TensorsLength()):
        t = g.Tensors(t_i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        q = t.Quantization()
        scale = zp = None
        qdim = 0
        if q is not None and q.ScaleLength() > 0:
            scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).copy()
            zp = (
                np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).copy()
                if q.ZeroPointLength() > 0
                else np.zeros(scale.shape, dtype=np.int64)
            )
            qdim = int(q.QuantizedDimension())
        data = None
        b_i = t.Buffer()
        if b_i > 0:
            b = m.Buffers(b_i)
            off, size = int(b.Offset()), int(b.Size())
            if off > 1:
                if off + size > len(buf):
                    raise ModelError("truncated TFLite file: a buffer extends past the end of the file")
                data = buf[off : off + size]
            elif b.DataLength() > 0:
                arr = b.DataAsNumpy()
                data = arr.tobytes()
        raw_name = t.Name()
        tensors.append(
            _RawTensor(raw_name.decode("utf-8") if raw_name else f"t{t_i}", shape, int(t.Type()), scale, zp, qdim, data)
        )
    ops_raw = []
    for o_i in range(g.OperatorsLength()):
        o = g.Operators(o_i)
        oc = m.OperatorCodes(o.OpcodeIndex())
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        kind = _OPCODE_NAMES.get(code, f"BUILTIN_{code}")
        if kind == "CUSTOM":
            cc = oc.CustomCode()
            kind = f"CUSTOM({cc.decode() if cc else '?'})"
        ins = [int(v) for v in o.InputsAsNumpy()] if o.InputsLength() else []
        outs = [int(v) for v in o.OutputsAsNumpy()] if o.OutputsLength() else []
        for v in ins + outs:
            if not -1 <= v < len(tensors) or (v == -1 and v in outs):
                raise ModelError(
                    f"op {o_i} ({kind}) refers to tensor {v}; expected 0..{len(tensors) - 1} (-1: an absent input)"
                )
        opts = o.BuiltinOptions()
        ops_raw.append((o_i, kind, ins, outs, (int(o.BuiltinOptionsType()), opts)))
    inputs = [int(v) for v in g.InputsAsNumpy()] if g.InputsLength() else []
    outputs = [int(v) for v in g.OutputsAsNumpy()] if g.OutputsLength() else []
    for role, ids in (("input", inputs), ("output", outputs)):
        if not ids:
            raise ModelError(f"the graph has no {role}")
        for v in ids:
            if not 0 <= v < len(tensors):
                raise ModelError(f"graph {role} tensor {v}; expected 0..{len(tensors) - 1}")
    return tensors, ops_raw, inputs, outputs


def _options(cls: Any, opts: tuple[int, Any]) -> Any:
    table = opts[1]
    o = cls()
    if table is not None:
        o.Init(table.Bytes, table.Pos)
        return o
    return None


# ----------------------------------------------------------------------------- TFLM geometry


# ----------------------------------------------------------------------------- TFLM Prepare formulas
# Shared with kilotrain.model.zoo so Python-built models get exactly the importer's parameters.


# ----------------------------------------------------------------------------- builder


class _Ctx:
    """Per-op validation helpers producing one clear error message."""

    def __init__(self, raw: list[_RawTensor], op_index: int, kind: str) -> None:
        self.raw = raw
        self.i = op_index
        self.kind = kind

    def fail(self, msg: str) -> ModelError:
        return ModelError(f"op {self.i} ({self.kind}): {msg}")

    def desc(self, t: int) -> str:
        r = self.raw[t]
        return f"tensor {t} '{r.name}' ({_TYPE_NAMES.get(r.type, r.type)}, shape {list(r.shape)})"

    def act(self, t: int, role: str) -> _RawTensor:
        """An int8 per-tensor-quantized activation."""
        r = self.raw[t]
        if r.type != _INT8:
            raise self.fail(
                f"{role} {self.desc(t)} has type {_TYPE_NAMES.get(r.type, r.type)}; "
                f"supported: INT8 activations with per-tensor quantization"
            )
        if r.scale is None or r.scale.size != 1:
            n = 0 if r.scale is None else r.scale.size
            raise self.fail(f"{role} {self.desc(t)} has {n} scales; supported: per-tensor int8 quantization (1 scale)")
        if not (-128 <= int(r.zero_point[0]) <= 127):  # type: ignore[index]
            raise self.fail(f"{role} {self.desc(t)} zero point {int(r.zero_point[0])} outside [-128, 127]")  # type: ignore[index]
        if not float(r.scale[0]) > 0:
            raise self.fail(f"{role} {self.desc(t)} has non-positive scale {float(r.scale[0])}")
        return r

    def weights(self, t: int, qdim: int, channels: int) -> np.ndarray:
        r = self.raw[t]
        if r.type != _INT8:
            raise self.fail(
                f"weights {self.desc(t)} have type {_TYPE_NAMES.get(r.type, r.type)}; supported: INT8 symmetric weights"
            )
        if r.data is None:
            raise self.fail(f"weights {self.desc(t)} are not constant; supported: constant weights")
        if r.scale is None or r.scale.size not in (1, channels):
            raise self.fail(f"weights {self.desc(t)} need 1 or {channels} scales")
        if r.scale.size > 1 and r.qdim != qdim:
            raise self.fail(f"weights {self.desc(t)} quantized along dimension {r.qdim}; supported: {qdim}")
        if np.any(r.zero_point != 0):
            raise self.fail(f"weights {self.desc(t)} have non-zero zero points; supported: symmetric int8 weights")
        return self.const_array(t, np.int8)

    def bias(self, t: int, channels: int) -> np.ndarray | None:
        if t < 0:
            return None
        r = self.raw[t]
        if r.type != _INT32 or r.data is None:
            raise self.fail(f"bias {self.desc(t)}: supported: constant INT32 bias")
        b = self.const_array(t, np.int32)
        if b.size != channels:
            raise self.fail(f"bias {self.desc(t)} has {b.size} values for {channels} channels")
        return b.reshape(channels)

    def const_array(self, t: int, dtype: Any) -> np.ndarray:
        r = self.raw[t]
        if r.data is None:
            raise self.fail(f"{self.desc(t)} must be constant")
        count = int(np.prod(r.shape)) if r.shape else 1
        itemsize = np.dtype(dtype).itemsize
        if len(r.data) != count * itemsize:
            raise self.fail(f"{self.desc(t)}: {len(r.data)} data bytes for {count} values (truncated or corrupt file)")
        return np.frombuffer(r.data, dtype=dtype).reshape(r.shape).copy()

    def int_const(self, t: int) -> np.ndarray:
        """A constant INT32/INT64 index tensor (shape, axis, perm, paddings) as int64."""
        r = self.raw[t]
        if r.type == _INT32:
            return self.const_array(t, np.int32).astype(np.int64)
        if r.type == _INT64:
            return self.const_array(t, np.int64)
        raise self.fail(f"{self.desc(t)}: supported: constant INT32 or INT64 index tensor")

    def activation(self, code: int) -> str:
        if code not in _ACTIVATIONS:
            raise self.fail(f"fused activation {code} not supported; supported: NONE, RELU, RELU6, RELU_N1_TO_1")
        return _ACTIVATIONS[code]


def _padding_name(code: int) -> str:
    return "SAME" if code == tflite.Padding.SAME else "VALID"


def _build(
    raw: list[_RawTensor],
    ops_raw: list[tuple[int, str, list[int], list[int], Any]],
    inputs: list[int],
    outputs: list[int],
    name: str,
) -> Graph:
    ops: list[Op] = []
    for o_i, kind, ins, outs, opts in ops_raw:
        c = _Ctx(raw, o_i, kind)
        if kind not in SUPPORTED_OPS:
            raise c.fail(f"unsupported operator; supported: {', '.join(SUPPORTED_OPS)}")
        if not outs:
            raise c.fail("has no output")
        builder = _BUILDERS[kind]
        ops.append(builder(c, ins, outs, opts))
        ops[-1].index = o_i
    tensors = []
    for r in raw:
        if r.type == _INT8:
            dtype = "int8"
        elif r.type in (_INT32, _INT64):
            dtype = "int32"
        else:
            dtype = _TYPE_NAMES.get(r.type, str(r.type)).lower()
        data = None
        if r.data is not None and r.type in (_INT8, _INT32, _INT64):
            np_t = {_INT8: np.int8, _INT32: np.int32, _INT64: np.int64}[r.type]
            count = int(np.prod(r.shape)) if r.shape else 1
            if len(r.data) == count * np.dtype(np_t).itemsize:
                data = np.frombuffer(r.data, dtype=np_t).reshape(r.shape)
                if np_t is np.int64:
                    data = data.astype(np.int32)
                data = data.copy()
        tensors.append(Tensor(r.name, r.shape, dtype, r.scale, r.zero_point, r.qdim, data))
    for t in inputs:
        r = raw[t]
        if r.type != _INT8:
            raise ModelError(
                f"graph input tensor {t} '{r.name}' has type {_TYPE_NAMES.get(r.type, r.type)}; supported: INT8"
            )
    for t in outputs:
        r = raw[t]
        if r.type != _INT8:
            raise ModelError(
                f"graph output tensor {t} '{r.name}' has type {_TYPE_NAMES.get(r.type, r.type)}; supported: INT8"
            )
    g = Graph(tensors=tensors, ops=ops, inputs=list(inputs), outputs=list(outputs), name=name)
    g.number_convs()
    return g


def _n_inputs(c: _Ctx, ins: list[int], lo: int, hi: int) -> None:
    if not lo <= len(ins) <= hi:
        raise c.fail(f"has {len(ins)} inputs; expected {lo}..{hi}")


def _conv_like(c: _Ctx, ins: list[int], outs: list[int], opts: Any, depthwise: bool) -> Op:
    _n_inputs(c, ins, 2, 3)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise c.fail("supported: 4-D NHWC input and output")
    fshape = c.raw[ins[1]].shape
    if len(fshape) != 4:
        raise c.fail(f"filter {c.desc(ins[1])} is not 4-D")
    if depthwise:
        o = _options(tflite.DepthwiseConv2DOptions, opts)
        cout = fshape[3]
        c.weights(ins[1], 3, cout)
        if fshape[0] != 1:
            raise c.fail(f"depthwise filter {c.desc(ins[1])} must have shape (1, KH, KW, Cout)")
    else:
        o = _options(tflite.Conv2DOptions, opts)
        cout = fshape[0]
        c.weights(ins[1], 0, cout)
    if o is None:
        raise c.fail("missing builtin options")
    c.bias(ins[2] if len(ins) > 2 else -1, cout)
    n, h, w, cin = x.shape
    kh, kw = fshape[1], fshape[2]
    stride = (int(o.StrideH()), int(o.StrideW()))
    dil = (int(o.DilationHFactor()) or 1, int(o.DilationWFactor()) or 1)
    pad_name = _padding_name(o.Padding())
    oh = compute_out_size(pad_name, h, kh, stride[0], dil[0])
    ow = compute_out_size(pad_name, w, kw, stride[1], dil[1])
    if tuple(y.shape) != (n, oh, ow, cout):
        raise c.fail(f"output {c.desc(outs[0])} does not match the computed shape {[n, oh, ow, cout]}")
    padding = (compute_padding(stride[0], dil[0], h, kh, oh), compute_padding(stride[1], dil[1], w, kw, ow))
    act = c.activation(o.FusedActivationFunction())
    act_min, act_max = activation_range(act, float(y.scale[0]), int(y.zero_point[0]))  # type: ignore[index]
    s_in = float(x.scale[0])  # type: ignore[index]
    s_out = float(y.scale[0])  # type: ignore[index]
    wscales = c.raw[ins[1]].scale
    assert wscales is not None
    mult, shift = conv_multipliers(s_in, wscales, s_out, cout)
    common = {
        "stride": stride,
        "padding": padding,
        "dilation": dil,
        "input_offset": -int(x.zero_point[0]),  # type: ignore[index]
        "output_offset": int(y.zero_point[0]),  # type: ignore[index]
        "multiplier": mult,
        "shift": shift,
        "act_min": act_min,
        "act_max": act_max,
    }
    if depthwise:
        if cout % cin != 0:
            raise c.fail(f"depthwise Cout {cout} is not a multiple of Cin {cin}")
        dm = cout // cin
        opt_dm = int(o.DepthMultiplier())
        if opt_dm not in (0, dm) and not (cin == cout):
            raise c.fail(f"depth_multiplier option {opt_dm} contradicts shapes (Cout {cout} / Cin {cin})")
        params: Any = DepthwiseConvParams(depth_multiplier=dm, **common)  # type: ignore[arg-type]
    else:
        if fshape[3] != cin:
            raise c.fail(f"filter Cin {fshape[3]} != input channels {cin}; grouped conv not supported")
        params = ConvParams(**common)  # type: ignore[arg-type]
    kind = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    return Op(kind, [*list(ins[:2]), ins[2] if len(ins) > 2 else -1], [outs[0]], params, act)


def _b_conv(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    return _conv_like(c, ins, outs, opts, depthwise=False)


def _b_dwconv(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    return _conv_like(c, ins, outs, opts, depthwise=True)


def _b_fc(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 2, 3)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    o = _options(tflite.FullyConnectedOptions, opts)
    if o is not None and int(o.WeightsFormat()) != 0:
        raise c.fail("shuffled weights format not supported; supported: DEFAULT")
    wshape = c.raw[ins[1]].shape
    if len(wshape) != 2:
        raise c.fail(f"weights {c.desc(ins[1])} are not 2-D (Cout, Cin)")
    cout, cin = wshape
    w = c.weights(ins[1], 0, cout)
    del w
    c.bias(ins[2] if len(ins) > 2 else -1, cout)
    if int(np.prod(x.shape)) % cin != 0:
        raise c.fail(f"input {c.desc(ins[0])} size is not a multiple of Cin {cin}")
    act = c.activation(o.FusedActivationFunction() if o is not None else 0)
    act_min, act_max = activation_range(act, float(y.scale[0]), int(y.zero_point[0]))  # type: ignore[index]
    wsc = c.raw[ins[1]].scale
    assert wsc is not None and x.scale is not None and y.scale is not None
    mult, shift = fc_multipliers(float(x.scale[0]), wsc, float(y.scale[0]))
    params = FullyConnectedParams(
        input_offset=-int(x.zero_point[0]),  # type: ignore[index]
        output_offset=int(y.zero_point[0]),  # type: ignore[index]
        multiplier=mult,
        shift=shift,
        act_min=act_min,
        act_max=act_max,
    )
    return Op("FULLY_CONNECTED", [ins[0], ins[1], ins[2] if len(ins) > 2 else -1], [outs[0]], params, act)


def _b_add(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 2, 2)
    a = c.act(ins[0], "input 1")
    b = c.act(ins[1], "input 2")
    y = c.act(outs[0], "output")
    o = _options(tflite.AddOptions, opts)
    act = c.activation(o.FusedActivationFunction() if o is not None else 0)
    assert a.scale is not None and b.scale is not None and y.scale is not None
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise c.fail(f"input shapes {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    try:
        params = add_params(float(a.scale[0]), a.zp_int, float(b.scale[0]), b.zp_int, float(y.scale[0]), y.zp_int, act)
    except ValueError as e:
        raise c.fail(f"scales not supported by TFLM's int8 ADD ({e})") from None
    return Op("ADD", [ins[0], ins[1]], [outs[0]], params, act)


def _b_avgpool(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 1, 1)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    o = _options(tflite.Pool2DOptions, opts)
    if o is None:
        raise c.fail("missing builtin options")
    if len(x.shape) != 4:
        raise c.fail("supported: 4-D NHWC input")
    n, h, w, ch = x.shape
    fh, fw = int(o.FilterHeight()), int(o.FilterWidth())
    stride = (int(o.StrideH()), int(o.StrideW()))
    pad_name = _padding_name(o.Padding())
    oh = compute_out_size(pad_name, h, fh, stride[0], 1)
    ow = compute_out_size(pad_name, w, fw, stride[1], 1)
    if tuple(y.shape) != (n, oh, ow, ch):
        raise c.fail(f"output {c.desc(outs[0])} does not match the computed shape {[n, oh, ow, ch]}")
    padding = (compute_padding(stride[0], 1, h, fh, oh), compute_padding(stride[1], 1, w, fw, ow))
    act = c.activation(o.FusedActivationFunction())
    act_min, act_max = activation_range(act, float(y.scale[0]), int(y.zero_point[0]))  # type: ignore[index]
    params = AvgPoolParams(filter=(fh, fw), stride=stride, padding=padding, act_min=act_min, act_max=act_max)
    return Op("AVERAGE_POOL_2D", [ins[0]], [outs[0]], params, act)


def _b_mean(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 2, 2)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    axis = c.int_const(ins[1]).reshape(-1)
    rank = len(x.shape)
    resolved = sorted({int(a) + rank if a < 0 else int(a) for a in axis})
    if rank != 4 or resolved != [1, 2]:
        raise c.fail(f"MEAN over axes {axis.tolist()} of a rank-{rank} tensor; supported: axes (1, 2) of NHWC")
    n, _, _, ch = x.shape
    if int(np.prod(y.shape)) != n * ch:
        raise c.fail(f"output {c.desc(outs[0])} does not hold N*C = {n * ch} values")
    assert x.scale is not None and y.scale is not None
    params = mean_params(float(x.scale[0]), x.zp_int, float(y.scale[0]), y.zp_int)
    return Op("MEAN", [ins[0], ins[1]], [outs[0]], params)


def _b_pad(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 2, 3)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    pads = c.int_const(ins[1])
    rank = len(x.shape)
    if pads.shape != (rank, 2) or np.any(pads < 0):
        raise c.fail(f"paddings {c.desc(ins[1])} must be non-negative with shape ({rank}, 2)")
    paddings = tuple((int(a), int(b)) for a, b in pads)
    want = tuple(d + a + b for d, (a, b) in zip(x.shape, paddings))
    if tuple(y.shape) != want:
        raise c.fail(f"output {c.desc(outs[0])} does not match the padded shape {list(want)}")
    if len(ins) > 2 and ins[2] >= 0:
        cv = c.raw[ins[2]]
        if cv.type != _INT8:
            raise c.fail(f"constant_values {c.desc(ins[2])}: supported: INT8 scalar")
        pad_value = int(c.const_array(ins[2], np.int8).reshape(-1)[0])
    else:
        pad_value = int(y.zero_point[0])  # type: ignore[index]
    return Op(c.kind, [ins[0], ins[1]], [outs[0]], PadParams(paddings=paddings, pad_value=pad_value))


def _b_transpose(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 2, 2)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    perm = tuple(int(v) for v in c.int_const(ins[1]).reshape(-1))
    if sorted(perm) != list(range(len(x.shape))):
        raise c.fail(f"perm {list(perm)} is not a permutation of {len(x.shape)} axes")
    if tuple(y.shape) != tuple(x.shape[p] for p in perm):
        raise c.fail(f"output {c.desc(outs[0])} does not match the permuted input shape")
    return Op("TRANSPOSE", [ins[0], ins[1]], [outs[0]], TransposeParams(perm=perm))


def _b_softmax(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 1, 1)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    assert x.scale is not None and y.scale is not None and y.zero_point is not None
    if int(y.zero_point[0]) != -128 or abs(float(y.scale[0]) - 1 / 256) > 0.001 / 256:
        raise c.fail(f"output {c.desc(outs[0])}: supported: int8 softmax output with scale 1/256, zero point -128")
    o = _options(tflite.SoftmaxOptions, opts)
    beta = float(np.float32(o.Beta())) if o is not None else 1.0
    try:
        params = softmax_params(float(x.scale[0]), beta)
    except ValueError as e:
        raise c.fail(f"input scale too small for TFLM's int8 softmax ({e})") from None
    return Op("SOFTMAX", [ins[0]], [outs[0]], params)


def _b_reshape(c: _Ctx, ins: list[int], outs: list[int], opts: Any) -> Op:
    _n_inputs(c, ins, 1, 2)
    x = c.act(ins[0], "input")
    y = c.act(outs[0], "output")
    if int(np.prod(x.shape)) != int(np.prod(y.shape)):
        raise c.fail(f"output {c.desc(outs[0])} has a different element count than the input")
    return Op("RESHAPE", [ins[0]], [outs[0]], ReshapeParams(shape=tuple(y.shape)))


_BUILDERS = {
    "CONV_2D": _b_conv,
    "DEPTHWISE_CONV_2D": _b_dwconv,
    "FULLY_CONNECTED": _b_fc,
    "ADD": _b_add,
    "AVERAGE_POOL_2D": _b_avgpool,
    "MEAN": _b_mean,
    "PAD": _b_pad,
    "PADV2": _b_pad,
    "TRANSPOSE": _b_transpose,
    "SOFTMAX": _b_softmax,
    "RESHAPE": _b_reshape,
}
