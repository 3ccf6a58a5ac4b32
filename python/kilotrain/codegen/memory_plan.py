"""Compile-time memory plan: every activation tensor gets an offset in one static arena.

Tensors whose lifetimes overlap (produced at op ``first``, last read at op ``last``; graph
inputs live from the start, graph outputs to the end) never share bytes. RESHAPE outputs are
aliases of their input (no copy). Placement is greedy by size, first fit (TFLM's
GreedyMemoryPlanner does the same), with offsets aligned to ``ALIGN`` bytes; three other orders are
tried too (:data:`ORDERS`) and the smallest arena is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from kilotrain.model.ir import Graph

ALIGN = 16


@dataclass(frozen=True)
class Request:
    """A buffer to place: ``keys`` name what lives in it (tensor ids, or tuples such as
    ``("grad", t)`` in a training schedule); it is alive from step ``first`` to ``last``."""

    keys: tuple[Hashable, ...]
    size: int
    first: int
    last: int


@dataclass(frozen=True)
class Buffer:
    """One planned buffer: the tensors that share it (a tensor and its RESHAPE aliases)."""

    tensors: tuple[Hashable, ...]
    size: int
    first: int
    last: int
    offset: int


@dataclass(frozen=True)
class MemoryPlan:
    buffers: tuple[Buffer, ...]
    arena_size: int

    def offset(self, tensor: Hashable) -> int:
        for b in self.buffers:
            if tensor in b.tensors:
                return b.offset
        raise KeyError(f"tensor {tensor} is not in the memory plan (a constant?)")


def _nbytes(graph: Graph, t: int) -> int:
    tensor = graph.tensors[t]
    n = 1
    for d in tensor.shape:
        n *= int(d)
    return n * (1 if tensor.dtype == "int8" else 4)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan(graph: Graph) -> MemoryPlan:
    """Plan the arena for ``graph`` (one inference)."""
    root: dict[int, int] = {}  # alias tensor -> the tensor owning the bytes

    def owner(t: int) -> int:
        while t in root:
            t = root[t]
        return t

    end = len(graph.ops)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(t: int, i: int) -> None:
        o = owner(t)
        first[o] = min(first.get(o, i), i)
        last[o] = max(last.get(o, i), i)

    for t in graph.inputs:
        touch(t, -1)
    for i, op in enumerate(graph.ops):
        for t in op.inputs:
            if t >= 0 and not graph.tensors[t].is_const:
                touch(t, i)
        if op.kind == "RESHAPE" and not graph.tensors[op.inputs[0]].is_const:
            root[op.outputs[0]] = owner(op.inputs[0])
        for t in op.outputs:
            touch(t, i)
    for t in graph.outputs:
        touch(t, end)

    members: dict[int, list[int]] = {}
    for t in list(first) + list(root):
        members.setdefault(owner(t), [])
        if t not in members[owner(t)]:
            members[owner(t)].append(t)
    return plan_buffers(Request(tuple(sorted(members[o])), _nbytes(graph, o), first[o], last[o]) for o in first)


#: Orders in which :func:`plan_buffers` tries to place buffers (each first fit); the smallest arena
#: wins. Largest first is TFLM's; the others win on schedules where a long-lived small buffer (a
#: saved input, a mask) would otherwise split the space big short-lived ones need.
ORDERS: dict[str, Callable[[Request], tuple[int, ...]]] = {
    "size": lambda r: (-r.size, r.first),
    "size x lifetime": lambda r: (-r.size * (r.last - r.first + 1), -r.size, r.first),
    "lifetime": lambda r: (-(r.last - r.first), -r.size, r.first),
    "first use": lambda r: (r.first, -r.size),
}


def _first_fit(order: list[Request]) -> MemoryPlan:
    placed: list[Buffer] = []
    for r in order:
        live = sorted((b for b in placed if not (b.last < r.first or r.last < b.first)), key=lambda b: b.offset)
        offset = 0
        for b in live:
            if offset + r.size <= b.offset:
                break
            offset = max(offset, _align(b.offset + b.size))
        placed.append(Buffer(r.keys, r.size, r.first, r.last, offset))
    arena = max((_align(b.offset + b.size) for b in placed), default=0)
    return MemoryPlan(tuple(sorted(placed, key=lambda b: b.offset)), arena)


def plan_buffers(requests: Iterable[Request]) -> MemoryPlan:
    """Place buffers first fit (each at the lowest aligned offset that overlaps no already placed
    buffer alive at the same time) in each of the :data:`ORDERS`, and keep the smallest arena
    (ties: the first order)."""
    reqs = list(requests)
    return min((_first_fit(sorted(reqs, key=key)) for key in ORDERS.values()), key=lambda p: p.arena_size)


def check(plan_: MemoryPlan) -> None:
    """Assert that no two buffers alive at the same op overlap (used by the tests)."""
    bs = plan_.buffers
    for i, a in enumerate(bs):
        for b in bs[i + 1 :]:
            if a.last < b.first or b.last < a.first:
                continue
            if a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                raise AssertionError(f"buffers {a.tensors} and {b.tensors} overlap while both are alive")
