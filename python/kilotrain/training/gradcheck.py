"""Gradient checks: the integer step's gradient tensors against float64 gradients of the same
forward activations and parameters (docs/training.md, "How close the integer gradients are")."""

from __future__ import annotations

import numpy as np

from kilotrain.training import step as tg
from kilotrain.training.float_reference import F, FloatTrainer, backward_from_int
from kilotrain.training.plan import TrainPlan
from kilotrain.training.step import TrainState


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays (1.0 if both are zero)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


def sync_from_state(trainer: FloatTrainer, state: TrainState) -> None:
    """Set the trainer's float parameters to the integer state's (dequantized)."""
    g = trainer.graph
    for pos, b in state.biases.items():
        op = g.ops[pos]
        s_in = g.tensors[op.inputs[0]].s
        sw = np.broadcast_to(g.tensors[op.inputs[1]].scales.astype(np.float64), b.shape)
        trainer.layers[pos].b = (b.astype(np.float64) * s_in * sw).astype(trainer.dtype)
    for pos, w in state.weights.items():
        op = g.ops[pos]
        sw = g.tensors[op.inputs[1]].scales.astype(np.float64)
        shape = (1, 1, 1, -1) if op.kind == "DEPTHWISE_CONV_2D" else (-1,) + (1,) * (w.ndim - 1)
        trainer.layers[pos].w = (w.astype(np.float64) * sw.reshape(shape)).astype(trainer.dtype)


def gradient_cosines(plan: TrainPlan, state: TrainState, samples: list[tuple[np.ndarray, int]]) -> dict[int, float]:
    """Per integer gradient tensor of ``plan`` (gradient id -> min over ``samples``): the cosine
    between the integer gradient ``g · 2^e`` of one step from ``state`` (not modified) and the
    float64 gradient for the same integer forward activations and parameters. View gradients
    (RESHAPE/PAD/TRANSPOSE) are left out (they equal their source)."""
    ft = FloatTrainer.for_structure(plan.structure, dtype=np.float64)
    sync_from_state(ft, state)
    cos: dict[int, list[float]] = {}
    for x, y in samples:
        env_q = tg.forward(plan, state, x)
        _, rec, exps = tg.step_recorded(plan, state.copy(), x, int(y))
        record: dict[tuple[int, int], F] = {}
        gf, _, _ = backward_from_int(ft, env_q, int(y), record)
        for gid, arr in rec.items():
            gt = plan.grads[gid]
            if gt.role == "contribution" and gt.consumer is not None:
                f = record[(gt.consumer, gt.tensor)]
            else:
                f = gf[gt.tensor]
            cos.setdefault(gid, []).append(cosine(arr.astype(np.float64) * 2.0 ** exps[gt.exp_slot], f))
    return {gid: min(c) for gid, c in cos.items()}
