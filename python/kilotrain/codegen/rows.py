"""Row-streamed (fused) execution of a chain of spatial ops: the frozen prefix of a training step.

Layer-at-a-time execution keeps every activation whole: MobileNetV2-w0.35 at 128x128 needs a
64x64x48 expanded tensor (192 KB) before training has even started. The ops before the earliest
op training needs (nothing saved, no gradient) can instead run a few rows at a time: each
intermediate tensor lives in a **band** of ``cap`` rows, and a static list of **events** ("op k:
produce your next n output rows") pulls rows through the chain one output row at a time, so only
the rows a consumer's filter window still needs are ever held.

The mechanics (identical in :func:`run_rows`, the numpy twin used by the tests, and in
``kt_rows_run()``, firmware/kernels/kt_rows.c):

* a band holds rows ``[lo, hi)`` of its tensor at rows ``0 .. hi - lo`` of its storage; writing
  rows ``[hi, hi + n)`` first drops the oldest rows if ``hi + n - lo > cap`` (a memmove);
* an event computes output rows ``[o0, o1)`` of a CONV_2D / DEPTHWISE_CONV_2D by calling the
  ordinary kernel on a sub-problem: input rows ``[a, b)`` (the rows its filter window reads,
  clipped to the tensor), top padding ``a - i0`` where ``i0 = o0 * stride - pad_top``, output
  height ``o1 - o0`` — every output element sees exactly the taps, padding and arithmetic of the
  whole-tensor call, so the result is bit-exact with layer-at-a-time execution; ADD is row-wise;
* the segment's inputs are whole tensors (rows all present), its output is a whole tensor filled
  in row order; only intermediate tensors are banded.

:func:`schedule` builds the events and the smallest capacities for which dropping the oldest row
never drops a row that is still read (``cap = max over reads of hi_at_read - first_row_read``).
:func:`kilotrain.codegen.train.fused_segment` picks the segment (or none) that gives the smallest
training arena.
"""

from __future__ import annotations

import ctypes
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from kilotrain.codegen.emit import CFile
from kilotrain.codegen.model import _Emit
from kilotrain.kernels.cstructs import (
    ROWS_KIND,
    BandC,
    BandStateC,
    RowsPlanC,
    RowsProgressC,
    RowsStageC,
    initializer,
)
from kilotrain.model.ir import Graph, Op

#: Op kinds a row-streamed segment may contain (ADD: same-shape inputs only).
STREAMABLE: tuple[str, ...] = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD")


@dataclass(frozen=True)
class Band:
    """Storage of one activation tensor inside a segment: ``cap`` rows of ``row_bytes``."""

    tensor: int
    h: int
    w: int
    c: int
    cap: int
    ready: int  # rows present before the first event: h for a segment input, else 0
    streamed: bool = False  # the graph input, received row by row while the events run

    @property
    def row_bytes(self) -> int:
        return self.w * self.c

    @property
    def bytes(self) -> int:
        return self.cap * self.row_bytes


@dataclass(frozen=True)
class RowSchedule:
    """A fused segment: graph op positions ``first .. last``, a band per activation tensor they
    touch (``bands``, in a fixed order), and the events ``(op position, rows)`` to run in order."""

    first: int
    last: int
    bands: tuple[Band, ...]
    events: tuple[tuple[int, int], ...]

    @property
    def output(self) -> int:
        return self.bands[-1].tensor

    def band(self, tensor: int) -> Band:
        return next(b for b in self.bands if b.tensor == tensor)

    @property
    def intermediates(self) -> tuple[Band, ...]:
        """The banded tensors (neither a segment input nor the output)."""
        return tuple(b for b in self.bands[:-1] if b.ready == 0 and not b.streamed)

    @property
    def stream(self) -> int | None:
        """Index of the streamed input band, if any."""
        return next((k for k, b in enumerate(self.bands) if b.streamed), None)


def vertical(graph: Graph, op: Op) -> tuple[int, int, int, int]:
    """(filter height, stride, top padding, dilation) along H; ADD is (1, 1, 0, 1)."""
    if op.kind == "ADD":
        return 1, 1, 0, 1
    kh = int(graph.tensors[op.inputs[1]].shape[1])
    p = op.params
    return kh, int(p.stride[0]), int(p.padding[0]), int(p.dilation[0])


def input_window(geom: tuple[int, int, int, int], o0: int, o1: int, in_h: int) -> tuple[int, int, int]:
    """Input rows ``[a, b)`` that output rows ``[o0, o1)`` read, and the sub-problem's top padding."""
    kh, s, p, d = geom
    i0 = o0 * s - p
    i1 = (o1 - 1) * s - p + (kh - 1) * d + 1
    a, b = max(i0, 0), min(i1, in_h)
    return a, b, a - i0


def _activations(graph: Graph, op: Op) -> list[int]:
    """The activation (non-constant) inputs of an op."""
    return [t for t in (op.inputs[:2] if op.kind == "ADD" else op.inputs[:1]) if t >= 0]


def streamable(graph: Graph, op: Op) -> bool:
    if op.kind not in STREAMABLE:
        return False
    shapes = [graph.tensors[t].shape for t in [*_activations(graph, op), op.outputs[0]]]
    if any(len(s) != 4 or s[0] != 1 for s in shapes):
        return False
    if op.kind == "ADD":
        a, b = _activations(graph, op)
        return bool(graph.tensors[a].shape == graph.tensors[b].shape == graph.tensors[op.outputs[0]].shape)
    return not graph.tensors[op.inputs[0]].is_const


def valid_segment(graph: Graph, first: int, last: int) -> bool:
    """Ops ``first .. last`` are streamable and every tensor produced before ``last`` is read
    only inside the segment (only the last op's output leaves it)."""
    ops = graph.ops[first : last + 1]
    if not ops or not all(streamable(graph, op) for op in ops):
        return False
    inside = {op.outputs[0] for op in ops[:-1]}
    if inside & set(graph.outputs):
        return False
    return all(not inside & set(op.inputs) for op in graph.ops[last + 1 :])


def schedule(graph: Graph, first: int, last: int, stream: bool = False) -> RowSchedule:
    """The events and band capacities of segment ``first .. last`` (see the module docstring).

    ``stream``: if the segment reads the graph input and nothing else does, that input is not
    kept whole but received row by row (``kt_rows_feed()``), each completed row running the events
    it makes possible; its band holds the rows still needed plus the one being received."""
    ops = {pos: graph.ops[pos] for pos in range(first, last + 1)}
    producer = {op.outputs[0]: pos for pos, op in ops.items()}
    out_t = ops[last].outputs[0]
    shape = {t: graph.tensors[t].shape for op in ops.values() for t in [*_activations(graph, op), op.outputs[0]]}
    inputs = [t for t in shape if t not in producer]
    hi = {t: (int(shape[t][1]) if t in inputs else 0) for t in shape}
    cap = dict.fromkeys(shape, 0)  # cap >= (rows held when read) - (first row read)
    events: list[tuple[int, int]] = []

    def ensure(t: int, rows: int) -> None:
        """Produce tensor t's rows up to ``rows``, one output row at a time."""
        pos = producer[t]
        op = ops[pos]
        geom = vertical(graph, op)
        while hi[t] < rows:
            o0 = hi[t]
            for x in _activations(graph, op):
                a, b, _ = input_window(geom, o0, o0 + 1, int(shape[x][1]))
                if x in producer:
                    ensure(x, b)
                cap[x] = max(cap[x], hi[x] - a)
            events.append((pos, 1))
            hi[t] = o0 + 1
            cap[t] = max(cap[t], 1)

    ensure(out_t, int(shape[out_t][1]))
    streamed = graph.inputs[0] if stream and _streamable_input(graph, first, last) else None
    order = [*inputs, *[ops[p].outputs[0] for p in sorted(ops) if ops[p].outputs[0] != out_t], out_t]
    bands = []
    for t in order:
        _, h, w, c = (int(v) for v in shape[t])
        if t == streamed:
            bands.append(Band(t, h, w, c, _stream_cap(graph, events, t, h), 0, True))
            continue
        whole = t in inputs or t == out_t
        bands.append(Band(t, h, w, c, h if whole else min(cap[t], h), h if t in inputs else 0))
    return RowSchedule(first, last, tuple(bands), tuple(events))


def _streamable_input(graph: Graph, first: int, last: int) -> bool:
    """The graph input is read by the segment and by nothing after it."""
    x = graph.inputs[0]
    inside = any(x in graph.ops[p].inputs for p in range(first, last + 1))
    return inside and not any(x in op.inputs for op in graph.ops[last + 1 :]) and x not in graph.outputs


def _stream_windows(graph: Graph, events: list[tuple[int, int]], x: int, h: int) -> list[tuple[int, int] | None]:
    """Per event, the rows [a, b) of the streamed tensor ``x`` it reads (None: it does not)."""
    produced: dict[int, int] = {}
    out: list[tuple[int, int] | None] = []
    for pos, n in events:
        op = graph.ops[pos]
        t = op.outputs[0]
        o0 = produced.get(t, 0)
        produced[t] = o0 + n
        if x in _activations(graph, op):
            a, b, _ = input_window(vertical(graph, op), o0, o0 + n, h)
            out.append((a, b))
        else:
            out.append(None)
    return out


def _stream_cap(graph: Graph, events: list[tuple[int, int]], x: int, h: int) -> int:
    """Rows the streamed input's band needs: rows arrive one at a time; after each, the events run
    in order until one reads a row not yet received; before the next row arrives the band must
    still hold every row a remaining event reads, plus room for the new row."""
    win = _stream_windows(graph, events, x, h)
    need_lo = [h] * (len(win) + 1)  # suffix minimum of the first row read by the remaining events
    for k in range(len(win) - 1, -1, -1):
        w = win[k]
        need_lo[k] = min(need_lo[k + 1], w[0] if w is not None else h)
    cap = max([b - a for a, b in (w for w in win if w is not None)] + [1])
    ev = 0
    for r in range(h):
        hi = r + 1
        while ev < len(win) and (win[ev] is None or win[ev][1] <= hi):  # type: ignore[index]
            ev += 1
        if r < h - 1:
            cap = max(cap, hi - min(need_lo[ev], hi) + 1)
    return min(cap, h)


def run_rows(
    graph: Graph,
    sched: RowSchedule,
    env: dict[int, np.ndarray],
    kernels: Any,
) -> np.ndarray:
    """Execute ``sched`` with the band mechanics of kt_rows_run(), the ops computed by
    ``kernels`` (the golden model's signatures) on each event's sub-problem: the numpy twin of the
    C runner. ``env`` holds the segment inputs; returns the segment output."""
    store = {b.tensor: np.zeros((b.cap, b.w, b.c), np.int8) for b in sched.bands}
    lo = {b.tensor: 0 for b in sched.bands}
    hi = {b.tensor: b.ready for b in sched.bands}
    for b in sched.bands:
        if b.ready:
            store[b.tensor][:] = env[b.tensor][0]

    def rows(t: int, a: int, b: int) -> np.ndarray:
        if not (lo[t] <= a and b <= hi[t]):
            raise AssertionError(f"tensor {t}: rows [{a}, {b}) read but the band holds [{lo[t]}, {hi[t]})")
        return store[t][a - lo[t] : b - lo[t]][None]

    def run(k: int) -> None:
        pos, n = sched.events[k]
        op = graph.ops[pos]
        t = op.outputs[0]
        band = sched.band(t)
        o0, o1 = hi[t], hi[t] + n
        if o1 - lo[t] > band.cap:
            shift = o1 - lo[t] - band.cap
            store[t][: hi[t] - lo[t] - shift] = store[t][shift : hi[t] - lo[t]].copy()
            lo[t] += shift
        if op.kind == "ADD":
            a_t, b_t = _activations(graph, op)
            y = kernels.add(rows(a_t, o0, o1), rows(b_t, o0, o1), op.params)
        else:
            x_t = op.inputs[0]
            r0, r1, pad_top = input_window(vertical(graph, op), o0, o1, sched.band(x_t).h)
            p = dataclasses.replace(op.params, padding=(pad_top, op.params.padding[1]))
            fn = kernels.conv2d if op.kind == "CONV_2D" else kernels.depthwise_conv2d
            bias = None if len(op.inputs) < 3 or op.inputs[2] < 0 else graph.tensors[op.inputs[2]].data
            y = fn(rows(x_t, r0, r1), graph.tensors[op.inputs[1]].data, bias, p, (n, band.w))
        store[t][o0 - lo[t] : o1 - lo[t]] = np.asarray(y).reshape(n, band.w, band.c)
        hi[t] = o1

    k = 0
    si = sched.stream
    if si is not None:  # rows arrive one by one, each running the events it makes possible
        sb = sched.bands[si]
        win = _stream_windows(graph, list(sched.events), sb.tensor, sb.h)
        for r in range(sb.h):
            if hi[sb.tensor] - lo[sb.tensor] == sb.cap:
                store[sb.tensor][:-1] = store[sb.tensor][1:].copy()
                lo[sb.tensor] += 1
            store[sb.tensor][hi[sb.tensor] - lo[sb.tensor]] = env[sb.tensor][0, r]
            hi[sb.tensor] += 1
            while k < len(sched.events) and (win[k] is None or win[k][1] <= hi[sb.tensor]):  # type: ignore[index]
                run(k)
                k += 1
    for rest in range(k, len(sched.events)):
        run(rest)
    return store[sched.output][None]


def arena_saving(sched: RowSchedule) -> int:
    """Bytes the segment's intermediate tensors no longer need whole."""
    return sum((b.h - b.cap) * b.row_bytes for b in sched.intermediates)


def candidates(graph: Graph, before: int, stream: bool = False) -> list[RowSchedule]:
    """Segments starting at op 0 and ending before op position ``before`` (the earliest op the
    training step needs), longest first; each covers at least two ops."""
    out = []
    for last in range(min(before, len(graph.ops)) - 1, 0, -1):
        if valid_segment(graph, 0, last):
            out.append(schedule(graph, 0, last, stream))
    return out


def _decl_name(decl: str) -> str:
    """The name a ``static [const] TYPE NAME[...] = ...;`` declaration declares."""
    head = decl.split("=", 1)[0].strip()
    return head.split("[", 1)[0].split()[-1]


def emit_rows(gen: CFile, emits: list[_Emit], sched: RowSchedule, name: str = "kt_fused") -> int:
    """Replace the calls of the segment's ops by one ``kt_rows_run()`` at its first op: the band,
    stage and event tables go after the last op's declarations, the ops' own records stay (only
    those the stages refer to). Returns the bytes of the mutable band state it declares."""
    g = sched.bands
    index = {b.tensor: k for k, b in enumerate(g)}
    stage_of = {pos: k for k, pos in enumerate(range(sched.first, sched.last + 1))}
    stages = []
    for pos in range(sched.first, sched.last + 1):
        op, e = gen.g.ops[pos], emits[pos]
        acts = _activations(gen.g, op)
        a = e.args
        stages.append(
            initializer(
                RowsStageC,
                {
                    "kind": ROWS_KIND[op.kind],
                    "params": a["params"],
                    "quant": a.get("quant", "NULL"),
                    "filter_dims": a.get("filter_dims", "NULL"),
                    "filter": a.get("filter", "NULL"),
                    "bias": a.get("bias", "NULL"),
                    "packed": a.get("packed", "NULL"),
                    "in0": index[acts[0]],
                    "in1": index[acts[1]] if len(acts) > 1 else -1,
                    "out": index[op.outputs[0]],
                },
            )
        )
        # keep only the declarations the stage table refers to (the call's dims go)
        keep = {v.lstrip("&") for v in a.values()}
        kept = [d for d in e.decls if _decl_name(d) in keep]
        refs = " ".join(kept)
        e.decls = [d for d in e.decls if _decl_name(d) in keep or _decl_name(d) in refs]
        e.call = ""
        e.comment += " (row-streamed)"
    bands = [
        initializer(BandC, {"data": gen.arena(b.tensor), "h": b.h, "w": b.w, "c": b.c, "cap": b.cap, "ready": b.ready})
        for b in g
    ]
    decls = [f"/* row-streamed ops {sched.first}..{sched.last}: {len(g)} bands, {len(sched.events)} events */"]
    ev_stage = gen.array(decls, name, "event_stage", "uint16_t", [stage_of[pos] for pos, _ in sched.events])
    ev_rows = gen.array(decls, name, "event_rows", "uint16_t", [n for _, n in sched.events])
    decls += [
        f"static const kt_band {name}_bands[{len(g)}] = {{{', '.join(bands)}}};",
        f"static kt_band_state {name}_state[{len(g)}];",
        f"static kt_rows_progress {name}_progress;",
        f"static const kt_rows_stage {name}_stages[{len(stages)}] = {{{', '.join(stages)}}};",
        f"static const kt_rows_plan {name}_plan = "
        + initializer(
            RowsPlanC,
            {
                "bands": f"{name}_bands",
                "state": f"{name}_state",
                "n_bands": len(g),
                "stream": -1 if sched.stream is None else sched.stream,
                "progress": f"&{name}_progress",
                "stages": f"{name}_stages",
                "n_stages": len(stages),
                "event_stage": ev_stage,
                "event_rows": ev_rows,
                "n_events": len(sched.events),
            },
        )
        + ";",
    ]
    # flash of the records declared here as text (the event tables counted themselves)
    gen.table_bytes += ctypes.sizeof(BandC) * len(g) + ctypes.sizeof(RowsStageC) * len(stages)
    gen.table_bytes += ctypes.sizeof(RowsPlanC)
    emits[sched.last].decls.extend(decls)
    emits[sched.first].call = f"kt_rows_run(&{name}_plan)"
    return ctypes.sizeof(BandStateC) * len(g) + ctypes.sizeof(RowsProgressC)
