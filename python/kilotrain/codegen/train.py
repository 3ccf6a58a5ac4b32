"""Code generator for the training step: a training plan (:class:`kilotrain.training.plan.TrainPlan`)
becomes one C file, ``kt_train.c`` (the model of :mod:`kilotrain.codegen.model` plus
``kt_train_step()``), written into the build tree from ``templates/kt_train.c.j2``.

The C does exactly what :func:`kilotrain.training.step.step` does, in the same order: the forward ops up to
the logits with ReLU masks packed right after their op, the softmax cross-entropy gradient,
every backward step of the plan (mask, input gradient, fused in-place update, fan-out sums,
rescales, pool gradients; RESHAPE is an alias), then the scale policy on the exponents. One
arena holds activations, masks and gradients at offsets from a lifetime plan over the whole
schedule; trainable weights and biases are SRAM arrays initialised from flash at reset.
"""

from __future__ import annotations

from ctypes import Structure
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain import contract
from kilotrain.codegen import model as codegen
from kilotrain.codegen.emit import CFile, c_values, template_env, tile
from kilotrain.codegen.memory_plan import MemoryPlan, Request, plan_buffers
from kilotrain.codegen.model import _Emit
from kilotrain.codegen.rows import RowSchedule, candidates, emit_rows
from kilotrain.kernels.cstructs import (
    ConvGradParamsC,
    DwConvGradParamsC,
    FcGradParamsC,
    PoolGradParamsC,
    ReluMaskParamsC,
    UpdateParamsC,
)
from kilotrain.model import ops
from kilotrain.model.ir import ModelError
from kilotrain.training.plan import BackwardStep, TrainPlan
from kilotrain.training.structure import check_backward


def _nbytes(shape: tuple[int, ...], itemsize: int = 1) -> int:
    return int(np.prod(shape)) * itemsize


def training_memory_plan(plan: TrainPlan, fused: RowSchedule | None = None) -> MemoryPlan:
    """Lifetimes over the schedule: graph op i at position i, the loss at L = len(ops), backward
    step j at L + 1 + j. Keys: activation tensor ids (RESHAPE outputs alias their input),
    ("mask", id) and ("grad", id) (a RESHAPE's input gradient aliases its output gradient).
    With a ``fused`` row-streamed segment, its intermediate tensors are bands of a few rows alive
    over the whole segment, and its output is written from the segment's first op on."""
    g = plan.graph
    L = len(g.ops)
    life: dict[Any, list[int]] = {}
    alias: dict[Any, Any] = {}

    def owner(k: Any) -> Any:
        while k in alias:
            k = alias[k]
        return k

    def touch(k: Any, i: int) -> None:
        lo_hi = life.setdefault(owner(k), [i, i])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], i), max(lo_hi[1], i)

    sizes: dict[Any, int] = {}
    for t in g.inputs:
        touch(t, -1)
        sizes[t] = _nbytes(g.tensors[t].shape)
    for i, op in enumerate(g.ops):
        for t in op.inputs:
            if t >= 0 and not g.tensors[t].is_const:
                touch(t, i)
        if op.kind == "RESHAPE" and not g.tensors[op.inputs[0]].is_const:
            alias[op.outputs[0]] = owner(op.inputs[0])
        for t in op.outputs:
            touch(t, i)
            sizes.setdefault(owner(t), _nbytes(g.tensors[t].shape))
    for t in g.outputs:
        touch(t, L - 1)
    touch(plan.logits, L)
    for m in plan.masks:
        touch(("mask", m.id), m.op_pos)
        sizes[("mask", m.id)] = m.bytes
    touch(("grad", plan.logits_grad), L)
    for j, s in enumerate(plan.steps):
        pos = L + 1 + j
        if s.kind == "RESHAPE":
            alias[("grad", s.gx[0])] = owner(("grad", s.gy))
        if s.gy is not None:
            touch(("grad", s.gy), pos)
        for gid in [*s.gx, *s.sum_inputs]:
            touch(("grad", gid), pos)
        if s.mask is not None:
            touch(("mask", s.mask), pos)
        if s.saved_input is not None:
            touch(s.saved_input, pos)
    for gt in plan.grads:
        sizes.setdefault(owner(("grad", gt.id)), gt.size)
    if fused is not None:
        for b in fused.intermediates:
            sizes[b.tensor] = b.bytes
            life[b.tensor] = [fused.first, fused.last]
        if fused.stream is not None:  # the graph input: only the rows still needed
            b = fused.bands[fused.stream]
            sizes[b.tensor] = b.bytes
        life[fused.output][0] = min(life[fused.output][0], fused.first)
    members: dict[Any, list[Any]] = {}
    for k in list(life) + list(alias):
        members.setdefault(owner(k), [])
        if k not in members[owner(k)]:
            members[owner(k)].append(k)
    return plan_buffers(Request(tuple(members[o]), sizes[o], life[o][0], life[o][1]) for o in life)


ARENA_PARTS = ("activations", "saved_activations", "masks", "gradients")


def arena_occupancy(plan: TrainPlan, mp: MemoryPlan) -> list[dict[str, int]]:
    """Live arena bytes by part (:data:`ARENA_PARTS`) at every position of the training schedule
    (``position``: -1 the input, then as in :func:`training_memory_plan`)."""
    saved = set(plan.saved_tensors)

    def part(keys: tuple[Any, ...]) -> str:
        k = keys[0]
        if isinstance(k, tuple):
            return "masks" if k[0] == "mask" else "gradients"
        return "saved_activations" if any(t in saved for t in keys) else "activations"

    kinds = [(b, part(b.tensors)) for b in mp.buffers]
    out = []
    for pos in range(-1, len(plan.graph.ops) + 1 + len(plan.steps)):
        row = {"position": pos, **dict.fromkeys(ARENA_PARTS, 0)}
        for b, p in kinds:
            if b.first <= pos <= b.last:
                row[p] += b.size
        out.append(row)
    return out


def fused_segment(plan: TrainPlan) -> RowSchedule | None:
    """The row-streamed prefix (ops from 0 up to before the earliest op the backward pass touches)
    that gives the smallest training arena, or None when layer-at-a-time is as small."""
    before = min((s.op_pos for s in plan.steps), default=len(plan.graph.ops))
    forward = set(plan.forward_ops)
    best, best_arena = None, training_memory_plan(plan).arena_size
    for sched in candidates(plan.graph, before, stream=True):
        if not forward.issuperset(range(sched.first, sched.last + 1)):
            continue
        arena = training_memory_plan(plan, sched).arena_size
        if arena < best_arena:
            best, best_arena = sched, arena
    return best


@dataclass(frozen=True)
class ProfileEntry:
    """One profiled region of the generated training step (built with ``-DKT_PROFILE``): a kernel
    call of the forward pass or of backward, the loss, or the scale policy. ``op`` is the graph
    op's index (-1: none)."""

    index: int
    phase: str  # forward, mask, loss, input-grad, update, grad, policy, prefix (row-streamed)
    op: int
    kind: str  # the op's kind (CONV_2D, ...) or the region's name
    kernel: str  # the C function called


@dataclass(frozen=True)
class TrainSource:
    """The generated training C and every SRAM and flash figure it declares: the memory budget
    (:mod:`kilotrain.device.memory`) reads these instead of estimating them again."""

    text: str
    memory: MemoryPlan  # the arena: activations, masks, saved tensors, gradients
    const_bytes: int  # flash: constant tensors and the initial values of the trainable copies
    table_bytes: int  # flash: requantisation tables and parameter records
    trainable_weight_bytes: int  # SRAM copies of updated weights (.data)
    trainable_bias_bytes: int  # SRAM copies of updated biases (.data)
    state_bytes: int  # kt_exps[] and kt_step_count (the training state beside the parameters)
    stack_frame_bytes: int  # kt_train_step()'s own locals: the gradient stats and the old exponents
    calls: int  # kernel calls in kt_model_invoke() and kt_train_step() (the generated code's size)
    fused: RowSchedule | None = None  # the row-streamed prefix, if any
    profile: tuple[ProfileEntry, ...] = ()  # what kt_profile_ticks[] counts, by index
    packed_layers: int = 0  # convolutions that run from packed filters

    @property
    def trainable_bytes(self) -> int:
        return self.trainable_weight_bytes + self.trainable_bias_bytes


@dataclass(frozen=True)
class GeneratedTraining:
    directory: Path
    source: Path
    code: TrainSource
    digest: str

    @property
    def memory(self) -> MemoryPlan:
        return self.code.memory

    @property
    def const_bytes(self) -> int:
        return self.code.const_bytes

    @property
    def trainable_bytes(self) -> int:
        return self.code.trainable_bytes


class _TrainGen:
    """The training step's calls and declarations, through the shared :class:`CFile`."""

    def __init__(self, plan: TrainPlan, gen: CFile) -> None:
        self.plan, self.gen, self.g = plan, gen, plan.graph
        self.decls: list[str] = []
        self.forward: list[str] = []
        self.backward: list[str] = []
        self.forward_ops: list[tuple[int, str]] = []  # (op index, kind) of each forward call
        self.backward_ops: list[tuple[int, str]] = []  # ... and of each backward call
        self.stat_slots: list[int] = []

    def call(self, backward: bool, op: int, kind: str, text: str) -> None:
        """Append one kernel call of op ``op`` to the forward or the backward list."""
        (self.backward if backward else self.forward).append(text)
        (self.backward_ops if backward else self.forward_ops).append((op, kind))

    def profile(self, fused: RowSchedule | None) -> tuple[ProfileEntry, ...]:
        """The profiled regions in kt_profile_ticks[] order: forward calls, the loss, backward
        calls, the scale policy, then one per op of the row-streamed prefix (``fused``), whose
        events run while the input arrives. The template takes every index from these entries."""
        out: list[ProfileEntry] = []

        def add(phase: str, op: int, kind: str, kernel: str) -> None:
            out.append(ProfileEntry(len(out), phase, op, kind, kernel))

        for text, (op, kind) in zip(self.forward, self.forward_ops):
            fn = text.split("(", 1)[0]
            add("mask" if fn.startswith("kt_relu_mask") else "forward", op, kind, fn)
        add("loss", -1, "SOFTMAX_CE", "kt_softmax_ce_grad_s8")
        for text, (op, kind) in zip(self.backward, self.backward_ops):
            fn = text.split("(", 1)[0]
            phase = (
                "update"
                if fn.endswith("_update_s8")
                else "input-grad"
                if "_input_grad_" in fn
                else "mask"
                if fn.startswith("kt_relu_mask")
                else "grad"
            )
            add(phase, op, kind, fn)
        add("policy", -1, "SCALE_POLICY", "kt_train_step")
        if fused is not None:
            kernel = {"CONV_2D": "kt_conv2d_s8", "DEPTHWISE_CONV_2D": "kt_depthwise_conv2d_s8", "ADD": "kt_add_s8"}
            for pos in range(fused.first, fused.last + 1):
                op_ = self.g.ops[pos]
                fn = "kt_conv2d_packed_s8" if self.gen.packable(op_) else kernel.get(op_.kind, "kt_rows_run")
                add("prefix", op_.index, op_.kind, fn)
        return tuple(out)

    def grad(self, gid: int | None) -> str:
        return self.gen.arena(("grad", gid))

    def exp(self, gid: int | None) -> str:
        assert gid is not None
        return f"kt_exps[{self.plan.grads[gid].exp_slot}]"

    def stats(self, gid: int) -> str:
        self.stat_slots.append(self.plan.grads[gid].exp_slot)
        return f"&st[{len(self.stat_slots) - 1}]"

    def dims(self, owner: str, what: str, shape: tuple[int, ...]) -> str:
        return self.gen.dims(self.decls, owner, what, shape)

    def quant(self, owner: str, what: str, mult: Any, shift: Any) -> dict[str, str]:
        return self.gen.quant(self.decls, owner, what, mult, shift)

    def struct(self, owner: str, what: str, struct: type[Structure], values: dict[str, Any]) -> str:
        return self.gen.struct(self.decls, owner, what, struct, values)


def _forward(tg: _TrainGen, emits: list[_Emit]) -> None:
    masks_by_op = {m.op_pos: m for m in tg.plan.masks}
    for pos in tg.plan.forward_ops:
        e = emits[pos]
        op = tg.g.ops[pos]
        if e.call:
            tg.call(False, op.index, op.kind, e.call)
        m = masks_by_op.get(pos)
        if m is not None:
            p = m.params
            pp = tg.struct(
                f"mask{m.id}", "p", ReluMaskParamsC, {"act_min": p.act_min, "act_max": p.act_max, "relu6": int(p.relu6)}
            )
            y = tg.gen.ptr(tg.g.ops[pos].outputs[0])
            tg.call(
                False,
                op.index,
                op.kind,
                f"kt_relu_mask_pack_s8({pp}, {m.elements}, {y}, (uint8_t *){tg.gen.arena(('mask', m.id))})",
            )


def _weighted(tg: _TrainGen, s: BackwardStep, o: str) -> None:
    g, gen = tg.g, tg.gen
    op = g.ops[s.op_pos]
    x_t, w_t, b_t, y_t = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    xshape, yshape, wshape = g.tensors[x_t].shape, g.tensors[y_t].shape, g.tensors[w_t].shape
    if s.kind == "FULLY_CONNECTED":
        cout, cin = wshape
        batch = int(np.prod(xshape)) // cin
        xd, yd, wd = (
            tg.dims(o, "in", (batch, 1, 1, cin)),
            tg.dims(o, "gy", (batch, 1, 1, cout)),
            tg.dims(o, "f", (cout, 1, 1, cin)),
        )
    else:
        xd, yd, wd = tg.dims(o, "in", xshape), tg.dims(o, "gy", yshape), tg.dims(o, "f", wshape)
    gy = tg.grad(s.gy)
    count = int(np.prod(yshape))
    if s.mask is not None:
        tg.call(
            True,
            op.index,
            s.kind,
            f"kt_relu_mask_apply_s8({count}, (const uint8_t *){gen.arena(('mask', s.mask))}, {gy}, {gy})",
        )
    w = gen.ptr(w_t)
    if s.gx:
        fs = gen.split_filter(tg.decls, o, w_t)  # a partially updated filter: SRAM rows + flash rows
        gid = s.gx[0]
        p = s.grad_params
        common = {
            "chan": tg.quant(o, "chan", p.chan_multiplier, p.chan_shift),
            "headroom": p.headroom,
            "x_multiplier": p.x_multiplier,
            "x_shift": p.x_shift,
        }
        geometry = (
            {"stride": tile(p.stride), "padding": tile(p.padding), "dilation": tile(p.dilation)}
            if s.kind != "FULLY_CONNECTED"
            else {}
        )
        if s.kind == "CONV_2D":
            pp = tg.struct(o, "gp", ConvGradParamsC, {**geometry, **common})
            fn = "kt_conv2d_input_grad_s8"
        elif s.kind == "DEPTHWISE_CONV_2D":
            pp = tg.struct(o, "gp", DwConvGradParamsC, {**geometry, "depth_multiplier": p.depth_multiplier, **common})
            fn = "kt_depthwise_conv2d_input_grad_s8"
        else:
            pp = tg.struct(o, "gp", FcGradParamsC, common)
            fn = "kt_fully_connected_input_grad_s8"
        if fs is not None:
            fn = fn.replace("_s8", "_split_s8")
        tg.call(
            True,
            op.index,
            s.kind,
            f"{fn}({pp}, {tg.exp(s.gy)}, {tg.exp(gid)}, {yd}, {gy}, {wd}, {fs or w}, {xd}, {tg.grad(gid)}, "
            f"{tg.stats(gid)})",
        )
    if s.update is not None:
        u = s.update
        pp = tg.struct(
            o,
            "up",
            UpdateParamsC,
            {
                "n_weight_channels": u.n_weight_channels,
                "weight": tg.quant(o, "wq", u.weight_multiplier, u.weight_shift),
                "bias": tg.quant(o, "bq", u.bias_multiplier, u.bias_shift),
                "input_zero_point": u.input_zero_point,
                "stride": tile(u.stride),
                "padding": tile(u.padding),
                "dilation": tile(u.dilation),
                "depth_multiplier": u.depth_multiplier,
                "stochastic": int(bool(u.stochastic)),
            },
        )
        xs = gen.ptr(s.saved_input) if s.saved_input is not None else f"(const int8_t *){gy}"  # bias only: not read
        fn = {"CONV_2D": "kt_conv2d_update_s8", "DEPTHWISE_CONV_2D": "kt_depthwise_conv2d_update_s8"}.get(
            s.kind, "kt_fully_connected_update_s8"
        )
        wmut = w if w_t in gen.trainable else f"(int8_t *){w}"  # bias only: weights are not written
        key = f"kt_update_key(kt_step_count, {s.op_pos}u)"  # = the golden update_key(step, op_pos)
        e_gy = f"{tg.exp(s.gy)} + kt_lr_shift"  # the update runs at lr * 2^kt_lr_shift (SET_LR)
        tg.call(
            True, op.index, s.kind, f"{fn}({pp}, {e_gy}, {key}, {xd}, {xs}, {yd}, {gy}, {wd}, {wmut}, {gen.ptr(b_t)})"
        )


def _backward(tg: _TrainGen) -> None:
    g = tg.g
    for j, s in enumerate(tg.plan.steps):
        op = g.ops[s.op_pos]
        o = f"bw{j}"
        if s.kind == "GRAD_SUM":
            a, b = s.sum_inputs
            gid = s.gx[0]
            count = tg.plan.grads[gid].size
            tg.call(
                True,
                op.index,
                "GRAD_SUM",
                f"kt_grad_sum_s8({count}, {tg.grad(a)}, {tg.exp(a)}, {tg.grad(b)}, {tg.exp(b)}, "
                f"{tg.exp(gid)}, {tg.grad(gid)}, {tg.stats(gid)})",
            )
            continue
        check_backward(op.index, s.kind, "qemu")  # the generated step is what the firmware runs
        if s.kind in ops.WEIGHTED:
            _weighted(tg, s, o)
        elif s.kind == "ADD":
            assert s.gy is not None
            count = tg.plan.grads[s.gy].size
            if s.mask is not None:  # a fused ReLU (residual networks): the masked gradient in place
                tg.call(
                    True,
                    op.index,
                    s.kind,
                    f"kt_relu_mask_apply_s8({count}, (const uint8_t *){tg.gen.arena(('mask', s.mask))}, "
                    f"{tg.grad(s.gy)}, {tg.grad(s.gy)})",
                )
            for gid in s.gx:
                tg.call(
                    True,
                    op.index,
                    s.kind,
                    f"kt_grad_rescale_s8({count}, {tg.exp(s.gy)}, {tg.exp(gid)}, {tg.grad(s.gy)}, "
                    f"{tg.grad(gid)}, {tg.stats(gid)})",
                )
        elif s.kind in ("MEAN", "AVERAGE_POOL_2D"):
            xshape = g.tensors[op.inputs[0]].shape
            yshape = (xshape[0], 1, 1, xshape[3]) if s.kind == "MEAN" else g.tensors[op.outputs[0]].shape
            p = s.grad_params
            pp = tg.struct(
                o,
                "gp",
                PoolGradParamsC,
                {
                    "filter": tile(p.filter),
                    "stride": tile(p.stride),
                    "count_multiplier": p.count_multiplier,
                    "count_shift": p.count_shift,
                },
            )
            gid = s.gx[0]
            tg.call(
                True,
                op.index,
                s.kind,
                f"kt_avg_pool_grad_s8({pp}, {tg.exp(s.gy)}, {tg.exp(gid)}, {tg.dims(o, 'gy', yshape)}, "
                f"{tg.grad(s.gy)}, {tg.dims(o, 'in', xshape)}, {tg.grad(gid)}, {tg.stats(gid)})",
            )
        elif s.kind == "RESHAPE":
            continue  # an alias in the memory plan
        elif s.kind in ("PAD", "PADV2", "TRANSPOSE"):  # bytes moved: the exponent is gy's, no stats
            assert s.gy is not None
            pp, shape = tg.gen.byte_move(tg.decls, o, op)
            fn = "kt_transpose_grad_s8" if s.kind == "TRANSPOSE" else "kt_pad_grad_s8"
            tg.call(True, op.index, s.kind, f"{fn}({pp}, {shape}, {tg.grad(s.gy)}, {tg.grad(s.gx[0])})")
        else:  # pragma: no cover - check_backward refused it above
            raise ModelError(f"op {op.index} ({s.kind}): the training code generator has no C backward for this op")


#: bytes of one kt_grad_stats (two int32) and of one exponent (int32) in kt_train_step()'s frame
_STATS_BYTES, _EXP_BYTES = 8, 4


#: op kinds whose weight tensor is split by output channel when partially updated (output channel
#: outermost in the filter); a depthwise filter (channels innermost, at most KH*KW*Cout bytes) is
#: copied whole.
SPLIT_KINDS = ("CONV_2D", "FULLY_CONNECTED")


def weight_split(plan: TrainPlan) -> dict[int, int]:
    """Weight tensor -> updated output-channel rows, for the partially updated layers whose filter
    is split (the updated rows in SRAM, the frozen rows left in flash)."""
    g = plan.graph
    out = {}
    for u in plan.trainable:
        op = g.ops[u.op_position]
        cout = int(g.tensors[op.inputs[1]].shape[0])
        if op.kind in SPLIT_KINDS and 0 < u.n_channels < cout:
            out[op.inputs[1]] = u.n_channels
    return out


def updated_weight_bytes(plan: TrainPlan) -> dict[int, int]:
    """SRAM bytes of each updated layer's weight copy, by op position (layers updating weights only)."""
    g = plan.graph
    split = weight_split(plan)
    out = {}
    for u in plan.trainable:
        if u.n_channels > 0:
            w = g.ops[u.op_position].inputs[1]
            shape = g.tensors[w].shape
            out[u.op_position] = _nbytes(shape) if w not in split else split[w] * _nbytes(shape[1:])
    return out


def render_train(plan: TrainPlan, source_name: str, fuse: bool = True, pack: bool = True) -> TrainSource:
    """The training firmware's C text and its memory figures. ``fuse``: row-stream the frozen
    prefix when that makes the arena smaller (:func:`fused_segment`); ``pack``: run the frozen
    convolutions the packer takes from packed filters (fewer instructions, more flash)."""
    g = plan.graph
    trainable: set[int] = set()
    split = weight_split(plan)
    copied = updated_weight_bytes(plan)
    for u in plan.trainable:
        op = g.ops[u.op_position]
        trainable.update([op.inputs[1], op.inputs[2]] if u.n_channels > 0 else [op.inputs[2]])
    fused = fused_segment(plan) if fuse else None
    mp = training_memory_plan(plan, fused)
    # filters an input gradient reads as int8 (packing them too would keep both in flash)
    keep_raw = frozenset(
        g.ops[s.op_pos].inputs[1] for s in plan.steps if s.kind in ops.WEIGHTED and s.grad_params is not None
    )
    gen = CFile(g, mp, frozenset(trainable), split, pack=pack, keep_raw=keep_raw)
    # what PARAMS_READ sends, in params_sha256 order: per trainable op its weights (a split filter:
    # the SRAM rows, then the flash rows) and its bias
    # what a checkpoint holds besides the exponents: the same minus the flash rows
    segments: list[tuple[str, int]] = []
    state_segments: list[tuple[str, int]] = []
    for u in sorted(plan.trainable, key=lambda u: u.op_position):
        op = g.ops[u.op_position]
        w, b = op.inputs[1], op.inputs[2]
        if u.n_channels > 0:
            segments.append((gen.ptr(w), copied[u.op_position]))
            state_segments.append(segments[-1])
            if w in split:
                segments.append((gen.tail(w), _nbytes(g.tensors[w].shape) - copied[u.op_position]))
        segments.append((gen.ptr(b), _nbytes(g.tensors[b].shape, 4)))
        state_segments.append(segments[-1])
    weight_bytes = sum(copied.values())
    bias_bytes = sum(_nbytes(g.tensors[g.ops[u.op_position].inputs[2]].shape, 4) for u in plan.trainable)
    emits = codegen.emit_forward(gen)
    band_state = emit_rows(gen, emits, fused) if fused is not None else 0
    tg = _TrainGen(plan, gen)
    _forward(tg, emits)
    logits_grad_stats = tg.stats(plan.logits_grad)
    assert logits_grad_stats == "&st[0]"
    _backward(tg)
    profile = tg.profile(fused)
    first_of = {e.phase: e.index for e in reversed(profile)}  # the first region of each phase
    classes = int(np.prod(g.tensors[plan.logits].shape))
    ctx = codegen.model_context(gen, emits, source_name, train_digest=plan.digest(), classes=classes)
    if fused is not None and fused.stream is not None:
        ctx["input_stream"] = "kt_fused_plan"
    ctx.update(
        n_slots=plan.n_exp_slots,
        e0=c_values(np.array(plan.e0)),
        segments=[{"name": name, "size": n} for name, n in segments],
        state_segments=[{"name": name, "size": n} for name, n in state_segments],
        exp_table=c_values(plan.softmax_ce.exp_table),
        train_decls=tg.decls,
        train_forward=tg.forward,
        train_backward=tg.backward,
        n_stats=len(tg.stat_slots),
        stat_slots=c_values(np.array(tg.stat_slots)),
        classes=classes,
        logits=gen.ptr(plan.logits),
        logits_slot=plan.grads[plan.logits_grad].exp_slot,
        logits_grad=tg.grad(plan.logits_grad),
        amax_low=contract.AMAX_LOW,
        exp_min=contract.POLICY_EXP_MIN,
        exp_max=contract.POLICY_EXP_MAX,
        n_profile=len(profile),
        profile_loss=first_of["loss"],
        profile_policy=first_of["policy"],
        profile_prefix=first_of.get("prefix"),
    )
    text = template_env().get_template("kt_train.c.j2").render(**ctx)
    return TrainSource(
        text=text,
        memory=mp,
        const_bytes=gen.const_bytes,
        table_bytes=gen.table_bytes + 2 * 256,  # + the softmax-CE exp table
        trainable_weight_bytes=weight_bytes,
        trainable_bias_bytes=bias_bytes,
        state_bytes=_EXP_BYTES * plan.n_exp_slots + 4 + 4 + band_state,  # + step count, lr shift
        stack_frame_bytes=_STATS_BYTES * len(tg.stat_slots) + _EXP_BYTES * plan.n_exp_slots,
        calls=sum(1 for e in emits if e.call) + len(tg.forward) + len(tg.backward),
        fused=fused,
        profile=profile,
        packed_layers=gen.packed_layers,
    )
