"""Code generator: turn an IR graph into C for the firmware (a jinja2 template).

Output (written into the build tree by :func:`kilotrain.device.firmware.build_firmware`, never
committed): ``kt_model.c`` with the constant tables (weights, biases, per-channel multipliers and
shifts, in flash), one static arena of the size the memory planner computed, and
``kt_model_invoke()``: a straight-line list of kernel calls with every dimension and parameter a
compile-time constant. Its interface is include/kt_model.h.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain import __version__
from kilotrain.codegen.emit import CFile, dims4, template_env, tile
from kilotrain.codegen.memory_plan import MemoryPlan, plan
from kilotrain.contract import C_API_VERSION
from kilotrain.kernels.cstructs import (
    AddParamsC,
    ConvParamsC,
    DwConvParamsC,
    FcParamsC,
    MeanParamsC,
    ModelDescC,
    PackedFilterC,
    PoolParamsC,
    SoftmaxParamsC,
    initializer,
)
from kilotrain.kernels.packed import pack_conv
from kilotrain.model.ir import Graph, ModelError, Op


@dataclass
class _Emit:
    """Per-op C text: declarations (file scope) and the kernel call."""

    index: int
    kind: str
    comment: str = ""
    decls: list[str] = field(default_factory=list)
    call: str = ""
    #: the call's parameter records and tables by role (params, quant, filter_dims, filter, bias):
    #: what a fused row-streamed stage (codegen/rows.py) refers to instead of the call
    args: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return f"op{self.index}"


def _act(p: Any) -> dict[str, int]:
    return {"min": int(p.act_min), "max": int(p.act_max)}


def _conv_fields(p: Any) -> dict[str, Any]:
    """The kt_conv_params fields of a CONV_2D's or DEPTHWISE_CONV_2D's parameters (a depthwise
    record adds its depth multiplier)."""
    return {
        "stride": tile(p.stride),
        "padding": tile(p.padding),
        "dilation": tile(p.dilation),
        "input_offset": p.input_offset,
        "output_offset": p.output_offset,
        "activation": _act(p),
    }


def _conv(gen: CFile, op: Op, e: _Emit) -> None:
    p, o, d = op.params, e.owner, e.decls
    x, f, b = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1
    y = op.outputs[0]
    dw = op.kind == "DEPTHWISE_CONV_2D"
    if not dw and gen.packable(op):
        _conv_packed(gen, op, e)
        return
    q = gen.quant_struct(d, o, "q", p.multiplier, p.shift)
    fields = _conv_fields(p)
    if dw:
        fields["depth_multiplier"] = p.depth_multiplier
    pp = gen.struct(d, o, "p", DwConvParamsC if dw else ConvParamsC, fields)
    xd, fd, yd = (
        gen.dims(d, o, "in", gen.shape(x)),
        gen.dims(d, o, "f", gen.shape(f)),
        gen.dims(d, o, "out", gen.shape(y)),
    )
    fn = "kt_depthwise_conv2d_s8" if dw else "kt_conv2d_s8"
    fs = gen.split_filter(d, o, f)
    if fs is not None:  # updated rows in SRAM, frozen rows in flash
        fn = "kt_conv2d_split_s8"
    e.comment = f"{gen.shape(x)} -> {gen.shape(y)}, filter {gen.shape(f)}"
    e.args = {"params": pp, "quant": q, "filter_dims": fd, "filter": gen.ptr(f), "bias": gen.ptr(b)}
    e.call = f"{fn}({pp}, {q}, {xd}, {gen.ptr(x)}, {fd}, {fs or gen.ptr(f)}, {gen.ptr(b)}, {yd}, {gen.ptr(y)})"


def _conv_packed(gen: CFile, op: Op, e: _Emit) -> None:
    """A frozen CONV_2D through kt_conv2d_packed_s8: its filter, bias and requantization become one
    packed table (kilotrain.kernels.packed), and the int8 filter is emitted only if another
    kernel (an input gradient) reads it. A trained bias stays out of the table: the kernel adds
    it from SRAM."""
    p, o, d = op.params, e.owner, e.decls
    x, f, b, y = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1, op.outputs[0]
    trained_bias = b >= 0 and b in gen.trainable
    folded = None if b < 0 or trained_bias else gen.g.tensors[b].values
    records, k = pack_conv(gen.g.tensors[f].values, folded, p)
    table = gen.packed(f, records)
    pf = gen.struct(d, o, "packed", PackedFilterC, {"records": table, "k": k})
    pp = gen.struct(d, o, "p", ConvParamsC, _conv_fields(p))
    xd, fd, yd = (
        gen.dims(d, o, "in", gen.shape(x)),
        gen.dims(d, o, "f", gen.shape(f)),
        gen.dims(d, o, "out", gen.shape(y)),
    )
    e.comment = f"{gen.shape(x)} -> {gen.shape(y)}, filter {gen.shape(f)} packed (k = {k})"
    bias = gen.ptr(b) if trained_bias else "NULL"
    e.args = {"params": pp, "filter_dims": fd, "packed": pf, "bias": bias}
    e.call = f"kt_conv2d_packed_s8({pp}, {pf}, {bias}, {xd}, {gen.ptr(x)}, {fd}, {yd}, {gen.ptr(y)})"


def _fc(gen: CFile, op: Op, e: _Emit) -> None:
    p, o, d = op.params, e.owner, e.decls
    x, w, b, y = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1, op.outputs[0]
    cout, cin = gen.shape(w)
    batch = int(np.prod(gen.shape(x))) // cin
    per_channel = int(np.atleast_1d(p.multiplier).size != 1)
    q = gen.quant_struct(d, o, "q", p.multiplier, p.shift)
    pp = gen.struct(
        d,
        o,
        "p",
        FcParamsC,
        {
            "input_offset": p.input_offset,
            "output_offset": p.output_offset,
            "per_channel": per_channel,
            "activation": _act(p),
        },
    )
    xd, fd = gen.dims(d, o, "in", (batch, 1, 1, cin)), gen.dims(d, o, "f", (cout, 1, 1, cin))
    yd = gen.dims(d, o, "out", (batch, 1, 1, cout))
    e.comment = f"{cin} -> {cout}"
    fs = gen.split_filter(d, o, w)
    fn = "kt_fully_connected_s8" if fs is None else "kt_fully_connected_split_s8"
    e.call = f"{fn}({pp}, {q}, {xd}, {gen.ptr(x)}, {fd}, {fs or gen.ptr(w)}, {gen.ptr(b)}, {yd}, {gen.ptr(y)})"


def _add(gen: CFile, op: Op, e: _Emit) -> None:
    p, o, d = op.params, e.owner, e.decls
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    names = (
        "input1_offset",
        "input2_offset",
        "output_offset",
        "left_shift",
        "input1_multiplier",
        "input1_shift",
        "input2_multiplier",
        "input2_shift",
        "output_multiplier",
        "output_shift",
    )
    pp = gen.struct(d, o, "p", AddParamsC, {**{n: getattr(p, n) for n in names}, "activation": _act(p)})
    ad, bd, yd = (
        gen.dims(d, o, "a", gen.shape(a)),
        gen.dims(d, o, "b", gen.shape(b)),
        gen.dims(d, o, "out", gen.shape(y)),
    )
    e.args = {"params": pp}
    e.call = f"kt_add_s8({pp}, {ad}, {gen.ptr(a)}, {bd}, {gen.ptr(b)}, {yd}, {gen.ptr(y)})"


def _avg_pool(gen: CFile, op: Op, e: _Emit) -> None:
    p, o, d = op.params, e.owner, e.decls
    x, y = op.inputs[0], op.outputs[0]
    pp = gen.struct(
        d,
        o,
        "p",
        PoolParamsC,
        {"filter": tile(p.filter), "stride": tile(p.stride), "padding": tile(p.padding), "activation": _act(p)},
    )
    xd, yd = gen.dims(d, o, "in", gen.shape(x)), gen.dims(d, o, "out", gen.shape(y))
    e.call = f"kt_avg_pool_s8({pp}, {xd}, {gen.ptr(x)}, {yd}, {gen.ptr(y)})"


def _mean(gen: CFile, op: Op, e: _Emit) -> None:
    p, o, d = op.params, e.owner, e.decls
    x, y = op.inputs[0], op.outputs[0]
    n, _, _, c = dims4(gen.shape(x))
    pp = gen.struct(
        d,
        o,
        "p",
        MeanParamsC,
        {
            "input_offset": p.input_offset,
            "output_offset": p.output_offset,
            "multiplier": p.multiplier,
            "shift": p.shift,
        },
    )
    xd, yd = gen.dims(d, o, "in", gen.shape(x)), gen.dims(d, o, "out", (n, 1, 1, c))
    e.call = f"kt_mean_s8({pp}, {xd}, {gen.ptr(x)}, {yd}, {gen.ptr(y)})"


def _pad(gen: CFile, op: Op, e: _Emit) -> None:
    pp, shape = gen.byte_move(e.decls, e.owner, op)
    e.call = f"kt_pad_s8({pp}, {shape}, {gen.ptr(op.inputs[0])}, {gen.ptr(op.outputs[0])})"


def _transpose(gen: CFile, op: Op, e: _Emit) -> None:
    pp, shape = gen.byte_move(e.decls, e.owner, op)
    e.call = f"kt_transpose_s8({pp}, {shape}, {gen.ptr(op.inputs[0])}, {gen.ptr(op.outputs[0])})"


def _softmax(gen: CFile, op: Op, e: _Emit) -> None:
    p, o, d = op.params, e.owner, e.decls
    x, y = op.inputs[0], op.outputs[0]
    shape = gen.shape(x)
    depth = shape[-1]
    rows = int(np.prod(shape)) // depth
    pp = gen.struct(
        d,
        o,
        "p",
        SoftmaxParamsC,
        {"input_multiplier": p.input_multiplier, "input_left_shift": p.input_left_shift, "diff_min": p.diff_min},
    )
    e.call = f"kt_softmax_s8({pp}, {rows}, {depth}, {gen.ptr(x)}, {gen.ptr(y)})"


def _reshape(gen: CFile, op: Op, e: _Emit) -> None:
    e.comment = "(an alias in the memory plan: no code)"


EMITTERS: dict[str, Callable[[CFile, Op, _Emit], None]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "FULLY_CONNECTED": _fc,
    "ADD": _add,
    "AVERAGE_POOL_2D": _avg_pool,
    "MEAN": _mean,
    "PAD": _pad,
    "PADV2": _pad,
    "TRANSPOSE": _transpose,
    "SOFTMAX": _softmax,
    "RESHAPE": _reshape,
}


@dataclass(frozen=True)
class Generated:
    """What the generator wrote and the plan behind it."""

    directory: Path
    source: Path
    plan: MemoryPlan
    const_bytes: int
    digest: str  # sha256 of the generated C: names a build directory per model


def emit_forward(gen: CFile) -> list[_Emit]:
    """One _Emit per graph op, in execution order."""
    emits = []
    for k, op in enumerate(gen.g.ops):
        fn = EMITTERS.get(op.kind)
        if fn is None:
            raise ModelError(
                f"op {op.index} ({op.kind}): the code generator does not support this op; "
                f"supported: {', '.join(EMITTERS)}"
            )
        e = _Emit(index=k, kind=op.kind)
        fn(gen, op, e)
        emits.append(e)
    return emits


def digest64(hexdigest: str) -> int:
    """The 64-bit form of a SHA-256 digest the firmware carries (its first 8 bytes, big-endian):
    what INFO reports as model_digest / train_digest."""
    return int(hexdigest[:16], 16) if hexdigest else 0


def input_geometry(g: Graph) -> tuple[int, int, int]:
    """(height, width, channels) of the graph input: NHWC, or 1 x 1 x features."""
    shape = [int(d) for d in g.input.shape]
    if len(shape) == 4:
        return shape[1], shape[2], shape[3]
    return 1, 1, int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]


def model_context(
    gen: CFile, emits: list[_Emit], source_name: str, train_digest: str = "", classes: int | None = None
) -> dict[str, Any]:
    """Template variables of kt_model.c.j2 (call after every pointer has been emitted).
    ``train_digest``: the training plan's (:meth:`TrainPlan.digest`), empty for an inference image;
    ``classes``: the classifier's outputs (default: the graph output's size)."""
    g, mp = gen.g, gen.mp
    h, w, c = input_geometry(g)
    scale_bits = struct.unpack("<I", struct.pack("<f", g.input.s))[0] if g.input.scale is not None else 0
    zp = g.input.zp if g.input.zero_point is not None else 0
    return {
        "version": __version__,
        "source": source_name,
        "arena_size": max(mp.arena_size, 16),
        "const_bytes": gen.const_bytes,
        "abi_version": C_API_VERSION,
        "input_offset": mp.offset(g.inputs[0]),
        "output_offset": mp.offset(g.outputs[0]),
        "input_size": int(np.prod(g.input.shape)),
        "output_size": int(np.prod(g.output.shape)),
        "consts": list(gen.consts.values()),
        "input_stream": None,  # a row-streamed input: the kt_rows_plan that receives it
        "ops": emits,
        "model_desc": initializer(
            ModelDescC,
            {
                "name": f'"{Path(source_name).stem}"',
                "arena_size": max(mp.arena_size, 16),
                "input_size": int(np.prod(g.input.shape)),
                "output_size": int(np.prod(g.output.shape)),
                "op_count": len(emits),
                "model_digest": f"0x{digest64(g.digest()):016X}ull",
                "train_digest": f"0x{digest64(train_digest):016X}ull",
                "input_height": h,
                "input_width": w,
                "input_channels": c,
                "input_zero_point": zp,
                "input_scale_f32": f"0x{scale_bits:08X}u",
                "classes": int(np.prod(g.output.shape[1:])) if classes is None else classes,
            },
        ),
    }


def render(graph: Graph, source_name: str) -> tuple[str, MemoryPlan, int]:
    """The generated C text, the memory plan and the constant bytes."""
    gen = CFile(graph, plan(graph))
    emits = emit_forward(gen)
    text = template_env().get_template("kt_model.c.j2").render(**model_context(gen, emits, source_name))
    return text, gen.mp, gen.const_bytes
