"""The compile-time training plan of a (graph, sparse-update scheme): everything the integer
training step needs, as plain data a C code generator can walk.

:func:`structure` (no floats, no kernels) finds

* the **logits** tensor — the input of the model's final SOFTMAX (the softmax is not run in
  training) or the graph output — and the forward ops that compute it;
* the **trainable ops** (:func:`kilotrain.training.scheme.validate`);
* the **backward ops**, in reverse execution order, from the logits down to the earliest
  trainable op (backprop stops there: that op computes no input gradient);
* which tensors receive a gradient, and which ops read them (fan-out).

:func:`build_plan` adds, per backward op, the integer parameter records of
:mod:`kilotrain.reference.grad_params` (input-gradient, fused QAS update, ReLU mask, pooling,
softmax-CE), the gradient tensors with their exponent slots and initial exponents (from a float
calibration backward pass: ``e0 = ceil(log2(amax / 100))`` clamped to [-24, 8]), the saved
forward tensors and ReLU masks, and a memory estimate. It refuses (``PlanError``) a layer whose
input-gradient accumulator could overflow int32 (headroom H < 0), an update whose weight-gradient
accumulator could (P · 128 · 255 ≥ 2^31), pooling windows of unequal size, and op kinds the
integer backward does not cover.

Walking a plan: for each :class:`BackwardStep` in ``plan.steps`` (already in execution order),
``kind`` selects the kernel; ``gy`` / ``gx`` are indices into ``plan.grads``; each gradient's
``exp_slot`` indexes the run-time exponent array of the training state; ``mask`` indexes
``plan.masks``; ``GRAD_SUM`` steps add fan-out contributions.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kilotrain import contract
from kilotrain.model import ops
from kilotrain.model.ir import Graph, ModelError, Op
from kilotrain.reference import executor
from kilotrain.reference import grad_params as gp
from kilotrain.training.float_reference import FloatTrainer, backward_from_int
from kilotrain.training.scheme import (
    LayerUpdate,
    SchemeError,
    SchemeSpec,
    SparseScheme,
    classifier_op,
)
from kilotrain.training.structure import PlanError, Structure, structure

__all__ = ["PlanError", "Structure", "TrainPlan", "build_plan", "structure"]


# ------------------------------------------------------------------------------------------ plan


@dataclass
class GradTensor:
    """One int8 gradient buffer. ``exp_slot`` indexes the run-time exponents; view ops share the
    slot of their output gradient. ``role``: logits | grad (a tensor's whole gradient) |
    contribution (one consumer's part of a fan-out tensor) | view."""

    id: int
    tensor: int  # IR tensor id
    name: str
    shape: tuple[int, ...]
    role: str
    exp_slot: int
    consumer: int | None = None  # op position that produced this contribution (None for logits / sums)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class MaskInfo:
    """One ReLU mask: 1 bit per output element of the forward op at ``op_pos``."""

    id: int
    op_pos: int
    tensor: int
    elements: int
    params: gp.ReluMaskParams

    @property
    def bytes(self) -> int:
        return (self.elements + 7) // 8


@dataclass
class BackwardStep:
    """One step of the backward pass. ``kind`` is the forward op kind or ``GRAD_SUM``.

    * weighted ops: ``mask`` (optional) is applied to ``gy`` first; ``grad_params`` computes
      ``gx[0]`` (absent for the earliest trainable op); ``update`` (optional) then updates the
      layer's weights/bias from the masked ``gy`` and the saved input ``saved_input``;
    * ADD: ``mask`` (a fused ReLU / ReLU6, optional) is applied to ``gy`` first; ``gx`` has one
      entry per input that needs a gradient;
    * MEAN / AVERAGE_POOL_2D: ``grad_params`` is a PoolGradParams;
    * view ops: ``gx[0]`` shares ``gy``'s exponent slot;
    * GRAD_SUM: ``sum_inputs`` (gradient ids) are added into ``gx[0]``.
    """

    op_pos: int
    kind: str
    gy: int | None
    gx: list[int] = field(default_factory=list)
    gx_tensors: list[int] = field(default_factory=list)
    mask: int | None = None
    grad_params: Any = None
    update: gp.UpdateParams | None = None
    update_info: LayerUpdate | None = None
    saved_input: int | None = None
    sum_inputs: list[int] = field(default_factory=list)


@dataclass
class MemoryEstimate:
    """Bytes the training step needs on top of the inference arena (see docs/training.md)."""

    saved_activations: int
    masks: int
    trainable_weights: int
    trainable_biases: int
    gradient_peak: int
    gradient_scratch: int
    classifier: int = 0  # part of the above owed to the classifier (weights, bias, saved input)

    @property
    def total(self) -> int:
        return (
            self.saved_activations
            + self.masks
            + self.trainable_weights
            + self.trainable_biases
            + self.gradient_peak
            + self.gradient_scratch
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "saved_activations": self.saved_activations,
            "masks": self.masks,
            "trainable_weights": self.trainable_weights,
            "trainable_biases": self.trainable_biases,
            "gradient_peak": self.gradient_peak,
            "gradient_scratch": self.gradient_scratch,
            "total": self.total,
            "classifier_part": self.classifier,
        }


@dataclass
class TrainPlan:
    """The whole compile-time training plan (see the module docstring)."""

    graph: Graph
    structure: Structure
    lr: float
    qas: bool
    softmax_ce: gp.SoftmaxCeParams
    logits_grad: int  # gradient id of the logits
    grads: list[GradTensor]
    n_exp_slots: int
    e0: list[int]  # initial exponent per slot
    masks: list[MaskInfo]
    steps: list[BackwardStep]
    saved_tensors: list[int]  # forward tensors kept for the updates
    trainable: list[LayerUpdate]
    memory: MemoryEstimate
    calib_amax: list[float] = field(default_factory=list)

    @property
    def rounding(self) -> str:
        """ "stochastic" if the weight updates round stochastically, else "nearest"."""
        return "stochastic" if any(s.update is not None and s.update.stochastic for s in self.steps) else "nearest"

    @property
    def scheme(self) -> SparseScheme:
        return self.structure.scheme

    @property
    def forward_ops(self) -> list[int]:
        return self.structure.forward_ops

    @property
    def logits(self) -> int:
        return self.structure.logits

    def digest(self) -> str:
        """SHA-256 (hex) of what a training step computes: the model (:meth:`Graph.digest`), the
        scheme, learning rate, QAS, rounding and initial gradient exponents. Two plans with the
        same digest train bit-identically from the same frames."""
        key = {
            "model": self.graph.digest(),
            "scheme": self.scheme.to_json(),
            "lr": repr(float(self.lr)),
            "qas": self.qas,
            "rounding": self.rounding,
            "e0": [int(e) for e in self.e0],
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def summary(self) -> str:
        g = self.graph
        lines = [
            f"training plan: {g.name} scheme {self.scheme.name} "
            f"(lr {self.lr}, {'QAS' if self.qas else 'no QAS'}, {self.rounding} rounding)",
            f"  trainable ops: {len(self.trainable)}; backward steps: {len(self.steps)}; "
            f"gradient tensors: {len(self.grads)} ({self.n_exp_slots} exponents); masks: {len(self.masks)}",
        ]
        for k, v in self.memory.as_dict().items():
            lines.append(f"  {k:18s} {v:9d} B")
        return "\n".join(lines)


def _weight_scales(graph: Graph, op: Op, cout: int) -> np.ndarray:
    s = graph.tensors[op.inputs[1]].scales.astype(np.float64)
    return np.full(cout, s[0]) if s.size == 1 else s


def _per_channel_weight_bytes(graph: Graph, op: Op) -> int:
    w = graph.tensors[op.inputs[1]].shape
    if op.kind == "DEPTHWISE_CONV_2D":
        return int(w[1] * w[2])
    return int(np.prod(w[1:]))


ROUNDINGS = ("stochastic", "nearest")


def build_plan(
    graph: Graph,
    scheme: SchemeSpec,
    lr: float,
    *,
    qas: bool = True,
    calib: list[tuple[np.ndarray, int]] | None = None,
    calib_seed: int = 0,
    rounding: str = "stochastic",
    engine: str = "golden",
) -> TrainPlan:
    """The training plan of ``graph`` under ``scheme`` with learning rate ``lr``.

    ``rounding``: the int8 weight update rounds ``"stochastic"``-ally (default; the key is
    derived from the step counter and the layer, docs/numerics.md) or to ``"nearest"``.

    ``calib``: (int8 input, label) pairs for the initial exponents; default: 4 seeded random
    inputs with random labels.

    ``engine``: the engine that will run the step (:data:`kilotrain.model.ops.ENGINES`); the plan
    refuses an op on the backward path that this engine cannot pass a gradient through.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding {rounding!r} not in {ROUNDINGS}")
    st = structure(graph, scheme, engine)
    grads: list[GradTensor] = []
    tensor_grad: dict[int, int] = {}  # tensor id -> gradient id of its whole gradient
    contrib: dict[tuple[int, int], int] = {}  # (consumer pos, tensor) -> gradient id
    n_slots = 0

    def new_grad(t: int, role: str, slot: int | None = None, consumer: int | None = None) -> int:
        nonlocal n_slots
        if slot is None:
            slot = n_slots
            n_slots += 1
        ten = graph.tensors[t]
        grads.append(GradTensor(len(grads), t, ten.name, tuple(ten.shape), role, slot, consumer))
        return len(grads) - 1

    lg = new_grad(st.logits, "logits")
    tensor_grad[st.logits] = lg
    s_z = graph.tensors[st.logits].s
    sce = gp.softmax_ce_params(s_z)
    masks: list[MaskInfo] = []
    steps: list[BackwardStep] = []
    saved: list[int] = []
    pending: dict[int, list[int]] = {t: list(c) for t, c in st.contributors.items()}

    for pos in st.backward_ops:
        op = graph.ops[pos]
        where = (
            f"op {op.index} ({op.kind}, conv layer {op.conv_index})"
            if op.conv_index is not None
            else f"op {op.index} ({op.kind})"
        )
        yt = op.outputs[0]
        gy = tensor_grad[yt]
        step = BackwardStep(pos, op.kind, gy)
        upd = st.updates.get(pos)
        # the gradients this op produces
        acts = op.inputs[:2] if op.kind == "ADD" else op.inputs[:1]
        for t in acts:
            if t not in st.grad_tensors:
                continue
            if op.kind in ops.VIEW_KINDS:
                gid = new_grad(t, "view", grads[gy].exp_slot, pos)
            elif len(st.contributors[t]) > 1:
                gid = new_grad(t, "contribution", None, pos)
                contrib[(pos, t)] = gid
            else:
                gid = new_grad(t, "grad", None, pos)
            if len(st.contributors[t]) == 1:
                tensor_grad[t] = gid
            step.gx.append(gid)
            step.gx_tensors.append(t)
        try:
            fused = ops.OPS[op.kind].activations
            if op.activation not in fused:
                raise PlanError(
                    f"{where}: fused activation {op.activation} has no integer backward "
                    f"({', '.join(sorted(fused))}); change the scheme so backprop stops above it"
                )
            if op.activation in ("RELU", "RELU6"):  # the gradient passes where the output is not clamped
                p = op.params
                mp = gp.ReluMaskParams(int(p.act_min), int(p.act_max), op.activation == "RELU6")
                masks.append(MaskInfo(len(masks), pos, yt, int(np.prod(graph.tensors[yt].shape)), mp))
                step.mask = len(masks) - 1
            if op.kind in ops.WEIGHTED:
                cout = graph.tensors[yt].shape[-1]
                sw = _weight_scales(graph, op, cout)
                if step.gx:
                    if op.kind == "CONV_2D":
                        w = graph.tensors[op.inputs[1]].shape
                        step.grad_params = gp.conv_grad_params(
                            sw, (w[1], w[2]), cout, op.params.stride, op.params.padding, op.params.dilation
                        )
                    elif op.kind == "DEPTHWISE_CONV_2D":
                        w = graph.tensors[op.inputs[1]].shape
                        step.grad_params = gp.depthwise_conv_grad_params(
                            sw,
                            (w[1], w[2]),
                            cout,
                            op.params.depth_multiplier,
                            op.params.stride,
                            op.params.padding,
                            op.params.dilation,
                        )
                    else:
                        step.grad_params = gp.fully_connected_grad_params(sw, cout)
                if upd is not None:
                    xt = graph.tensors[op.inputs[0]]
                    yshape = graph.tensors[yt].shape
                    pixels = int(np.prod(yshape[:-1]))
                    kw: dict[str, Any] = {}
                    if op.kind != "FULLY_CONNECTED":
                        kw = {"stride": op.params.stride, "padding": op.params.padding, "dilation": op.params.dilation}
                    if op.kind == "DEPTHWISE_CONV_2D":
                        kw["depth_multiplier"] = op.params.depth_multiplier
                    step.update = gp.update_params(
                        lr,
                        xt.s,
                        sw,
                        upd.ratio if upd.n_channels else 0.0,
                        cout=cout,
                        input_zero_point=xt.zp,
                        qas=qas,
                        out_pixels=pixels,
                        stochastic=(rounding == "stochastic"),
                        **kw,
                    )
                    step.update_info = upd
                    if step.update.n_weight_channels != upd.n_channels:
                        raise PlanError(
                            f"{where}: update channels {step.update.n_weight_channels} != scheme's {upd.n_channels}"
                        )
                    if upd.n_channels > 0:
                        step.saved_input = op.inputs[0]
                        if op.inputs[0] not in saved:
                            saved.append(op.inputs[0])
            elif op.kind in ("MEAN", "AVERAGE_POOL_2D") and step.gx:
                xs = graph.tensors[op.inputs[0]].shape
                if op.kind == "MEAN":
                    step.grad_params = gp.pool_grad_params((xs[1], xs[2]), (xs[1], xs[2]))
                else:
                    p = op.params
                    oh, ow = graph.tensors[yt].shape[1:3]
                    fits = (
                        p.padding == (0, 0)
                        and (oh - 1) * p.stride[0] + p.filter[0] <= xs[1]
                        and (ow - 1) * p.stride[1] + p.filter[1] <= xs[2]
                    )
                    if not fits:
                        raise PlanError(
                            f"{where}: pooling windows of unequal size (padding {p.padding}); "
                            "the integer backward needs equal windows"
                        )
                    step.grad_params = gp.pool_grad_params(p.filter, p.stride)
        except ValueError as e:
            if isinstance(e, PlanError):
                raise
            raise PlanError(f"{where}: {e}") from None
        steps.append(step)
        # fan-out sums whose last contribution was just produced
        for t in step.gx_tensors:
            if len(st.contributors[t]) <= 1:
                continue
            pending[t].remove(pos)
            if not pending[t]:
                sid = new_grad(t, "grad")
                tensor_grad[t] = sid
                ins = [contrib[(c, t)] for c in st.contributors[t]]
                steps.append(BackwardStep(pos, "GRAD_SUM", None, [sid], [t], sum_inputs=ins))

    trainable = [st.updates[p] for p in sorted(st.updates)]
    e0, amax = _initial_exponents(graph, st, grads, n_slots, calib, calib_seed)
    mem = _memory(graph, st, grads, masks, steps, saved, trainable)
    return TrainPlan(graph, st, float(lr), qas, sce, lg, grads, n_slots, e0, masks, steps, saved, trainable, mem, amax)


def _initial_exponents(
    graph: Graph,
    st: Structure,
    grads: list[GradTensor],
    n_slots: int,
    calib: list[tuple[np.ndarray, int]] | None,
    seed: int,
) -> tuple[list[int], list[float]]:
    """e0 per exponent slot from a float backward pass (float_reference) over calibration samples."""
    if calib is None:
        rng = np.random.default_rng(seed)
        ncls = int(np.prod(graph.tensors[st.logits].shape))
        calib = [
            (rng.integers(-128, 128, graph.input.shape).astype(np.int8), int(rng.integers(ncls))) for _ in range(4)
        ]
    ft = FloatTrainer.for_structure(st, dtype=np.float64)
    amax = [0.0] * n_slots
    for x, y in calib:
        _, env_q = executor.run(graph, x, return_all=True)
        record: dict[tuple[int, int], np.ndarray] = {}
        grads_f, _, _ = backward_from_int(ft, env_q, int(y), record)
        for gt in grads:
            if gt.role == "logits" or (gt.role == "grad" and gt.consumer is None):
                v = grads_f.get(gt.tensor)
            elif gt.role == "contribution" and gt.consumer is not None:
                v = record.get((gt.consumer, gt.tensor))
            else:
                v = grads_f.get(gt.tensor)
            if v is not None:
                amax[gt.exp_slot] = max(amax[gt.exp_slot], float(np.max(np.abs(v))) if np.size(v) else 0.0)
    e0 = []
    for a in amax:
        e = contract.POLICY_EXP_MIN if a <= 0 else math.ceil(math.log2(a / 100.0))
        e0.append(int(min(max(e, contract.POLICY_EXP_MIN), contract.POLICY_EXP_MAX)))
    return e0, amax


def _memory(
    graph: Graph,
    st: Structure,
    grads: list[GradTensor],
    masks: list[MaskInfo],
    steps: list[BackwardStep],
    saved: list[int],
    trainable: list[LayerUpdate],
) -> MemoryEstimate:
    saved_b = sum(int(np.prod(graph.tensors[t].shape)) for t in saved)
    mask_b = sum(m.bytes for m in masks)
    wb = bb = 0
    for u in trainable:
        op = graph.ops[u.op_position]
        cout = graph.tensors[op.outputs[0]].shape[-1]
        bb += 4 * cout
        wb += u.n_channels * _per_channel_weight_bytes(graph, op)
    # gradient buffers: a buffer lives from the step producing it to the last step reading it;
    # view gradients share their source's buffer.
    buf_of: dict[int, int] = {}
    for gt in grads:
        buf_of[gt.id] = gt.id
    for s in steps:
        if s.kind in ops.VIEW_KINDS and s.gy is not None:
            for gx in s.gx:
                buf_of[gx] = buf_of[s.gy]
    birth: dict[int, int] = {buf_of[grads[0].id]: -1}
    death: dict[int, int] = {}
    for i, s in enumerate(steps):
        for gx in s.gx:
            birth.setdefault(buf_of[gx], i)
        reads = ([s.gy] if s.gy is not None else []) + s.sum_inputs
        for r in reads:
            death[buf_of[r]] = i
    size = {b: grads[b].size for b in birth}
    peak = 0
    for i in range(-1, len(steps)):
        live = sum(size[b] for b in birth if birth[b] <= i <= death.get(b, birth[b]))
        peak = max(peak, live)
    # the backward kernels need no scratch buffer (docs/kernels.md, "Loop structure"): the input
    # gradient's int32 accumulators are one block of 32 channels on the stack (128 B)
    scratch = 4 * contract.GRAD_BLOCK if any(s.kind in ops.WEIGHTED and s.grad_params is not None for s in steps) else 0
    cls = st.updates[st.classifier]
    cop = graph.ops[st.classifier]
    cls_b = 4 * graph.tensors[cop.outputs[0]].shape[-1] + cls.n_channels * _per_channel_weight_bytes(graph, cop)
    cls_b += (
        int(np.prod(graph.tensors[cop.inputs[0]].shape))
        if cop.inputs[0] in saved and sum(1 for s in steps if s.saved_input == cop.inputs[0]) == 1
        else 0
    )
    return MemoryEstimate(saved_b, mask_b, wb, bb, peak, scratch, cls_b)


def check_model(graph: Graph) -> None:
    """Raise ModelError if ``graph`` has no softmax-CE-compatible logits."""
    try:
        classifier_op(graph)
    except SchemeError as e:
        raise ModelError(str(e)) from None
