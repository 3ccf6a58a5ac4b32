"""Code generator: turn an IR graph into C for the firmware (a jinja2 template).

Output (written into the build tree by firmware_model.build_firmware, never committed):
``kt_model.c`` with the constant tables (weights, biases, per-channel multipliers and shifts, in flash), one static arena of the size
the memory planner computed, and ``kt_model_invoke()``: a straight-line list of kernel calls
with every dimension and parameter a compile-time constant. Its interface is include/kt_model.h.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2
import numpy as np

from kilotrain import __version__
from kilotrain.codegen.memory_plan import MemoryPlan, plan
from kilotrain.contract import MAX_RANK
from kilotrain.model.ir import Graph, ModelError, Op


def _c_values(a: np.ndarray) -> str:
    return ",".join(map(str, np.asarray(a).reshape(-1).tolist()))


def _dims4(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) > MAX_RANK:
        raise ModelError(f"tensor rank {len(shape)} > {MAX_RANK} is not supported by the C kernels")
    return (1,) * (MAX_RANK - len(shape)) + tuple(int(d) for d in shape)


@dataclass
class _Emit:
    """Per-op C text: declarations (file scope) and the kernel call."""

    index: int
    kind: str
    comment: str = ""
    decls: list[str] = field(default_factory=list)
    call: str = ""


class _Gen:
    """Names and pointers of the generated C. ``trainable`` tensors become SRAM arrays
    (``kt_p<id>``, initialised from flash at reset), every other constant a flash table."""

    def __init__(self, graph: Graph, mp: MemoryPlan, trainable: frozenset[int] = frozenset()) -> None:
        self.g, self.mp, self.trainable = graph, mp, trainable
        self.consts: dict[int, dict[str, Any]] = {}

    def ptr(self, t: int, const: bool = True) -> str:
        """C expression for tensor t's data."""
        if t < 0:
            return "NULL"
        tensor = self.g.tensors[t]
        if tensor.is_const:
            if t not in self.consts:
                ctype = "int8_t" if tensor.dtype == "int8" else "int32_t"
                data = np.asarray(tensor.data)
                train = t in self.trainable
                self.consts[t] = {"name": f"kt_p{t}" if train else f"kt_t{t}", "ctype": ctype,
                                  "count": max(data.size, 1), "trainable": train,
                                  "data": _c_values(data) if data.size else "0"}
            return self.consts[t]["name"]
        return f"&kt_arena[{self.mp.offset(t)}]"

    def shape(self, t: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.g.tensors[t].shape)

    @staticmethod
    def dims(name: str, shape: tuple[int, ...]) -> str:
        n, h, w, c = _dims4(shape)
        return f"static const kt_dims {name} = {{{n}, {h}, {w}, {c}}};"

    @staticmethod
    def quant(e: _Emit, mult: Any, shift: Any) -> str:
        m, s = np.atleast_1d(np.asarray(mult)), np.atleast_1d(np.asarray(shift))
        i = e.index
        e.decls += [
            f"static const int32_t op{i}_mult[{m.size}] = {{{_c_values(m)}}};",
            f"static const int32_t op{i}_shift[{s.size}] = {{{_c_values(s)}}};",
            f"static const kt_per_channel_quant op{i}_q = {{op{i}_mult, op{i}_shift}};",
        ]
        return f"&op{i}_q"


def _conv(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, f, b = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1
    y = op.outputs[0]
    q = gen.quant(e, p.multiplier, p.shift)
    dw = op.kind == "DEPTHWISE_CONV_2D"
    ptype = "kt_dw_conv_params" if dw else "kt_conv_params"
    extra = f"{p.depth_multiplier}, " if dw else ""
    e.decls += [
        f"static const {ptype} op{i}_p = {{{{{p.stride[0]}, {p.stride[1]}}}, {{{p.padding[0]}, {p.padding[1]}}}, "
        f"{{{p.dilation[0]}, {p.dilation[1]}}}, {extra}{p.input_offset}, {p.output_offset}, {{{p.act_min}, {p.act_max}}}}};",
        gen.dims(f"op{i}_in", gen.shape(x)), gen.dims(f"op{i}_f", gen.shape(f)), gen.dims(f"op{i}_out", gen.shape(y)),
    ]
    fn = "kt_depthwise_conv2d_s8" if dw else "kt_conv2d_s8"
    e.comment = f"{gen.shape(x)} -> {gen.shape(y)}, filter {gen.shape(f)}"
    e.call = (f"{fn}(&op{i}_p, {q}, &op{i}_in, {gen.ptr(x)}, &op{i}_f, {gen.ptr(f)}, {gen.ptr(b)}, "
              f"&op{i}_out, {gen.ptr(y)})")


def _fc(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, w, b, y = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1, op.outputs[0]
    cout, cin = gen.shape(w)
    batch = int(np.prod(gen.shape(x))) // cin
    per_channel = int(np.atleast_1d(p.multiplier).size != 1)
    q = gen.quant(e, p.multiplier, p.shift)
    e.decls += [
        f"static const kt_fc_params op{i}_p = {{{p.input_offset}, {p.output_offset}, {per_channel}, {{{p.act_min}, {p.act_max}}}}};",
        gen.dims(f"op{i}_in", (batch, 1, 1, cin)), gen.dims(f"op{i}_f", (cout, 1, 1, cin)),
        gen.dims(f"op{i}_out", (batch, 1, 1, cout)),
    ]
    e.comment = f"{cin} -> {cout}"
    e.call = (f"kt_fully_connected_s8(&op{i}_p, {q}, &op{i}_in, {gen.ptr(x)}, &op{i}_f, {gen.ptr(w)}, {gen.ptr(b)}, "
              f"&op{i}_out, {gen.ptr(y)})")


def _add(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    e.decls += [
        f"static const kt_add_params op{i}_p = {{{p.input1_offset}, {p.input2_offset}, {p.output_offset}, {p.left_shift}, "
        f"{p.input1_multiplier}, {p.input1_shift}, {p.input2_multiplier}, {p.input2_shift}, "
        f"{p.output_multiplier}, {p.output_shift}, {{{p.act_min}, {p.act_max}}}}};",
        gen.dims(f"op{i}_a", gen.shape(a)), gen.dims(f"op{i}_b", gen.shape(b)), gen.dims(f"op{i}_out", gen.shape(y)),
    ]
    e.call = f"kt_add_s8(&op{i}_p, &op{i}_a, {gen.ptr(a)}, &op{i}_b, {gen.ptr(b)}, &op{i}_out, {gen.ptr(y)})"


def _avg_pool(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, y = op.inputs[0], op.outputs[0]
    e.decls += [
        f"static const kt_pool_params op{i}_p = {{{{{p.filter[0]}, {p.filter[1]}}}, {{{p.stride[0]}, {p.stride[1]}}}, "
        f"{{{p.padding[0]}, {p.padding[1]}}}, {{{p.act_min}, {p.act_max}}}}};",
        gen.dims(f"op{i}_in", gen.shape(x)), gen.dims(f"op{i}_out", gen.shape(y)),
    ]
    e.call = f"kt_avg_pool_s8(&op{i}_p, &op{i}_in, {gen.ptr(x)}, &op{i}_out, {gen.ptr(y)})"


def _mean(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, y = op.inputs[0], op.outputs[0]
    n, _, _, c = _dims4(gen.shape(x))
    e.decls += [
        f"static const kt_mean_params op{i}_p = {{{p.input_offset}, {p.output_offset}, {p.multiplier}, {p.shift}}};",
        gen.dims(f"op{i}_in", gen.shape(x)), gen.dims(f"op{i}_out", (n, 1, 1, c)),
    ]
    e.call = f"kt_mean_s8(&op{i}_p, &op{i}_in, {gen.ptr(x)}, &op{i}_out, {gen.ptr(y)})"


def _shape_array(e: _Emit, shape: tuple[int, ...]) -> str:
    e.decls.append(f"static const int32_t op{e.index}_shape[{len(shape)}] = {{{_c_values(np.array(shape))}}};")
    return f"op{e.index}_shape"


def _pad(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, y = op.inputs[0], op.outputs[0]
    rank = len(p.paddings)
    before = [b for b, _ in p.paddings] + [0] * (MAX_RANK - rank)
    after = [a for _, a in p.paddings] + [0] * (MAX_RANK - rank)
    e.decls.append(f"static const kt_pad_params op{i}_p = {{{rank}, {{{_c_values(np.array(before))}}}, "
                   f"{{{_c_values(np.array(after))}}}, {p.pad_value}}};")
    shape = _shape_array(e, gen.shape(x))
    e.call = f"kt_pad_s8(&op{i}_p, {shape}, {gen.ptr(x)}, {gen.ptr(y)})"


def _transpose(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, y = op.inputs[0], op.outputs[0]
    perm = list(p.perm) + [0] * (MAX_RANK - len(p.perm))
    e.decls.append(f"static const kt_transpose_params op{i}_p = {{{len(p.perm)}, {{{_c_values(np.array(perm))}}}}};")
    shape = _shape_array(e, gen.shape(x))
    e.call = f"kt_transpose_s8(&op{i}_p, {shape}, {gen.ptr(x)}, {gen.ptr(y)})"


def _softmax(gen: _Gen, op: Op, e: _Emit) -> None:
    p, i = op.params, e.index
    x, y = op.inputs[0], op.outputs[0]
    shape = gen.shape(x)
    depth = shape[-1]
    rows = int(np.prod(shape)) // depth
    e.decls.append(f"static const kt_softmax_params op{i}_p = {{{p.input_multiplier}, {p.input_left_shift}, {p.diff_min}}};")
    e.call = f"kt_softmax_s8(&op{i}_p, {rows}, {depth}, {gen.ptr(x)}, {gen.ptr(y)})"


def _reshape(gen: _Gen, op: Op, e: _Emit) -> None:
    e.comment = "(an alias in the memory plan: no code)"


EMITTERS: dict[str, Callable[[_Gen, Op, _Emit], None]] = {
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


def emit_forward(gen: _Gen) -> list[_Emit]:
    """One _Emit per graph op, in execution order."""
    emits = []
    for k, op in enumerate(gen.g.ops):
        fn = EMITTERS.get(op.kind)
        if fn is None:
            raise ModelError(f"op {op.index} ({op.kind}): the code generator does not support this op; "
                             f"supported: {', '.join(EMITTERS)}")
        e = _Emit(index=k, kind=op.kind)
        fn(gen, op, e)
        emits.append(e)
    return emits


def template_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kilotrain.codegen", "templates"), trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )


def model_context(gen: _Gen, emits: list[_Emit], source_name: str) -> dict[str, Any]:
    """Template variables of kt_model.c.j2 (call after every pointer has been emitted)."""
    g, mp = gen.g, gen.mp
    return dict(
        version=__version__, source=source_name, name=Path(source_name).stem,
        arena_size=max(mp.arena_size, 16), const_bytes=const_bytes(gen),
        input_offset=mp.offset(g.inputs[0]), output_offset=mp.offset(g.outputs[0]),
        input_size=int(np.prod(g.input.shape)), output_size=int(np.prod(g.output.shape)),
        consts=list(gen.consts.values()), ops=emits,
    )


def const_bytes(gen: _Gen) -> int:
    return sum(int(c["count"]) * (1 if c["ctype"] == "int8_t" else 4) for c in gen.consts.values())


def render(graph: Graph, source_name: str) -> tuple[str, MemoryPlan, int]:
    """The generated C text, the memory plan and the constant bytes."""
    gen = _Gen(graph, plan(graph))
    emits = emit_forward(gen)
    text = template_env().get_template("kt_model.c.j2").render(**model_context(gen, emits, source_name))
    return text, gen.mp, const_bytes(gen)


def write(text: str, out_dir: Path, filename: str) -> Path:
    """Write generated text (only when it changed, so builds stay incremental)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / filename
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
