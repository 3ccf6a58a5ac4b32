"""The integer training step, in numpy: forward with saving, softmax-CE gradient, backward with
fused QAS updates, scale policy (docs/numerics.md, "Backward and update"; docs/training.md).

:class:`TrainState` holds what changes at run time: the trainable int8 weights (layers whose
scheme updates weights), the int32 biases of every trainable layer, one exponent per gradient
exponent slot of the plan, and the step counter. :func:`step` runs one training step on one
(int8 input, label) pair — deterministic: the same plan, state and data give the same bytes.

Kernels are pluggable: ``fwd`` is a :class:`~kilotrain.reference.executor.ForwardKernels`
(``kilotrain.reference`` or ``kilotrain.kernels.forward``), ``bwd`` a :class:`BackwardKernels`
(default :data:`GOLDEN_BACKWARD`, the numpy golden ops; ``kilotrain.kernels.backward`` exposes the
same names for the C kernels).

:func:`params_sha256` hashes the trainable parameters in a fixed byte order: for every trainable
op in execution order, its weights (only if the scheme updates them; int8, the op's C-order
layout) followed by its bias (int32 little-endian).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kilotrain import contract
from kilotrain import reference as golden
from kilotrain.model import ops
from kilotrain.model.ir import Graph
from kilotrain.reference import backward as golden_backward
from kilotrain.reference import executor
from kilotrain.reference.executor import ForwardKernels
from kilotrain.reference.grad_quant import update_key
from kilotrain.training.plan import TrainPlan


class BackwardKernels(Protocol):
    """The backward and update ops a training step calls: :mod:`kilotrain.reference.backward`
    (numpy, the definition) or :mod:`kilotrain.kernels.backward` (the C kernels on the host)."""

    softmax_ce_grad: Callable[..., Any]
    relu_mask_pack: Callable[..., Any]
    relu_mask_apply: Callable[..., Any]
    conv2d_input_grad: Callable[..., Any]
    depthwise_conv2d_input_grad: Callable[..., Any]
    fully_connected_input_grad: Callable[..., Any]
    conv2d_update: Callable[..., Any]
    depthwise_conv2d_update: Callable[..., Any]
    fully_connected_update: Callable[..., Any]
    avg_pool_grad: Callable[..., Any]
    grad_rescale: Callable[..., Any]
    grad_sum: Callable[..., Any]
    pad_grad: Callable[..., Any]
    transpose_grad: Callable[..., Any]


#: Names a backward kernel set provides (the members of :class:`BackwardKernels`).
BACKWARD_OPS: tuple[str, ...] = tuple(BackwardKernels.__annotations__)
#: The numpy golden backward kernels.
GOLDEN_BACKWARD: BackwardKernels = golden_backward


@dataclass
class TrainState:
    """Run-time training state (see the module docstring). Arrays are owned by the state."""

    weights: dict[int, npt.NDArray[np.int8]]  # op position -> int8 weights (weight-updated layers)
    biases: dict[int, npt.NDArray[np.int32]]  # op position -> int32 bias (every trainable layer)
    exps: list[int]  # exponent per plan exponent slot
    step: int = 0
    saturations_total: int = 0
    lr_shift: int = 0  # updates run at the plan's lr * 2**lr_shift (SET_LR; contract.LR_SHIFT_MIN/MAX)

    def copy(self) -> TrainState:
        return TrainState(
            {k: v.copy() for k, v in self.weights.items()},
            {k: v.copy() for k, v in self.biases.items()},
            list(self.exps),
            self.step,
            self.saturations_total,
            self.lr_shift,
        )


@dataclass
class StepResult:
    """What one step reports (the device reports the same)."""

    p_label: int  # Q15 probability of the label (before the update)
    loss: float  # -ln(max(p_label, 1) / 2^15), computed in float for display
    correct: bool  # argmax of the int8 logits == label (before the update)
    saturations: int  # gradient elements clamped by to_grad8 in this step
    prediction: int = -1


def init_state(plan: TrainPlan) -> TrainState:
    """The state before the first step: the graph's parameters and the plan's initial exponents."""
    g = plan.graph
    w: dict[int, np.ndarray] = {}
    b: dict[int, np.ndarray] = {}
    for u in plan.trainable:
        op = g.ops[u.op_position]
        if u.n_channels > 0:
            w[u.op_position] = np.array(g.tensors[op.inputs[1]].data, dtype=np.int8, copy=True)
        b[u.op_position] = np.array(g.tensors[op.inputs[2]].data, dtype=np.int32, copy=True)
    return TrainState(w, b, list(plan.e0))


def params_sha256(state: TrainState) -> str:
    """SHA-256 (hex) of the trainable parameters: per trainable op in execution order, weights
    (int8, if updated) then bias (int32 little-endian)."""
    h = hashlib.sha256()
    for pos in sorted(state.biases):
        if pos in state.weights:
            h.update(np.ascontiguousarray(state.weights[pos], dtype=np.int8).tobytes())
        h.update(np.ascontiguousarray(state.biases[pos], dtype="<i4").tobytes())
    return h.hexdigest()


def _param_env(plan: TrainPlan, state: TrainState) -> dict[int, np.ndarray]:
    g = plan.graph
    env: dict[int, np.ndarray] = {}
    for pos, w in state.weights.items():
        env[g.ops[pos].inputs[1]] = w
    for pos, b in state.biases.items():
        env[g.ops[pos].inputs[2]] = b
    return env


def forward(
    plan: TrainPlan, state: TrainState, x: npt.ArrayLike, fwd: ForwardKernels = golden
) -> dict[int, np.ndarray]:
    """The training forward pass (up to the logits) with the state's parameters; returns the
    tensor environment (tensor id -> int8)."""
    g = plan.graph
    env = _param_env(plan, state)
    env[g.inputs[0]] = executor.check_input(g, x)
    for pos in plan.forward_ops:
        op = g.ops[pos]
        y = np.asarray(executor.DISPATCH[op.kind](g, op, env, fwd))
        want = g.tensors[op.outputs[0]].shape
        env[op.outputs[0]] = y.reshape(want) if y.shape != want else y
    return env


def _q15_p_label(plan: TrainPlan, z: np.ndarray, label: int) -> int:
    table = plan.softmax_ce.exp_table.astype(np.int64)
    zi = z.astype(np.int64).ravel()
    e = table[zi.max() - zi]
    s = int(e.sum())
    return int((int(e[label]) * 32768 + s // 2) // s)


def loss_from_q15(p: int) -> float:
    """The displayed loss -ln(max(p, 1) / 2^15)."""
    return -math.log(max(int(p), 1) / 32768.0)


def step(
    plan: TrainPlan,
    state: TrainState,
    x: npt.ArrayLike,
    label: int,
    *,
    fwd: ForwardKernels = golden,
    bwd: BackwardKernels = GOLDEN_BACKWARD,
) -> StepResult:
    """One integer training step on (x, label); updates ``state`` in place."""
    g = plan.graph
    ncls = int(np.prod(g.tensors[plan.logits].shape))
    if not 0 <= int(label) < ncls:
        raise ValueError(f"label {label} out of range: the model has {ncls} classes")
    env = forward(plan, state, x, fwd)
    # what the backward pass may read: saved inputs, masks, logits
    saved = {t: env[t] for t in plan.saved_tensors}
    masks = [bwd.relu_mask_pack(env[m.tensor], m.params) for m in plan.masks]
    z = env[plan.logits].reshape(1, -1)
    del env

    exps = state.exps
    G: dict[int, np.ndarray] = {}
    stats: dict[int, Any] = {}
    ge = lambda gid: exps[plan.grads[gid].exp_slot]  # noqa: E731
    gz, st0, p_label, correct = bwd.softmax_ce_grad(z, np.array([int(label)]), plan.softmax_ce, ge(plan.logits_grad))
    G[plan.logits_grad] = np.asarray(gz).reshape(plan.grads[plan.logits_grad].shape)
    stats[plan.logits_grad] = st0

    for s in plan.steps:
        op = g.ops[s.op_pos]
        if s.kind == "GRAD_SUM":
            a, b = s.sum_inputs
            G[s.gx[0]], stats[s.gx[0]] = bwd.grad_sum(G[a], ge(a), G[b], ge(b), ge(s.gx[0]))
            del G[a], G[b]
            continue
        assert s.gy is not None  # every step but GRAD_SUM reads an output gradient
        gy = G[s.gy]
        e_gy = ge(s.gy)
        if s.kind in ops.WEIGHTED:
            if s.mask is not None:
                gy = bwd.relu_mask_apply(gy, masks[s.mask])
            wid = op.inputs[1]
            w = state.weights[s.op_pos] if s.op_pos in state.weights else g.tensors[wid].values
            xt = g.tensors[op.inputs[0]]
            if s.gx:
                gid = s.gx[0]
                if s.kind == "CONV_2D":
                    gx, st = bwd.conv2d_input_grad(gy, w, s.grad_params, xt.shape[1:3], e_gy, ge(gid))
                elif s.kind == "DEPTHWISE_CONV_2D":
                    gx, st = bwd.depthwise_conv2d_input_grad(gy, w, s.grad_params, xt.shape[1:3], e_gy, ge(gid))
                else:
                    gx, st = bwd.fully_connected_input_grad(gy.reshape(-1, w.shape[0]), w, s.grad_params, e_gy, ge(gid))
                G[gid] = np.asarray(gx).reshape(xt.shape)
                stats[gid] = st
            if s.update is not None:
                bias = state.biases[s.op_pos]
                # bias only: the input is not read
                xs = saved[s.saved_input] if s.saved_input is not None else np.zeros(xt.shape, np.int8)
                key = update_key(state.step, s.op_pos)  # stochastic weight rounding (numerics.md)
                e_up = e_gy + state.lr_shift  # lr * 2**lr_shift
                if s.kind == "CONV_2D":
                    nw, nb = bwd.conv2d_update(xs, gy, w, bias, s.update, e_up, key)
                elif s.kind == "DEPTHWISE_CONV_2D":
                    nw, nb = bwd.depthwise_conv2d_update(xs, gy, w, bias, s.update, e_up, key)
                else:
                    nw, nb = bwd.fully_connected_update(
                        xs.reshape(-1, w.shape[1]), gy.reshape(-1, w.shape[0]), w, bias, s.update, e_up, key
                    )
                if s.op_pos in state.weights:
                    state.weights[s.op_pos] = np.asarray(nw, dtype=np.int8).reshape(w.shape)
                state.biases[s.op_pos] = np.asarray(nb, dtype=np.int32)
        elif s.kind == "ADD":
            if s.mask is not None:  # a fused ReLU (residual networks)
                gy = bwd.relu_mask_apply(gy, masks[s.mask])
            for gid in s.gx:
                G[gid], stats[gid] = bwd.grad_rescale(gy, e_gy, ge(gid))
        elif s.kind in ("MEAN", "AVERAGE_POOL_2D"):
            xt = g.tensors[op.inputs[0]]
            gid = s.gx[0]
            gy4 = gy.reshape(xt.shape[0], 1, 1, xt.shape[3]) if s.kind == "MEAN" else gy
            gx, st = bwd.avg_pool_grad(gy4, s.grad_params, xt.shape[1:3], e_gy, ge(gid))
            G[gid] = np.asarray(gx).reshape(xt.shape)
            stats[gid] = st
        elif s.kind == "RESHAPE":
            G[s.gx[0]] = gy.reshape(g.tensors[op.inputs[0]].shape)
        elif s.kind in ("PAD", "PADV2"):
            G[s.gx[0]] = bwd.pad_grad(gy, op.params)
        elif s.kind == "TRANSPOSE":
            G[s.gx[0]] = bwd.transpose_grad(gy, op.params)
        else:  # pragma: no cover - the plan refuses other kinds
            raise ValueError(f"no backward for {s.kind}")
        del G[s.gy]  # consumed (the C engine frees it here too)
    # scale policy: one decision per exponent slot from the stats of the tensor that owns it
    sat_total = 0
    new = list(exps)
    for gid, st in stats.items():
        slot = plan.grads[gid].exp_slot
        sat_total += int(st.saturated)
        if st.saturated > 0:
            new[slot] = exps[slot] + 1
        elif st.amax < contract.AMAX_LOW:
            new[slot] = exps[slot] - 1
        new[slot] = min(max(new[slot], contract.POLICY_EXP_MIN), contract.POLICY_EXP_MAX)
    res = StepResult(
        int(np.asarray(p_label).ravel()[0]),
        loss_from_q15(int(np.asarray(p_label).ravel()[0])),
        bool(np.asarray(correct).ravel()[0]),
        sat_total,
        int(np.argmax(z)),
    )
    state.exps = new
    state.step += 1
    state.saturations_total += sat_total
    return res


def step_recorded(
    plan: TrainPlan, state: TrainState, x: npt.ArrayLike, label: int, **kw: Any
) -> tuple[StepResult, dict[int, np.ndarray], list[int]]:
    """:func:`step` that also returns every gradient tensor (gradient id -> int8, the masked
    output gradient is not stored) and the exponents used — for gradient checks."""
    exps_before = list(state.exps)
    rec: dict[int, np.ndarray] = {}
    bwd = kw.pop("bwd", GOLDEN_BACKWARD)
    spy = SimpleNamespace(**{n: getattr(bwd, n) for n in BACKWARD_OPS})
    # wrap every gradient producer to capture its output in order of production
    order: list[np.ndarray] = []

    def wrap(name: str) -> Any:
        f = getattr(bwd, name)

        def inner(*a: Any, **k: Any) -> Any:
            out = f(*a, **k)
            order.append(np.asarray(out[0]).copy())
            return out

        return inner

    for n in (
        "softmax_ce_grad",
        "conv2d_input_grad",
        "depthwise_conv2d_input_grad",
        "fully_connected_input_grad",
        "avg_pool_grad",
        "grad_rescale",
        "grad_sum",
    ):
        setattr(spy, n, wrap(n))
    res = step(plan, state, x, label, bwd=spy, **kw)
    # replay the production order against the plan (softmax first, then the steps' gx in order)
    ids: list[int] = [plan.logits_grad]
    for s in plan.steps:
        if s.kind in ("RESHAPE", "PAD", "PADV2", "TRANSPOSE"):
            continue
        ids.extend(s.gx)
    for gid, arr in zip(ids, order):
        rec[gid] = arr.reshape(plan.grads[gid].shape)
    return res, rec, exps_before


@dataclass(frozen=True)
class Prediction:
    """The forward pass alone on one frame (the golden twin of kt_train_eval(): EVAL and INFER)."""

    logits: npt.NDArray[np.int8]
    prediction: int  # first argmax of the logits
    p_label: int  # Q15 probability of ``label``


def predict(
    plan: TrainPlan, state: TrainState, x: npt.ArrayLike, label: int = 0, fwd: ForwardKernels = golden
) -> Prediction:
    """Logits, prediction and the label's Q15 probability of the state's model on ``x``."""
    z = forward(plan, state, x, fwd)[plan.logits].reshape(-1).astype(np.int8)
    return Prediction(z, int(np.argmax(z)), _q15_p_label(plan, z, int(label)))


def evaluate(
    plan: TrainPlan,
    state: TrainState,
    xs: np.ndarray,
    ys: np.ndarray,
    fwd: ForwardKernels = golden,
    progress: bool = False,
) -> tuple[float, float]:
    """(mean loss from the Q15 p_label, accuracy) of the state's model over a set."""
    losses, correct = [], 0
    it = range(len(ys))
    if progress and len(ys) > 100:
        from tqdm import tqdm

        it = tqdm(it, desc="evaluating", unit="img", leave=False)
    for i in it:
        e = predict(plan, state, xs[i], int(ys[i]), fwd)
        losses.append(loss_from_q15(e.p_label))
        correct += int(e.prediction == int(ys[i]))
    return float(np.mean(losses)) if losses else float("nan"), correct / max(len(ys), 1)


def graph_with_state(plan: TrainPlan, state: TrainState) -> Graph:
    """A copy of the graph whose constant tensors hold the trained parameters (for export)."""
    import copy

    g = copy.copy(plan.graph)
    g.tensors = list(g.tensors)
    for t, arr in _param_env(plan, state).items():
        tt = copy.copy(g.tensors[t])
        tt.data = np.array(arr, copy=True)
        g.tensors[t] = tt
    return g
