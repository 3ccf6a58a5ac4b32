"""The same training step in PyTorch (float32, CPU): the baseline ``kilotrain bench`` measures the
host-native integer step against.

:func:`build_mirror` turns a kilotrain :class:`~kilotrain.model.ir.Graph` and a sparse-update
scheme into a ``torch.nn.Module`` of the same architecture, with the semantics of
:class:`~kilotrain.training.float_reference.FloatTrainer` without fake quantization
(``fake_quant=False``), i.e. what a PyTorch user fine-tuning the float model would run:

* weights and biases are the int8 model's, dequantized (:meth:`FloatTrainer.for_structure`
  does it, so both hold the same float32 numbers); activations are NCHW float32, fused
  RELU / RELU6 are ``F.relu`` / ``F.relu6`` (their gradients pass exactly where FloatTrainer's
  masks do);
* TFLite's padding is reproduced exactly: symmetric padding goes to the convolution, asymmetric
  SAME padding (the odd extra row/column at the bottom/right) is an explicit ``F.pad`` first;
  AVERAGE_POOL_2D with padding divides by the number of real (unpadded) taps, as TFLite does;
* ``requires_grad`` is set only on what the scheme trains: the bias of every trainable op, the
  weights of the weight-updated ones (the classifier's included). For a partial ratio ``r`` only
  the first ``ceil(r · Cout)`` output channels may change: a gradient hook on that weight
  multiplies its gradient by a 0/1 output-channel mask, so autograd computes the whole weight
  gradient (as PyTorch would for any parameter) and SGD leaves the masked channels bit-exact;
* the frozen prefix (every op before the earliest trainable op) runs under ``torch.no_grad()``
  and intermediate activations are dropped after their last use, as a PyTorch user would do for
  sparse fine-tuning;
* the step is softmax cross-entropy on the logits and plain SGD (batch 1, no momentum, no weight
  decay) at the plan's learning rate.

:func:`torch_step_benchmark` times that step in a child process (``python -m
kilotrain.training.torch_mirror``): one thread, batch 1, a few warm-up steps, then the median of
the timed steps (``time.perf_counter`` around forward, loss, backward and the optimizer step) and
the child's own peak resident memory (VmHWM), so that the figure is PyTorch's and not the caller's.

PyTorch is an optional extra (``pip install 'kilotrain[torch]'``); it is imported here only, when
a function needs it, and its absence is a one-line :class:`~kilotrain.extras.MissingExtra`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.extras import MissingExtra, require
from kilotrain.model import ops
from kilotrain.model.ir import Graph
from kilotrain.training.float_reference import FloatTrainer
from kilotrain.training.scheme import SchemeSpec, resolve
from kilotrain.training.structure import Structure, structure

#: Op kinds the mirror runs forward (the bench models use all but PAD/PADV2/TRANSPOSE).
SUPPORTED: tuple[str, ...] = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "MEAN",
    "AVERAGE_POOL_2D",
    "PAD",
    "PADV2",
    "RESHAPE",
    "TRANSPOSE",
)
#: Fused activations the mirror applies.
ACTIVATIONS: tuple[str, ...] = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
#: Warm-up steps before timing (the first steps pay for the allocator and oneDNN's primitive cache).
WARMUP = 3


class TorchMirrorError(ValueError):
    """The graph cannot be mirrored in PyTorch, or the measurement failed; the message is one line."""


def _torch() -> Any:
    return require("torch", "torch", "the PyTorch baseline")


@dataclass(frozen=True)
class _Node:
    """One op of the training forward, as the mirror runs it."""

    pos: int  # position in graph.ops
    kind: str
    inputs: tuple[int, ...]  # activation tensor ids it reads
    output: int
    out_shape: tuple[int, ...]  # NHWC, as in the graph
    act: str
    params: Any
    pad: tuple[int, int, int, int] | None  # F.pad (left, right, top, bottom) before a conv/pool
    release: tuple[int, ...]  # tensor ids read for the last time here


def _pad_lrtb(in_shape: tuple[int, ...], out_hw: tuple[int, ...], kernel: tuple[int, int], p: Any) -> tuple[int, ...]:
    """TFLite's padding of a conv/pool as (left, right, top, bottom): top/left from the params,
    bottom/right what the output size needs (as :func:`kilotrain.model.geometry.padded_taps`)."""
    _, h, w, _ = in_shape
    (kh, kw), (sh, sw) = kernel, p.stride
    dh, dw = getattr(p, "dilation", (1, 1))
    pt, pl = p.padding
    pb = max(0, (out_hw[0] - 1) * sh + (kh - 1) * dh + 1 - pt - h)
    pr = max(0, (out_hw[1] - 1) * sw + (kw - 1) * dw + 1 - pl - w)
    return (pl, pr, pt, pb)


def _nodes(st: Structure) -> list[_Node]:
    g = st.graph
    nodes: list[_Node] = []
    for pos in st.forward_ops:
        op = g.ops[pos]
        if op.kind not in SUPPORTED:
            raise TorchMirrorError(
                f"op {op.index} ({op.kind}) has no PyTorch mirror; the mirror supports {', '.join(SUPPORTED)}"
            )
        if op.activation not in ACTIVATIONS:
            raise TorchMirrorError(
                f"op {op.index} ({op.kind}) has fused activation {op.activation}; "
                f"the PyTorch mirror supports {', '.join(ACTIVATIONS)}"
            )
        acts = op.inputs[:2] if op.kind == "ADD" else op.inputs[:1]
        out_shape = tuple(int(d) for d in g.tensors[op.outputs[0]].shape)
        pad = None
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
            p = op.params
            if op.kind == "AVERAGE_POOL_2D":
                kernel = (int(p.filter[0]), int(p.filter[1]))
            else:
                wshape = g.tensors[op.inputs[1]].shape
                kernel = (int(wshape[1]), int(wshape[2]))
            l, r, t, b = _pad_lrtb(g.tensors[op.inputs[0]].shape, out_shape[1:3], kernel, p)
            if (l, r, t, b) != (0, 0, 0, 0) and (op.kind == "AVERAGE_POOL_2D" or l != r or t != b):
                pad = (l, r, t, b)
        nodes.append(_Node(pos, op.kind, tuple(acts), op.outputs[0], out_shape, op.activation, op.params, pad, ()))
    # tensors read for the last time by each node (the logits are kept)
    last: dict[int, int] = {}
    for i, n in enumerate(nodes):
        for t in n.inputs:
            last[t] = i
    release: dict[int, list[int]] = {}
    for t, i in last.items():
        if t != st.logits:
            release.setdefault(i, []).append(t)
    return [
        _Node(n.pos, n.kind, n.inputs, n.output, n.out_shape, n.act, n.params, n.pad, tuple(release.get(i, ())))
        for i, n in enumerate(nodes)
    ]


@functools.cache
def _mirror_class() -> Any:
    """The nn.Module class (defined once torch is imported)."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    def nhwc(t: Any) -> Any:
        return t.permute(0, 2, 3, 1) if t.dim() == 4 else t

    def nchw(t: Any) -> Any:
        return t.permute(0, 3, 1, 2) if t.dim() == 4 else t

    class TorchMirror(nn.Module):  # type: ignore[name-defined]  # torch is an optional import (Any)
        """The graph's training forward in PyTorch (see the module docstring)."""

        def __init__(self, st: Structure, nodes: list[_Node]) -> None:
            super().__init__()
            g = st.graph
            self.structure = st
            self.nodes = nodes
            self.input_id = g.inputs[0]
            self.logits_id = st.logits
            self.first = st.first
            ft = FloatTrainer.for_structure(st, np.float32, fake_quant=False)
            self.layers = nn.ModuleDict()
            self._pool_scale: dict[int, Any] = {}
            for n in nodes:
                op = g.ops[n.pos]
                if n.kind in ops.WEIGHTED:
                    self.layers[str(n.pos)] = self._layer(g, op, n, ft.layers[n.pos].w, ft.layers[n.pos].b)
                elif n.kind == "AVERAGE_POOL_2D" and n.pad is not None:
                    ones = F.pad(torch.ones((1, 1, *g.tensors[op.inputs[0]].shape[1:3])), n.pad)
                    count = F.avg_pool2d(ones, n.params.filter, n.params.stride, divisor_override=1)
                    self._pool_scale[n.pos] = 1.0 / count  # the sum over the real taps / their number
            for p in self.parameters():
                p.requires_grad_(False)
            for pos, upd in st.updates.items():
                layer = self.layers[str(pos)]
                layer.bias.requires_grad_(True)
                if upd.n_channels > 0:
                    layer.weight.requires_grad_(True)
                    cout = layer.weight.shape[0]
                    if upd.n_channels < cout:
                        mask = torch.zeros((cout,) + (1,) * (layer.weight.dim() - 1))
                        mask[: upd.n_channels] = 1.0
                        layer.weight.register_hook(functools.partial(torch.mul, other=mask))

        @staticmethod
        def _layer(g: Graph, op: Any, n: _Node, w: np.ndarray, b: np.ndarray) -> Any:
            if n.kind == "FULLY_CONNECTED":
                layer = nn.Linear(w.shape[1], w.shape[0])
                weight = torch.from_numpy(w.copy())
            else:
                p = op.params
                cin = int(g.tensors[op.inputs[0]].shape[-1])
                if n.kind == "CONV_2D":
                    weight = torch.from_numpy(np.ascontiguousarray(w.transpose(0, 3, 1, 2)))  # (Cout,Cin,KH,KW)
                    groups = 1
                else:
                    weight = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 0, 1, 2)))  # (Cout,1,KH,KW)
                    groups = cin
                padding = (0, 0) if n.pad is not None else (int(p.padding[0]), int(p.padding[1]))
                layer = nn.Conv2d(
                    cin,
                    weight.shape[0],
                    tuple(weight.shape[2:]),
                    stride=tuple(p.stride),
                    padding=padding,
                    dilation=tuple(p.dilation),
                    groups=groups,
                )
            with torch.no_grad():
                layer.weight.copy_(weight)
                layer.bias.copy_(torch.from_numpy(b.copy()))
            return layer

        def _op(self, n: _Node, env: dict[int, Any]) -> Any:
            k = n.kind
            x = env[n.inputs[0]]
            fresh = True  # y is a new tensor (an activation may work in place)
            if k in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                y = self.layers[str(n.pos)](x if n.pad is None else F.pad(x, n.pad))
            elif k == "FULLY_CONNECTED":
                layer = self.layers[str(n.pos)]
                y = nchw(layer(nhwc(x).reshape(-1, layer.in_features)).reshape(n.out_shape))
            elif k == "ADD":
                x2 = env[n.inputs[1]]
                y = x + x2 if x.dim() == x2.dim() else nchw(nhwc(x) + nhwc(x2))
            elif k == "MEAN":
                y = nchw(nhwc(x.mean(dim=(2, 3), keepdim=True)).reshape(n.out_shape))
            elif k == "AVERAGE_POOL_2D":
                p = n.params
                if n.pad is None:
                    y = F.avg_pool2d(x, p.filter, p.stride)
                else:
                    y = F.avg_pool2d(F.pad(x, n.pad), p.filter, p.stride, divisor_override=1) * self._pool_scale[n.pos]
            elif k in ("PAD", "PADV2"):
                g = self.structure.graph
                tout = g.tensors[n.output]
                fill = float((n.params.pad_value - tout.zp) * tout.s)
                pads = n.params.paddings
                if x.dim() == 4:  # NCHW
                    if pads[0] != (0, 0):
                        raise TorchMirrorError(f"op {g.ops[n.pos].index} (PAD) pads the batch dimension")
                    pads = (pads[0], pads[3], pads[1], pads[2])
                flat = tuple(int(v) for pair in reversed(pads) for v in pair)
                y = F.pad(x, flat, value=fill)
            elif k == "TRANSPOSE":
                y = nchw(nhwc(x).permute(*n.params.perm))
                fresh = False
            else:  # RESHAPE
                y = nchw(nhwc(x).reshape(n.out_shape))
                fresh = False
            if n.act == "RELU":
                y = F.relu(y, inplace=fresh)
            elif n.act == "RELU6":
                y = F.relu6(y, inplace=fresh)
            elif n.act == "RELU_N1_TO_1":
                y = F.hardtanh(y, -1.0, 1.0, inplace=fresh)
            return y

        def run(self, x: Any, keep: bool = False) -> dict[int, Any]:
            """The forward from an NCHW input; tensor id -> value (NCHW for rank 4). Without
            ``keep`` only the logits are left (each activation is dropped after its last use)."""
            env = {self.input_id: x}
            with torch.no_grad():
                for n in self.nodes:
                    if n.pos >= self.first:
                        break
                    env[n.output] = self._op(n, env)
                    if not keep:
                        for t in n.release:
                            del env[t]
            for n in self.nodes:
                if n.pos < self.first:
                    continue
                env[n.output] = self._op(n, env)
                if not keep:
                    for t in n.release:
                        del env[t]
            return env

        def forward(self, x: Any) -> Any:
            """The logits, shape (1, classes), from an NCHW float input."""
            return nhwc(self.run(x)[self.logits_id]).reshape(1, -1)

        def input_tensor(self, x_int8: np.ndarray) -> Any:
            """The int8 input dequantized (as FloatTrainer does), NCHW float32."""
            t = self.structure.graph.input
            real = ((np.asarray(x_int8).astype(np.float64).reshape(t.shape) - t.zp) * t.s).astype(np.float32)
            return nchw(torch.from_numpy(real)).contiguous()

        def trainable_parameters(self) -> list[Any]:
            return [p for p in self.parameters() if p.requires_grad]

        def layer_arrays(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
            """op position -> (weights in the op's layout, bias), numpy copies (FloatTrainer's layout)."""
            out = {}
            for n in self.nodes:
                if n.kind not in ops.WEIGHTED:
                    continue
                layer = self.layers[str(n.pos)]
                w = layer.weight.detach().numpy().copy()
                if n.kind == "CONV_2D":
                    w = w.transpose(0, 2, 3, 1)
                elif n.kind == "DEPTHWISE_CONV_2D":
                    w = w.transpose(1, 2, 3, 0)
                out[n.pos] = (np.ascontiguousarray(w), layer.bias.detach().numpy().copy())
            return out

    return TorchMirror


def build_mirror(graph: Graph, scheme: SchemeSpec | Structure) -> Any:
    """The float32 ``nn.Module`` of ``graph`` under ``scheme`` (see the module docstring).
    :class:`TorchMirrorError` for an op it cannot run, MissingExtra without PyTorch."""
    st = scheme if isinstance(scheme, Structure) else structure(graph, scheme)
    nodes = _nodes(st)
    model = _mirror_class()(st, nodes)
    g = st.graph
    with _torch().no_grad():
        env = model.run(model.input_tensor(np.zeros(g.input.shape, np.int8)), keep=True)
    for n in nodes:
        got = tuple(env[n.output].permute(0, 2, 3, 1).shape if env[n.output].dim() == 4 else env[n.output].shape)
        if got != n.out_shape:
            raise TorchMirrorError(
                f"op {g.ops[n.pos].index} ({n.kind}): the PyTorch mirror computes shape {list(got)}, "
                f"the model {list(n.out_shape)}"
            )
    return model


def sgd(model: Any, lr: float) -> Any:
    """Plain SGD (no momentum, no weight decay) over the parameters the scheme trains."""
    return _torch().optim.SGD(model.trainable_parameters(), lr=lr)


def train_step(model: Any, opt: Any, x: Any, label: Any) -> float:
    """One step: forward, softmax cross-entropy, backward, SGD. ``x`` NCHW, ``label`` a (1,) long
    tensor. The loss."""
    torch = _torch()
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), label)
    loss.backward()
    opt.step()
    return float(loss.item())


def peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM, else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def measure(
    graph: Graph,
    scheme: SchemeSpec,
    frames: Sequence[tuple[np.ndarray, int]],
    steps: int,
    lr: float,
    warmup: int = WARMUP,
) -> dict[str, Any]:
    """Time the step in this process (one thread): ``warmup`` steps, then ``steps`` timed ones,
    cycling through ``frames``. Use :func:`torch_step_benchmark` for a peak memory that is
    PyTorch's alone."""
    torch = _torch()
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set, or inter-op work already ran in this process
        torch.set_num_interop_threads(1)
    model = build_mirror(graph, scheme)
    opt = sgd(model, lr)
    data = [(model.input_tensor(x), torch.tensor([int(y)])) for x, y in frames]
    times: list[float] = []
    losses: list[float] = []
    for i in range(warmup + steps):
        x, y = data[i % len(data)]
        t0 = time.perf_counter()
        losses.append(train_step(model, opt, x, y))
        t = time.perf_counter() - t0
        if i >= warmup:
            times.append(t)
    return {
        "version": str(torch.__version__),
        "threads": int(torch.get_num_threads()),
        "steps": steps,
        "warmup": warmup,
        "step_ms": round(statistics.median(times) * 1e3, 3),
        "step_ms_min": round(min(times) * 1e3, 3),
        "peak_rss_bytes": peak_rss_bytes(),
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


def torch_step_benchmark(
    graph: Graph,
    scheme: SchemeSpec,
    frames: Sequence[tuple[np.ndarray, int]],
    steps: int,
    lr: float,
    warmup: int = WARMUP,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """:func:`measure` in a fresh child process (``python -m kilotrain.training.torch_mirror``,
    one OpenMP/MKL thread), so that ``peak_rss_bytes`` is the peak resident memory of a process
    doing nothing but the PyTorch step: ``version``, ``threads``, ``steps``, ``warmup``,
    ``step_ms`` (median), ``step_ms_min``, ``peak_rss_bytes`` and the first and last loss.
    MissingExtra (one line, the pip command) without PyTorch, TorchMirrorError when the graph
    cannot be mirrored or the child fails."""
    if steps < 1 or not frames:
        raise TorchMirrorError(f"the PyTorch benchmark needs steps >= 1 and a frame; got {steps} steps")
    job = {
        "graph": graph,
        "scheme": resolve(scheme, graph),
        "frames": [(np.asarray(x, np.int8), int(y)) for x, y in frames],
        "steps": int(steps),
        "lr": float(lr),
        "warmup": int(warmup),
    }
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parents[2])  # the directory holding the kilotrain package
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory(prefix="kilotrain-torch-") as tmp:
        path = Path(tmp) / "job.pickle"
        path.write_bytes(pickle.dumps(job))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "kilotrain.training.torch_mirror", str(path)],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise TorchMirrorError(f"the PyTorch benchmark took longer than {timeout:.0f} s") from None
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise TorchMirrorError(f"the PyTorch benchmark process failed (exit {proc.returncode}): {err}")
    if "error" in result:
        cls = MissingExtra if result.get("type") == "MissingExtra" else TorchMirrorError
        raise cls(str(result["error"]))
    return result


def main(argv: list[str] | None = None) -> int:
    """The child of :func:`torch_step_benchmark`: measure the pickled job, print one JSON line
    (the figures, or ``{"error": ..., "type": ...}``)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(json.dumps({"error": "usage: python -m kilotrain.training.torch_mirror JOB.pickle", "type": "usage"}))
        return 2
    try:
        job = pickle.loads(Path(args[0]).read_bytes())
        out = measure(job["graph"], job["scheme"], job["frames"], job["steps"], job["lr"], job["warmup"])
    except (MissingExtra, ValueError) as e:
        print(json.dumps({"error": str(e), "type": type(e).__name__}))
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
