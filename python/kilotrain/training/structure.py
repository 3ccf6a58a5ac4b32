"""The graph analysis behind training: which ops the training forward runs, which ops the
backward visits (from the logits down to the earliest trainable op), which tensors receive a
gradient and who gives it to them. No floats, no kernels: the float reference
(:mod:`kilotrain.training.float_reference`) and the integer plan (:mod:`kilotrain.training.plan`)
both walk this one analysis.

:func:`structure` finds

* the **logits** tensor — the input of the model's final SOFTMAX (the softmax is not run in
  training) or the graph output — and the forward ops that compute it;
* the **trainable ops** (:func:`kilotrain.training.scheme.validate`);
* the **backward ops**, in reverse execution order, from the logits down to the earliest
  trainable op (backprop stops there: that op computes no input gradient);
* which tensors receive a gradient, and which ops read them (fan-out).

It refuses (:class:`PlanError`, one line naming the op) what the chosen engine cannot pass a
gradient through (:mod:`kilotrain.model.ops`, the capability table).
"""

from __future__ import annotations

from dataclasses import dataclass

from kilotrain.model import ops
from kilotrain.model.ir import Graph
from kilotrain.training.scheme import (
    LayerUpdate,
    SchemeError,
    SchemeSpec,
    SparseScheme,
    classifier_op,
    resolve,
    validate,
)


class PlanError(SchemeError):
    """The training plan cannot be built for this model and scheme; the message names the op."""


@dataclass
class Structure:
    """The graph analysis of a (graph, scheme) — see :func:`structure`."""

    graph: Graph
    scheme: SparseScheme
    updates: dict[int, LayerUpdate]  # op position -> what it updates
    forward_ops: list[int]  # op positions run in the training forward pass
    backward_ops: list[int]  # op positions, reverse execution order
    logits: int  # tensor id
    classifier: int  # op position
    first: int  # earliest trainable op position (backprop stops there)
    grad_tensors: set[int]  # tensor ids that receive a gradient
    contributors: dict[int, list[int]]  # tensor id -> backward op positions giving it a gradient (reverse order)


def structure(graph: Graph, scheme: SchemeSpec, engine: str = "golden") -> Structure:
    """Analyse ``graph`` under ``scheme`` (a SparseScheme or anything :func:`resolve` takes) for
    training on ``engine`` (one of :data:`kilotrain.model.ops.ENGINES`)."""
    ops.check_engine(engine)
    sch = resolve(scheme, graph)
    ups = validate(sch, graph)
    updates = {u.op_position: u for u in ups}
    producer = {o: i for i, op in enumerate(graph.ops) for o in op.outputs}
    out = graph.outputs[0]
    pos_out = producer.get(out)
    logits = out
    if pos_out is not None and graph.ops[pos_out].kind == "SOFTMAX":
        logits = graph.ops[pos_out].inputs[0]
    cls = classifier_op(graph)
    cpos = graph.ops.index(cls)
    # forward: every op needed for the logits (all ops up to lpos that feed it)
    needed: set[int] = set()
    stack = [logits]
    while stack:
        t = stack.pop()
        p = producer.get(t)
        if p is None or p in needed:
            continue
        needed.add(p)
        stack.extend(i for i in graph.ops[p].inputs if i >= 0 and graph.tensors[i].data is None)
    forward_ops = sorted(needed)
    first = min(updates)
    grad_tensors: set[int] = {logits}
    contributors: dict[int, list[int]] = {}
    backward_ops: list[int] = []
    for pos in reversed(forward_ops):
        if pos < first:
            break
        op = graph.ops[pos]
        if op.outputs[0] not in grad_tensors:
            continue  # its output does not reach the logits' gradient
        check_backward(op.index, op.kind, engine)
        if op.kind in ops.WEIGHTED and getattr(op.params, "dilation", (1, 1)) != (1, 1):
            raise PlanError(f"op {op.index} ({op.kind}) is dilated; dilated convolutions have no integer backward yet")
        backward_ops.append(pos)
        acts = op.inputs[:2] if op.kind == "ADD" else op.inputs[:1]
        for t in acts:
            if t < 0 or graph.tensors[t].data is not None:
                continue
            p = producer.get(t)
            if p is None or p < first:
                continue  # graph input or before the earliest trainable op: backprop stops
            grad_tensors.add(t)
            contributors.setdefault(t, []).append(pos)
    for t, cons in contributors.items():
        if len(cons) > 2:
            raise PlanError(
                f"tensor {t} ({graph.tensors[t].name!r}) is read by {len(cons)} ops on the backward path; "
                "fan-out above 2 is not supported"
            )
        if len(cons) > 1 and any(graph.ops[c].kind in ops.VIEW_KINDS for c in cons):
            raise PlanError(
                f"tensor {t} ({graph.tensors[t].name!r}) is read by a {'/'.join(ops.VIEW_KINDS)} op and "
                "another op; fan-out through a view op is not supported"
            )
    return Structure(graph, sch, updates, forward_ops, backward_ops, logits, cpos, first, grad_tensors, contributors)


def check_backward(op_index: int, kind: str, engine: str) -> None:
    """PlanError (one line: the op, what the engine supports, what to change) unless ``engine``
    can pass a gradient through an op of ``kind`` (the capability table, :mod:`kilotrain.model.ops`)."""
    if kind in ops.backward_kinds(engine):
        return
    others = [e for e in ops.ENGINES if kind in ops.OPS and e in ops.OPS[kind].backward]
    fix = f"or train with --engine {' | '.join(others)}" if others else "no engine can"
    raise PlanError(
        f"op {op_index} ({kind}) is on the backward path but the {engine} engine has no integer backward for it "
        f"(it has: {', '.join(ops.backward_kinds(engine))}); change the scheme so backprop stops above it "
        f"(fewer bias layers, no weight layer at or below it), {fix}"
    )
