"""Test helpers: build small TFLite flatbuffers (via the schema object API shipped with
``tflite-micro``) and run them in TFLite Micro, the oracle."""

from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

_TYPES = {
    "int8": fb.TensorType.INT8,
    "int32": fb.TensorType.INT32,
    "int64": fb.TensorType.INT64,
    "float32": fb.TensorType.FLOAT32,
}
_NP = {"int8": np.int8, "int32": np.int32, "int64": np.int64, "float32": np.float32}
_ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


class ModelBuilder:
    """Accumulate tensors and ops of one subgraph; :meth:`build` returns the .tflite bytes."""

    def __init__(self) -> None:
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [fb.BufferT()]
        self.opcodes: list[int] = []
        self.ops: list[Any] = []

    def tensor(
        self,
        shape: tuple[int, ...],
        dtype: str = "int8",
        scale: Any = None,
        zp: Any = None,
        qdim: int = 0,
        data: np.ndarray | None = None,
        name: str | None = None,
    ) -> int:
        t = fb.TensorT()
        t.shape = [int(s) for s in shape]
        t.type = _TYPES[dtype]
        t.name = name or f"t{len(self.tensors)}"
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(scale)]
            q.zeroPoint = [int(z) for z in np.atleast_1d(zp if zp is not None else np.zeros(len(q.scale), int))]
            q.quantizedDimension = qdim
            t.quantization = q
        if data is not None:
            b = fb.BufferT()
            b.data = np.ascontiguousarray(np.asarray(data, dtype=_NP[dtype])).view(np.uint8).reshape(-1)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], opt_type: int = 0, opt: Any = None) -> None:
        if code not in self.opcodes:
            self.opcodes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex = self.opcodes.index(code)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opt
        self.ops.append(o)

    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        sg = fb.SubGraphT()
        sg.tensors = self.tensors
        sg.operators = self.ops
        sg.inputs = list(inputs)
        sg.outputs = list(outputs)
        m = fb.ModelT()
        m.version = 3
        m.subgraphs = [sg]
        m.buffers = self.buffers
        codes = []
        for c in self.opcodes:
            oc = fb.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            codes.append(oc)
        m.operatorCodes = codes
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def act_code(name: str) -> int:
    return _ACT[name]


def tflm_run(model: bytes, x: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, Any]:
    """Run model bytes in TFLM (all tensors preserved); returns (output 0, interpreter)."""
    it = runtime.Interpreter.from_bytes(
        model,
        arena_size=max(len(model) * 10, 1 << 20),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )
    xs = x if isinstance(x, list) else [x]
    for i, a in enumerate(xs):
        it.set_input(a, i)
    it.invoke()
    return it.get_output(0), it


def graph_to_tflite(g: Any) -> bytes:
    """Write a kilotrain IR graph (conv/dwconv/add/mean/fc/softmax/reshape, SAME or VALID
    padding) back to .tflite bytes, so TFLM can run Python-built models."""
    from kilotrain.model.geometry import compute_out_size, compute_padding

    b = ModelBuilder()
    ids: dict[int, int] = {}

    def tid(i: int) -> int:
        if i < 0:
            return -1
        if i not in ids:
            t = g.tensors[i]
            ids[i] = b.tensor(
                t.shape, t.dtype, scale=t.scale, zp=t.zero_point, qdim=t.quantized_dimension, data=t.data, name=t.name
            )
        return ids[i]

    for i in range(len(g.tensors)):  # same tensor ids as the IR
        tid(i)
    for op in g.ops:
        ins = [tid(i) for i in op.inputs]
        outs = [tid(i) for i in op.outputs]
        p = op.params
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, w, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
            k = w.shape[1:3]
            same = all(
                compute_out_size("SAME", x.shape[1 + d], k[d], p.stride[d], p.dilation[d]) == y.shape[1 + d]
                and compute_padding(p.stride[d], p.dilation[d], x.shape[1 + d], k[d], y.shape[1 + d]) == p.padding[d]
                for d in (0, 1)
            )
            if op.kind == "CONV_2D":
                o, code, ot = fb.Conv2DOptionsT(), fb.BuiltinOperator.CONV_2D, fb.BuiltinOptions.Conv2DOptions
            else:
                o, code, ot = (
                    fb.DepthwiseConv2DOptionsT(),
                    fb.BuiltinOperator.DEPTHWISE_CONV_2D,
                    fb.BuiltinOptions.DepthwiseConv2DOptions,
                )
                o.depthMultiplier = p.depth_multiplier
            o.padding = fb.Padding.SAME if same else fb.Padding.VALID
            o.strideH, o.strideW = p.stride
            o.dilationHFactor, o.dilationWFactor = p.dilation
            o.fusedActivationFunction = act_code(op.activation)
            b.op(code, ins, outs, ot, o)
        elif op.kind == "ADD":
            o = fb.AddOptionsT()
            o.fusedActivationFunction = act_code(op.activation)
            b.op(fb.BuiltinOperator.ADD, ins, outs, fb.BuiltinOptions.AddOptions, o)
        elif op.kind == "MEAN":
            o = fb.ReducerOptionsT()
            o.keepDims = len(g.tensors[op.outputs[0]].shape) == 4
            b.op(fb.BuiltinOperator.MEAN, ins, outs, fb.BuiltinOptions.ReducerOptions, o)
        elif op.kind == "FULLY_CONNECTED":
            o = fb.FullyConnectedOptionsT()
            o.fusedActivationFunction = act_code(op.activation)
            b.op(fb.BuiltinOperator.FULLY_CONNECTED, ins, outs, fb.BuiltinOptions.FullyConnectedOptions, o)
        else:
            raise NotImplementedError(op.kind)
    return b.build([ids[i] for i in g.inputs], [ids[i] for i in g.outputs])
