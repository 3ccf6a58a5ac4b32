"""`kilotrain plan` as a user runs it: the breakdown adds up, a scheme that cannot fit fails before
any build with one line that names what to drop, and `train --engine qemu` refuses it the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kilotrain import cli
from kilotrain.device import memory
from kilotrain.device.train_client import build_with_training
from kilotrain.jobs.plan import PlanJob, run_plan
from kilotrain.model.load import load_model
from kilotrain.training.plan import build_plan


def test_plan_json_breakdown_adds_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "zoo:tiny_cnn", "--scheme", "bias-only", "--dataset", "digits", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fits"] and r["does_not_fit"] is None
    assert r["peak_sram_bytes"] == sum(r["breakdown"].values())
    assert sum(r["arena_at_peak"].values()) == r["breakdown"]["arena"]
    assert r["breakdown"]["firmware_statics"] == memory.firmware_static_bytes()
    assert r["flash_bytes"] > r["breakdown"]["trainable_weights"] + r["breakdown"]["trainable_biases"]
    assert r["board_sram_bytes"] == 320 * 1024 and r["board_flash_bytes"] == 1024 * 1024
    # the classifier follows --dataset, as in `train`: lfw has 2 classes, digits 10
    assert cli.main(["plan", "zoo:tiny_cnn", "--scheme", "bias-only", "--dataset", "lfw", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["breakdown"]["trainable_biases"] < r["breakdown"]["trainable_biases"]


def test_arena_occupancy_peaks_where_the_report_says() -> None:
    r = run_plan(PlanJob("zoo:tiny_cnn", "last-layer"))
    live = [sum(v for k, v in row.items() if k not in ("position", "label")) for row in r["occupancy"]]
    peak = r["occupancy"][live.index(max(live))]
    assert peak["label"] == r["peak_step"]
    assert max(live) + r["arena_at_peak"]["placement_gaps"] == r["breakdown"]["arena"]
    assert r["occupancy"][0]["label"] == "the input" and any(row["label"] == "the loss" for row in r["occupancy"])


def test_too_big_fails_with_the_breakdown_and_what_to_drop(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["plan", "zoo:mbv2-w0.35", "--input-size", "256", "--scheme", "138kb", "--dataset", "lfw"])
    out = capsys.readouterr().out
    assert rc == 1
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("does not fit: scheme '138kb' does not fit qemu_m7: SRAM ")
    assert (
        "arena peak at forward op" in verdict
        and "drop or lower the ratio of the largest updated layers: layer" in verdict
    )


def test_train_on_the_board_refuses_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`train --engine qemu` used to end in a linker error ("region RAM overflowed"); now the plan
    refuses first, and no build is started."""
    from kilotrain.device import train_client

    def no_build(*a: object, **k: object) -> None:
        raise AssertionError("a build was started")

    monkeypatch.setattr(train_client, "build_firmware", no_build)
    plan = build_plan(load_model("zoo:mbv2-w0.35", 2, 256), "138kb", 0.01, engine="qemu")
    with pytest.raises(memory.DoesNotFit, match=r"does not fit qemu_m7: SRAM [\d,]+ B > 327,680 B"):
        build_with_training(plan, "mbv2.tflite")


def test_plot_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "arena.png"
    assert cli.main(["plan", "zoo:tiny_cnn", "--scheme", "last-layer", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--board", "uno"], "invalid choice: 'uno'"),
        (["--input-size", "0"], "--input-size must be >= 1; got 0"),
    ],
)
def test_bad_flags_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    try:
        rc = cli.main(["plan", "zoo:tiny_cnn", *argv])
    except SystemExit as e:  # argparse's own choice check
        rc = int(e.code or 0)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
