"""The compile-time memory planner: no two live buffers share bytes; dead space is reused."""

from __future__ import annotations

from kilotrain.codegen import memory_plan
from kilotrain.model.tflite import load_tflite
from kilotrain.paths import data_file


def test_memory_plan_never_overlaps_live_tensors() -> None:
    person_graph = load_tflite(data_file("person_detection/person_detect.tflite"))
    mp = memory_plan.plan(person_graph)
    memory_plan.check(mp)
    live_max = 0
    for i in range(len(person_graph.ops)):
        live_max = max(live_max, sum(b.size for b in mp.buffers if b.first <= i <= b.last))
    assert live_max <= mp.arena_size


def test_plan_buffers_reuses_dead_space_and_aligns() -> None:
    R = memory_plan.Request
    mp = memory_plan.plan_buffers([R(("a",), 100, 0, 1), R(("b",), 50, 1, 2), R(("c",), 100, 2, 3)])
    memory_plan.check(mp)
    # a and c are never alive together: c reuses a's bytes; b (alive with both) sits after them
    assert mp.offset("a") == mp.offset("c") == 0
    assert mp.offset("b") == 112 and mp.arena_size == 176
