"""Sparse-update schemes (the paper's three knobs) and their validation against a graph.

A :class:`SparseScheme` says

* ``n_bias_update`` — how many **trailing** conv layers get their bias updated (this also sets
  how deep backpropagation goes);
* ``weight_layers`` / ``ratios`` — which conv layers also get their weights updated, and on what
  fraction ``r ∈ {1/8, 1/4, 1/2, 1}`` of their output channels (the first ``ceil(r · Cout)``);
  a ratio of ``0`` (it appears in the paper's released schemes) means "listed but not updated" and
  is dropped;
* the **classifier** (the op producing the logits) always gets weights and bias updated.

Layer indices are the paper's: all CONV_2D / DEPTHWISE_CONV_2D layers in network order,
0 = stem, **the classifier not counted** (``op.conv_index`` in the IR). When the classifier is
itself a 1x1 CONV_2D (person_detect's last layer), it is excluded from the indices: a model with
28 conv ops, the last one being the classifier, has scheme layers 0..26.

Our zoo MobileNetV2-w0.35 numbers layers exactly like the paper's released model (52 convs:
stem 0, the first block's depthwise 1 and projection 2, then expand / depthwise / projection
triples from 3, the final 1x1 conv 51): the shipped schemes' weight layers 27, 30, …, 48 all land on
the first point-wise (expand) conv of a block, as the paper's analysis says they should.

Presets: ``classifier-only``, ``bias-only`` (every conv bias + the classifier), ``last-layer``
(classifier + the last conv layer's weights and bias), and the paper's MobileNetV2-w0.35 schemes
``49kb``, ``73kb``, ``99kb``, ``123kb``, ``138kb``, and ProxylessNAS-w0.3's ``proxyless-98kb``.
A JSON file holds
``{"n_bias_update": N, "weight_layers": [..], "ratios": [..]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from kilotrain.model.ir import Graph, Op

#: Allowed channel ratios of a weight update.
RATIOS: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)


class SchemeError(ValueError):
    """A scheme is malformed or does not fit the model; the message names the offending part."""


@dataclass(frozen=True)
class SparseScheme:
    """The paper's sparse-update knobs (see the module docstring)."""

    n_bias_update: int = 0
    weight_layers: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()
    name: str = "custom"
    #: weight layers whose ratio was 0 in the source (kept for reporting only)
    dropped: tuple[int, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.n_bias_update, bool) or not isinstance(self.n_bias_update, int) or self.n_bias_update < 0:
            raise SchemeError(
                f"scheme {self.name!r}: n_bias_update must be an integer >= 0; got {self.n_bias_update!r}"
            )
        if len(self.weight_layers) != len(self.ratios):
            raise SchemeError(
                f"scheme {self.name!r}: {len(self.weight_layers)} weight layers but {len(self.ratios)} ratios"
            )
        for li, r in zip(self.weight_layers, self.ratios):
            if isinstance(li, bool) or not isinstance(li, int) or li < 0:
                raise SchemeError(f"scheme {self.name!r}: weight layer {li!r} is not a conv layer index >= 0")
            if r not in RATIOS:
                raise SchemeError(
                    f"scheme {self.name!r}: layer {li} has ratio {r!r}; "
                    "allowed ratios are 1/8, 1/4, 1/2, 1 (0 = not updated)"
                )
        if len(set(self.weight_layers)) != len(self.weight_layers):
            raise SchemeError(f"scheme {self.name!r}: a weight layer is listed twice: {list(self.weight_layers)}")

    @classmethod
    def from_lists(
        cls, n_bias_update: int, weight_layers: list[int], ratios: list[float], name: str = "custom"
    ) -> SparseScheme:
        """Build a scheme, dropping ratio-0 entries (the paper's "not updated")."""
        if len(weight_layers) != len(ratios):
            raise SchemeError(f"scheme {name!r}: {len(weight_layers)} weight layers but {len(ratios)} ratios")
        wl, rs, dropped = [], [], []
        for li, r in zip(weight_layers, ratios):
            try:
                rf = float(r)
            except (TypeError, ValueError):
                raise SchemeError(f"scheme {name!r}: layer {li} has ratio {r!r}; expected a number") from None
            if rf == 0.0:
                dropped.append(li)
                continue
            wl.append(li)
            rs.append(rf)
        return cls(n_bias_update, tuple(wl), tuple(rs), name, tuple(dropped))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``name`` included for information)."""
        return {
            "name": self.name,
            "n_bias_update": self.n_bias_update,
            "weight_layers": list(self.weight_layers),
            "ratios": list(self.ratios),
        }

    def weight_ratio(self, layer: int) -> float:
        """Channel ratio of a conv layer's weight update (0 if its weights are frozen)."""
        for li, r in zip(self.weight_layers, self.ratios):
            if li == layer:
                return r
        return 0.0


#: The paper's shipped MobileNetV2-w0.35 schemes (notes/paper-facts.md).
PAPER_MBV2_W035: dict[str, tuple[int, list[int], list[float]]] = {
    "49kb": (16, [36, 39, 40, 41, 42, 45, 48, 49], [1, 1, 0, 0.25, 0.125, 0.125, 0.125, 0.125]),
    "73kb": (20, [32, 33, 36, 39, 41, 42, 45, 48], [0.125, 0.5, 0.5, 1, 0.25, 0.125, 0.125, 1]),
    "99kb": (25, [27, 30, 33, 36, 39, 42, 45, 48], [1, 1, 1, 1, 1, 0.125, 0.5, 1]),
    "123kb": (31, [27, 30, 33, 36, 39, 42, 45, 48], [1, 1, 1, 1, 1, 0.5, 1, 1]),
    "138kb": (34, [27, 30, 33, 36, 39, 42, 45, 48], [1, 1, 1, 1, 1, 1, 1, 1]),
}

#: The paper's shipped ProxylessNAS-w0.3 scheme (notes/paper-facts.md), same layer numbering.
PAPER_PROXYLESS_W03: dict[str, tuple[int, list[int], list[float]]] = {
    "proxyless-98kb": (25, [36, 39, 42, 45, 48, 51, 54, 57], [1, 0.5, 1, 1, 0.25, 0.5, 1, 1]),
}

#: Preset names understood by :func:`resolve` (graph-dependent ones are built per model).
PRESETS: tuple[str, ...] = ("classifier-only", "bias-only", "last-layer", *PAPER_MBV2_W035, *PAPER_PROXYLESS_W03)


#: What names a scheme: a preset name or JSON path, a JSON object, or a scheme.
SchemeSpec = str | Path | dict[str, Any] | SparseScheme


def classifier_op(graph: Graph) -> Op:
    """The op whose output is the logits (through RESHAPEs), i.e. the input of the final SOFTMAX
    if there is one, else the graph output. Must be a FULLY_CONNECTED or CONV_2D."""
    producer = {o: op for op in graph.ops for o in op.outputs}
    t = graph.outputs[0]
    op = producer.get(t)
    if op is not None and op.kind == "SOFTMAX":
        t = op.inputs[0]
        op = producer.get(t)
    while op is not None and op.kind == "RESHAPE":
        op = producer.get(op.inputs[0])
    if op is None or op.kind not in ("FULLY_CONNECTED", "CONV_2D"):
        raise SchemeError(
            f"model {graph.name!r}: the logits must come from a FULLY_CONNECTED or 1x1 CONV_2D classifier; "
            f"found {op.kind if op else 'the graph input'}"
        )
    return op


def scheme_layers(graph: Graph) -> list[Op]:
    """The conv layers a scheme indexes (network order, the classifier excluded)."""
    cls = classifier_op(graph)
    return [op for op in graph.conv_layers() if op is not cls]


def _non_trainable_reason(graph: Graph, op: Op, weights: bool) -> str | None:
    w = op.inputs[1] if len(op.inputs) > 1 else -1
    b = op.inputs[2] if len(op.inputs) > 2 else -1
    if b < 0 or graph.tensors[b].data is None:
        return "it has no constant int32 bias"
    if w < 0 or graph.tensors[w].data is None or graph.tensors[w].dtype != "int8":
        return "its weights are not a constant int8 tensor"
    wt = graph.tensors[w]
    if wt.zero_point is not None and (wt.zero_point != 0).any():
        return "its weights are not symmetric (zero point != 0)"
    if op.kind == "DEPTHWISE_CONV_2D" and getattr(op.params, "dilation", (1, 1)) != (1, 1):
        return "it is dilated"
    if op.kind == "CONV_2D" and getattr(op.params, "dilation", (1, 1)) != (1, 1):
        return "it is dilated"
    return None


def resolve(spec: SchemeSpec, graph: Graph | None = None) -> SparseScheme:
    """A scheme from a preset name, a JSON file path, a JSON dict or a scheme; ``graph`` is needed
    for ``bias-only`` and ``last-layer`` (and for validation, see :func:`validate`)."""
    if isinstance(spec, SparseScheme):
        return spec
    if isinstance(spec, dict):
        return _from_dict(spec, "json")
    s = str(spec)
    if s == "classifier-only":
        return SparseScheme(0, (), (), s)
    if s in ("bias-only", "last-layer"):
        if graph is None:
            raise SchemeError(f"scheme {s!r} depends on the model; pass the graph")
        n = len(scheme_layers(graph))
        if s == "bias-only":
            return SparseScheme(n, (), (), s)
        if n == 0:
            return SparseScheme(0, (), (), s)
        return SparseScheme(1, (n - 1,), (1.0,), s)
    if s in PAPER_MBV2_W035 or s in PAPER_PROXYLESS_W03:
        nb, wl, rs = {**PAPER_MBV2_W035, **PAPER_PROXYLESS_W03}[s]
        return SparseScheme.from_lists(nb, wl, rs, s)
    path = Path(s)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise SchemeError(f"cannot read scheme file {path}: {e.strerror or e}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SchemeError(f"scheme file {path} is not valid JSON: {e}") from None
        return _from_dict(data, str(path))
    raise SchemeError(f"unknown scheme {s!r}; presets: {', '.join(PRESETS)}, or a .json file")


def _from_dict(d: Any, where: str) -> SparseScheme:
    if not isinstance(d, dict):
        raise SchemeError(f"scheme {where}: expected a JSON object with n_bias_update, weight_layers, ratios")
    unknown = set(d) - {"n_bias_update", "weight_layers", "ratios", "name"}
    if unknown:
        raise SchemeError(
            f"scheme {where}: unknown key(s) {sorted(unknown)}; expected n_bias_update, weight_layers, ratios"
        )
    wl = d.get("weight_layers", [])
    rs = d.get("ratios", [])
    if not isinstance(wl, list) or not isinstance(rs, list):
        raise SchemeError(f"scheme {where}: weight_layers and ratios must be lists")
    return SparseScheme.from_lists(d.get("n_bias_update", 0), wl, rs, str(d.get("name", where)))


@dataclass(frozen=True)
class LayerUpdate:
    """What one trainable op updates: bias on all channels, weights on the first ``n_channels``."""

    op_position: int  # index into graph.ops
    conv_index: int | None  # scheme index (None for the classifier)
    is_classifier: bool
    n_channels: int  # output channels whose weights are updated (0 = bias only)
    ratio: float


def validate(scheme: SparseScheme, graph: Graph) -> list[LayerUpdate]:
    """Check ``scheme`` against ``graph`` and list the trainable ops (network order, classifier last).

    Raises :class:`SchemeError` naming the first problem: a layer index that does not exist, a
    bias range longer than the model, or a layer that cannot be trained (no constant bias,
    non-int8 or asymmetric weights, dilation).
    """
    layers = scheme_layers(graph)
    n = len(layers)
    if scheme.n_bias_update > n:
        raise SchemeError(
            f"scheme {scheme.name!r}: n_bias_update = {scheme.n_bias_update} but model {graph.name!r} "
            f"has only {n} conv layers (classifier not counted)"
        )
    for li in scheme.weight_layers:
        if li >= n:
            raise SchemeError(
                f"scheme {scheme.name!r}: weight layer {li} does not exist; model {graph.name!r} "
                f"has conv layers 0..{n - 1} (classifier not counted)"
            )
    position = {id(op): i for i, op in enumerate(graph.ops)}
    cls = classifier_op(graph)
    out: list[LayerUpdate] = []
    bias_from = n - scheme.n_bias_update
    for k, op in enumerate(layers):
        r = scheme.weight_ratio(k)
        if k < bias_from and r == 0.0:
            continue
        reason = _non_trainable_reason(graph, op, r > 0)
        if reason:
            raise SchemeError(
                f"scheme {scheme.name!r}: conv layer {k} ({op.kind}, op {op.index}) is not trainable: {reason}"
            )
        cout = graph.tensors[op.outputs[0]].shape[-1]
        nch = math.ceil(Fraction(r).limit_denominator(8) * cout) if r > 0 else 0
        out.append(LayerUpdate(position[id(op)], k, False, int(nch), r))
    reason = _non_trainable_reason(graph, cls, True)
    if reason:
        raise SchemeError(
            f"model {graph.name!r}: the classifier (op {cls.index}, {cls.kind}) is not trainable: {reason}"
        )
    cout = graph.tensors[cls.outputs[0]].shape[-1]
    out.append(LayerUpdate(position[id(cls)], None, True, int(cout), 1.0))
    return out
