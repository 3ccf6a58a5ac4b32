"""Float reference training of the same graph and scheme (numpy), and gradient checks.

:class:`FloatTrainer` trains the int8 graph in floating point, the baseline the integer step is
measured against ("fp32 training of the same layers"):

* weights and biases are the int8 model's, **dequantized** (``W = s_W · W_q``,
  ``b = s_in · s_W · b_q``) and then trained in float (never re-quantized);
* every activation is **fake-quantized** at the int8 model's scale, zero point and clamp
  (``q = clamp(round(y / s) + zp, act_min, act_max)``, ``y = s · (q - zp)``) with a
  straight-through gradient; a fused RELU/RELU6 passes the gradient where
  ``act_min < q (< act_max)``, exactly the integer ReLU mask;
* the loss is softmax cross-entropy on the logits (the input of the model's SOFTMAX);
* plain SGD (batch 1, no momentum) on exactly the layers and channels the scheme trains, with
  the same learning rate in real units as the integer QAS update (QAS makes the integer update
  plain SGD in real units, so the two are directly comparable).

The compute dtype is float32 by default (``dtype=np.float64`` for gradient checks).

:func:`backward_from_int` computes float gradients for **given** activations (the integer
forward's, dequantized) so :func:`gradient_cosines` can compare the integer gradient tensors
with their float counterparts on the same input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.model import ops
from kilotrain.model.geometry import padded_taps
from kilotrain.model.ir import Graph, Op
from kilotrain.training.scheme import SchemeSpec
from kilotrain.training.structure import Structure, structure

F = npt.NDArray[np.floating[Any]]


def _act_range(op: Op) -> tuple[int, int]:
    p = op.params
    return int(getattr(p, "act_min", -128)), int(getattr(p, "act_max", 127))


def relu_mask_from_q(op: Op, q: np.ndarray) -> npt.NDArray[np.bool_] | None:
    """The contract's ReLU mask (True = gradient passes) from int8 output values, None if NONE."""
    lo, hi = _act_range(op)
    if op.activation == "RELU":
        return q > lo
    if op.activation == "RELU6":
        return (q > lo) & (q < hi)
    return None


def _taps_scatter(
    g_taps: Mapping[tuple[int, int], F],
    x_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    out_hw: tuple[int, int],
    dtype: Any,
) -> F:
    """Adjoint of padded_taps: accumulate per-tap (N,OH,OW,C) arrays back into an (N,H,W,C) array."""
    n, h, w, c = x_shape
    kh, kw = kernel
    sh, sw = stride
    pt, pl = padding
    oh, ow = out_hw
    need_h = (oh - 1) * sh + kh
    need_w = (ow - 1) * sw + kw
    pb = max(0, need_h - pt - h)
    pr = max(0, need_w - pl - w)
    gp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype)
    for (i, j), v in g_taps.items():
        gp[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw, :] += v
    return gp[:, pt : pt + h, pl : pl + w, :]


@dataclass
class FloatLayer:
    """A float copy of one conv/dwconv/FC op's weights (op layout) and bias."""

    w: F
    b: F


@dataclass
class FloatTrainer:
    """Float training of ``graph`` under a scheme (see the module docstring)."""

    graph: Graph
    st: Structure
    dtype: Any = np.float32
    fake_quant: bool = True
    layers: dict[int, FloatLayer] = field(default_factory=dict)

    @classmethod
    def create(cls, graph: Graph, scheme: SchemeSpec, dtype: Any = np.float32, fake_quant: bool = True) -> FloatTrainer:
        """Dequantize every conv/dwconv/FC op's weights and bias."""
        return cls.for_structure(structure(graph, scheme), dtype, fake_quant)

    @classmethod
    def for_structure(cls, st: Structure, dtype: Any = np.float32, fake_quant: bool = True) -> FloatTrainer:
        """:meth:`create` for an analysis already made (the plan's own, so both walk the same ops)."""
        graph = st.graph
        t = cls(graph, st, dtype, fake_quant)
        for pos in st.forward_ops:
            op = graph.ops[pos]
            if op.kind in ops.WEIGHTED:
                t.layers[pos] = t._dequant_layer(op)
        return t

    def _dequant_layer(self, op: Op) -> FloatLayer:
        g = self.graph
        wt = g.tensors[op.inputs[1]]
        sw = wt.scales.astype(np.float64)
        w = wt.values.astype(np.float64)
        if op.kind == "DEPTHWISE_CONV_2D":
            w = w * sw.reshape(1, 1, 1, -1)
        else:
            w = w * sw.reshape((-1,) + (1,) * (w.ndim - 1))
        cout = g.tensors[op.outputs[0]].shape[-1]
        bi = op.inputs[2] if len(op.inputs) > 2 else -1
        if bi >= 0:
            bt = g.tensors[bi]
            s_in = g.tensors[op.inputs[0]].s
            b = bt.values.astype(np.float64) * (s_in * np.broadcast_to(sw, (cout,)))
        else:
            b = np.zeros(cout)
        return FloatLayer(w.astype(self.dtype), b.astype(self.dtype))

    # ---------------------------------------------------------------- forward
    def _fq(self, op: Op, tid: int, y: F) -> tuple[F, np.ndarray | None]:
        t = self.graph.tensors[tid]
        lo, hi = _act_range(op)
        if not self.fake_quant:
            if op.activation == "RELU":
                m = y > 0
                return np.maximum(y, 0).astype(self.dtype), m
            if op.activation == "RELU6":
                m = (y > 0) & (y < 6)
                return np.clip(y, 0, 6).astype(self.dtype), m
            return y, None
        s, zp = t.s, t.zp
        q = np.clip(np.round(y / s) + zp, lo, hi)
        return ((q - zp) * s).astype(self.dtype), relu_mask_from_q(op, q)

    def _op_forward(self, op: Op, pos: int, env: dict[int, F]) -> F:
        g = self.graph
        x: Any = env.get(op.inputs[0])  # None only for ops reading no activation
        out_shape = g.tensors[op.outputs[0]].shape
        k = op.kind
        if k == "CONV_2D":
            L = self.layers[pos]
            p = op.params
            _cout, kh, kw, _cin = L.w.shape
            oh, ow = out_shape[1:3]
            y = np.zeros(out_shape, self.dtype)
            for i, j, v in padded_taps(x, (kh, kw), p.stride, p.padding, p.dilation, (oh, ow)):
                y += v @ L.w[:, i, j, :].T
            return y + L.b
        if k == "DEPTHWISE_CONV_2D":
            L = self.layers[pos]
            p = op.params
            _, kh, kw, _cout = L.w.shape
            xx = np.repeat(x, p.depth_multiplier, axis=-1) if p.depth_multiplier > 1 else x
            y = np.zeros(out_shape, self.dtype)
            for i, j, v in padded_taps(xx, (kh, kw), p.stride, p.padding, p.dilation, out_shape[1:3]):
                y += v * L.w[0, i, j]
            return y + L.b
        if k == "FULLY_CONNECTED":
            L = self.layers[pos]
            xx = x.reshape(-1, L.w.shape[1])
            return (xx @ L.w.T + L.b).reshape(out_shape)
        if k == "ADD":
            return env[op.inputs[0]] + env[op.inputs[1]]
        if k == "MEAN":
            return x.mean(axis=(1, 2), keepdims=True).reshape(out_shape)
        if k == "AVERAGE_POOL_2D":
            p = op.params
            acc = np.zeros(out_shape, self.dtype)
            cnt = np.zeros(out_shape, self.dtype)
            ones = np.ones_like(x)
            for (_, _, v), (_, _, c) in zip(
                padded_taps(x, p.filter, p.stride, p.padding, (1, 1), out_shape[1:3]),
                padded_taps(ones, p.filter, p.stride, p.padding, (1, 1), out_shape[1:3]),
            ):
                acc += v
                cnt += c
            return acc / cnt
        if k in ("PAD", "PADV2"):
            tout = g.tensors[op.outputs[0]]
            fill = (op.params.pad_value - tout.zp) * tout.s
            return np.pad(x, op.params.paddings, constant_values=fill).astype(self.dtype)
        if k == "TRANSPOSE":
            return np.transpose(x, op.params.perm)
        if k == "RESHAPE":
            return x.reshape(out_shape)
        raise NotImplementedError(f"float reference: op {op.index} {k}")

    def dequant_input(self, x: np.ndarray) -> F:
        t = self.graph.input
        return ((np.asarray(x).astype(np.float64).reshape(t.shape) - t.zp) * t.s).astype(self.dtype)

    def forward(self, x_int8: np.ndarray) -> tuple[dict[int, F], dict[int, np.ndarray]]:
        """Float forward up to the logits. Returns (tensor id -> real value, op pos -> ReLU mask)."""
        g = self.graph
        env: dict[int, F] = {g.inputs[0]: self.dequant_input(x_int8)}
        masks: dict[int, np.ndarray] = {}
        for pos in self.st.forward_ops:
            op = g.ops[pos]
            y = self._op_forward(op, pos, env)
            if op.kind in ("RESHAPE", "TRANSPOSE", "PAD", "PADV2"):
                env[op.outputs[0]] = y
                continue
            y, m = self._fq(op, op.outputs[0], y)
            if m is not None:
                masks[pos] = m
            env[op.outputs[0]] = y
        return env, masks

    def logits(self, env: dict[int, F]) -> F:
        return env[self.st.logits].reshape(-1)

    # ---------------------------------------------------------------- backward
    def backward(
        self,
        env: dict[int, F],
        masks: dict[int, np.ndarray],
        label: int,
        record: dict[tuple[int, int], F] | None = None,
    ) -> tuple[dict[int, F], dict[int, tuple[F, F]], float, F]:
        """Float backward over the plan's backward ops. Returns (tensor grads, op pos -> (dW, db),
        loss, softmax probabilities). Gradients of frozen weights are not computed. ``record``,
        when given, receives every input-gradient contribution under (op pos, tensor id)."""
        g = self.graph
        z = self.logits(env).astype(np.float64)
        e = np.exp(z - z.max())
        p = e / e.sum()
        loss = float(-np.log(max(p[label], 1e-30)))
        gz = p.copy()
        gz[label] -= 1.0
        grads: dict[int, F] = {self.st.logits: gz.reshape(g.tensors[self.st.logits].shape).astype(self.dtype)}
        pgrads: dict[int, tuple[F, F]] = {}
        for pos in self.st.backward_ops:
            op = g.ops[pos]
            gy = grads[op.outputs[0]]
            if pos in masks:
                gy = gy * masks[pos]
            upd = self.st.updates.get(pos)
            for tin, gx in self._op_backward(op, pos, env, gy, upd, pgrads):
                if record is not None:
                    record[(pos, tin)] = gx
                if tin in self.st.grad_tensors:
                    grads[tin] = grads[tin] + gx if tin in grads else gx
        return grads, pgrads, loss, p

    def _op_backward(
        self, op: Op, pos: int, env: dict[int, F], gy: F, upd: Any, pgrads: dict[int, tuple[F, F]]
    ) -> list[tuple[int, F]]:
        g = self.graph
        k = op.kind
        xin = op.inputs[0]
        want_x = xin in self.st.grad_tensors
        out: list[tuple[int, F]] = []
        if k in ops.WEIGHTED:
            L = self.layers[pos]
            x = env[xin]
            if k == "FULLY_CONNECTED":
                xx = x.reshape(-1, L.w.shape[1])
                gyy = gy.reshape(-1, L.w.shape[0])
                if want_x:
                    out.append((xin, (gyy @ L.w).reshape(x.shape)))
                if upd is not None:
                    pgrads[pos] = (gyy.T @ xx, gyy.sum(axis=0))
                return out
            p = op.params
            if k == "CONV_2D":
                cout, kh, kw, cin = L.w.shape
                oh, ow = gy.shape[1:3]
                if want_x:
                    taps = {(i, j): gy @ L.w[:, i, j, :] for i in range(kh) for j in range(kw)}
                    out.append((xin, _taps_scatter(taps, x.shape, (kh, kw), p.stride, p.padding, (oh, ow), self.dtype)))
                if upd is not None:
                    dw = np.zeros_like(L.w)
                    g2 = gy.reshape(-1, cout)
                    for i, j, v in padded_taps(x, (kh, kw), p.stride, p.padding, p.dilation, (oh, ow)):
                        dw[:, i, j, :] = g2.T @ v.reshape(-1, cin)
                    pgrads[pos] = (dw, gy.sum(axis=(0, 1, 2)))
                return out
            # depthwise
            _, kh, kw, cout = L.w.shape
            dm = p.depth_multiplier
            oh, ow = gy.shape[1:3]
            if want_x:
                taps = {}
                for i in range(kh):
                    for j in range(kw):
                        t = gy * L.w[0, i, j]
                        if dm > 1:
                            t = t.reshape((*t.shape[:3], -1, dm)).sum(axis=-1)
                        taps[(i, j)] = t
                out.append((xin, _taps_scatter(taps, x.shape, (kh, kw), p.stride, p.padding, (oh, ow), self.dtype)))
            if upd is not None:
                xx = np.repeat(x, dm, axis=-1) if dm > 1 else x
                dw = np.zeros_like(L.w)
                for i, j, v in padded_taps(xx, (kh, kw), p.stride, p.padding, p.dilation, (oh, ow)):
                    dw[0, i, j] = (gy * v).sum(axis=(0, 1, 2))
                pgrads[pos] = (dw, gy.sum(axis=(0, 1, 2)))
            return out
        if k == "ADD":
            for t in op.inputs[:2]:
                if t in self.st.grad_tensors:
                    out.append((t, gy))
            return out
        if not want_x:
            return out
        x_shape = g.tensors[xin].shape
        if k == "MEAN":
            n = x_shape[1] * x_shape[2]
            return [(xin, np.broadcast_to(gy.reshape(x_shape[0], 1, 1, x_shape[3]) / n, x_shape).astype(self.dtype))]
        if k == "AVERAGE_POOL_2D":
            p = op.params
            ones = np.ones(x_shape, self.dtype)
            cnt = np.zeros(gy.shape, self.dtype)
            for _, _, c in padded_taps(ones, p.filter, p.stride, p.padding, (1, 1), gy.shape[1:3]):
                cnt += c
            gq = gy / cnt
            taps = {(i, j): gq for i in range(p.filter[0]) for j in range(p.filter[1])}
            return [(xin, _taps_scatter(taps, x_shape, p.filter, p.stride, p.padding, gy.shape[1:3], self.dtype))]
        if k in ("PAD", "PADV2"):
            sl = tuple(slice(a, a + n) for (a, _), n in zip(op.params.paddings, x_shape))
            return [(xin, gy[sl])]
        if k == "TRANSPOSE":
            return [(xin, np.transpose(gy, np.argsort(op.params.perm)))]
        if k == "RESHAPE":
            return [(xin, gy.reshape(x_shape))]
        raise NotImplementedError(f"float reference backward: op {op.index} {k}")

    # ---------------------------------------------------------------- SGD
    def sgd(self, pgrads: dict[int, tuple[F, F]], lr: float) -> None:
        """Plain SGD on the scheme's parameters: bias on all channels, weights on the first n."""
        for pos, (dw, db) in pgrads.items():
            upd = self.st.updates[pos]
            L = self.layers[pos]
            L.b -= (lr * db).astype(self.dtype)
            n = upd.n_channels
            if n > 0:
                if self.graph.ops[pos].kind == "DEPTHWISE_CONV_2D":
                    L.w[..., :n] -= (lr * dw[..., :n]).astype(self.dtype)
                else:
                    L.w[:n] -= (lr * dw[:n]).astype(self.dtype)

    def step(self, x_int8: np.ndarray, label: int, lr: float) -> tuple[float, bool]:
        """One float training step. Returns (loss, correct before the update)."""
        env, masks = self.forward(x_int8)
        _, pgrads, loss, p = self.backward(env, masks, label)
        self.sgd(pgrads, lr)
        return loss, bool(int(np.argmax(p)) == label)

    def predict(self, x_int8: np.ndarray) -> int:
        env, _ = self.forward(x_int8)
        return int(np.argmax(self.logits(env)))

    def evaluate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) over a set."""
        losses, correct = [], 0
        for x, y in zip(xs, ys):
            env, _ = self.forward(x)
            z = self.logits(env).astype(np.float64)
            lse = z.max() + np.log(np.exp(z - z.max()).sum())
            losses.append(float(lse - z[int(y)]))
            correct += int(np.argmax(z) == int(y))
        return float(np.mean(losses)), correct / max(len(ys), 1)


def env_from_int(graph: Graph, env_q: dict[int, np.ndarray], dtype: Any = np.float64) -> dict[int, F]:
    """Dequantize an integer forward environment (tensor id -> int8) to real values."""
    out = {}
    for t, q in env_q.items():
        ten = graph.tensors[t]
        if ten.scale is None or ten.scale.size != 1:
            continue
        out[t] = ((np.asarray(q).astype(np.float64) - ten.zp) * ten.s).astype(dtype)
    return out


def backward_from_int(
    trainer: FloatTrainer, env_q: dict[int, np.ndarray], label: int, record: dict[tuple[int, int], F] | None = None
) -> tuple[dict[int, F], dict[int, tuple[F, F]], float]:
    """Float gradients for the integer forward's activations (dequantized) and its ReLU masks.
    The trainer's float weights should equal the integer model's (a fresh FloatTrainer);
    ``record`` as in :meth:`FloatTrainer.backward`."""
    g = trainer.graph
    env = env_from_int(g, env_q, trainer.dtype)
    masks = {}
    for pos in trainer.st.backward_ops:
        op = g.ops[pos]
        m = relu_mask_from_q(op, np.asarray(env_q[op.outputs[0]]))
        if m is not None:
            masks[pos] = m
    grads, pgrads, loss, _ = trainer.backward(env, masks, label, record)
    return grads, pgrads, loss
