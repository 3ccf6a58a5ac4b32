"""The per-op profile (``kilotrain profile``, jobs/profile.py): a -DKT_PROFILE training image on
the emulated M7 attributes a step's instructions to every kernel call, the loss, the scale policy
and the row-streamed prefix's stages, without changing what the step computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kilotrain import cli
from kilotrain.codegen import train as codegen_train
from kilotrain.device.boards import NativeBoard
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.jobs.compile import ModelSpec, plan_for, training_frames
from kilotrain.jobs.profile import ProfileJob, run_profile
from kilotrain.training import step as train_golden
from kilotrain.training.examples import TINY_MIXED_SCHEME, tiny_mixed_plan

pytestmark = pytest.mark.qemu


def test_profile_covers_the_step_and_changes_nothing(qemu_elf: Path) -> None:
    spec = ModelSpec("zoo:tiny_cnn", TINY_MIXED_SCHEME, lr=0.01)
    r = run_profile(ProfileJob(spec, steps=2))
    _, plan = plan_for(spec)
    entries = codegen_train.render_train(plan, "tiny_cnn.tflite").profile
    assert sorted(e["index"] for e in r["entries"]) == list(range(len(entries)))
    phases = {e["phase"] for e in r["entries"]}
    assert {"forward", "loss", "update", "input-grad", "mask", "grad", "policy"} <= phases
    total, profiled = r["instructions_per_step"], r["profiled_instructions"]
    assert profiled + r["other_instructions"] == total
    assert 0 <= r["other_instructions"] < 0.05 * total  # the regions cover the step
    costs = [e["instructions"] for e in r["entries"]]
    assert costs == sorted(costs, reverse=True) and costs[0] > 0.05 * total
    assert sum(r["by_phase"].values()) == pytest.approx(total, abs=len(r["by_phase"]))
    # every op of the model that runs code appears, and the step is the golden one
    ops = {e["op"] for e in r["entries"]} - {-1}
    assert ops == set(range(len(plan.graph.ops))) - {op.index for op in plan.graph.ops if op.kind in ("RESHAPE",)}
    state = train_golden.init_state(plan)
    for x, y in training_frames(plan, spec.dataset, 2):
        train_golden.step(plan, state, x, y)
    assert r["params_sha256"] == train_golden.params_sha256(state)


def test_an_image_without_the_flag_has_no_profile() -> None:
    program = build_with_training(tiny_mixed_plan(), "tiny_cnn.tflite", env_name="native").elf
    with NativeBoard(program) as board:
        assert TrainClient(board.device).profile_ticks() == []


def test_profile_command_prints_the_costliest_regions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qemu_elf: Path
) -> None:
    out_file = tmp_path / "p.json"
    argv = ["profile", "zoo:tiny_cnn", "--scheme", "last-layer", "--steps", "1", "--top", "3", "--out", str(out_file)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "instructions per step" in lines[0] and "DSP fast paths" in lines[0]
    assert "more regions" in out and "by phase:" in out and "by kernel:" in out
    r = json.loads(out_file.read_text())
    assert len(r["entries"]) > 3 and r["dsp"] is True
    prefix = [e for e in r["entries"] if e["phase"] == "prefix"]  # last-layer: a row-streamed prefix
    assert prefix and all(e["instructions"] > 0 for e in prefix)
    assert r["other_instructions"] < 0.05 * r["instructions_per_step"]
    assert cli.main(["profile", "zoo:tiny_cnn", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
