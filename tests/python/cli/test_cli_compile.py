"""`kilotrain compile` as a user runs it: the sources and manifest land in build/compiled/, a plain
`pio run -e qemu_m7` builds them (no environment variable), compiling again replaces them, a
scheme that does not fit changes nothing, and `--clear` goes back to the model-less image."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from kilotrain import cli
from kilotrain.device import toolchain
from kilotrain.device.boards import QemuBoard
from kilotrain.device.train_client import TrainClient
from kilotrain.jobs.plan import PlanJob, run_plan
from kilotrain.jobs.train import load_for_dataset
from kilotrain.model.tflite import load_tflite
from kilotrain.paths import data_file
from kilotrain.training import step as train_golden
from kilotrain.training.plan import build_plan

PERSON = data_file("person_detection/person_detect.tflite")


@pytest.fixture
def build_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path))
    return tmp_path


def _compile(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert cli.main(["compile", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_compile_writes_sources_and_manifest(build_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _compile(capsys, str(PERSON), "--scheme", "last-layer", "--dataset", "lfw", "--lr", "0.05")
    out = build_tree / "compiled"
    assert sorted(p.name for p in out.iterdir()) == ["kt_train.c", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text()) == m
    assert m["model_digest"] == load_tflite(PERSON).digest()
    assert m["spec"]["scheme"] == m["scheme"] and m["spec"]["model"] == str(PERSON)
    assert m["source_sha256"] == hashlib.sha256((out / "kt_train.c").read_bytes()).hexdigest()
    assert m["classes"] == ["no_person", "person"] and m["lr"] == 0.05 and m["board"] == "qemu_m7"
    assert m["input"] == {
        "shape": [1, 96, 96, 1],
        "dtype": "int8",
        "scale": m["input"]["scale"],
        "zero_point": m["input"]["zero_point"],
        "rule": "grayscale_bytes",
    }
    assert m["plan"]["peak_sram_bytes"] == run_plan(PlanJob(str(PERSON), "last-layer", None, "lfw"))["peak_sram_bytes"]
    # compiling again with another scheme replaces it
    m2 = _compile(capsys, str(PERSON), "--scheme", "bias-only", "--dataset", "lfw")
    assert m2["scheme_sha256"] != m["scheme_sha256"] and m2["source_sha256"] != m["source_sha256"]
    assert json.loads((out / "manifest.json").read_text())["scheme"]["name"] == "bias-only"
    # a scheme that does not fit: one line, and what was compiled stays
    assert cli.main(["compile", "zoo:mbv2-w0.35", "--input-size", "256", "--scheme", "138kb", "--dataset", "lfw"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not fit qemu_m7" in err
    assert json.loads((out / "manifest.json").read_text()) == m2
    # --clear: back to the model-less image
    assert cli.main(["compile", "--clear"]) == 0 and not out.exists()


@pytest.mark.parametrize(
    "argv,message",
    [(["--lr", "inf"], "--lr must be a finite number > 0"), (["--input-size", "0"], "--input-size must be >= 1")],
)
def test_bad_flags_are_one_line(
    build_tree: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli.main(["compile", "zoo:tiny_cnn", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (build_tree / "compiled").exists()


@pytest.mark.qemu
def test_plain_pio_run_builds_the_compiled_model(build_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _compile(capsys, "zoo:tiny_cnn", "--scheme", "last-layer", "--dataset", "digits", "--lr", "0.02")
    pio_dir = build_tree / "pio"
    toolchain.pio("run", "-e", "qemu_m7", extra_env={"PLATFORMIO_BUILD_DIR": str(pio_dir)})
    plan = build_plan(load_for_dataset("zoo:tiny_cnn", "digits", None), "last-layer", 0.02, engine="qemu")
    state = train_golden.init_state(plan)
    x = np.random.default_rng(0).integers(-128, 128, plan.graph.input.shape).astype(np.int8)
    with QemuBoard(pio_dir / "qemu_m7" / "firmware.elf", icount=False) as board:
        client = TrainClient(board.device)
        assert client.params_sha256() == train_golden.params_sha256(state)
        client.step(x, 3)
        train_golden.step(plan, state, x, 3)
        assert client.params_sha256() == train_golden.params_sha256(state)
