"""``kilotrain bench`` on the tests' small model: DSP and portable builds on the emulated M7, the
same parameters after the same steps, the DSP step cheaper, the host step against PyTorch's in the
same run; without PyTorch its figures are null (or an error with --require-torch); bad options in
one line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kilotrain import cli
from kilotrain.extras import MissingExtra
from kilotrain.jobs import bench


@pytest.mark.qemu
def test_bench_measures_both_builds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--models", "tiny", "--steps", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    rec = r["models"]["tiny"]
    d, p = rec["dsp"], rec["portable"]
    assert d["params_sha256"] == p["params_sha256"] == rec["host"]["params_sha256"]
    assert rec["host"]["step_ms"] > 0 and rec["host"]["peak_rss_bytes"] > 0
    assert 0 < d["step_instructions"] < p["step_instructions"] and rec["dsp_speedup"] > 1
    assert 0 < d["forward_instructions"] < d["step_instructions"]
    assert d["peak_sram_bytes"] > 0 and d["flash_bytes"] > d["peak_sram_bytes"]
    assert "paper" not in rec  # TTE published no figure for it
    torch = pytest.importorskip("torch")
    t = rec["torch"]
    assert r["torch_version"] == t["version"] == torch.__version__ and "torch_missing" not in r
    assert t["threads"] == 1 and t["steps"] == bench.TORCH_MIN_STEPS and t["warmup"] > 0
    assert 0 < t["step_ms_min"] <= t["step_ms"] and t["peak_rss_bytes"] > 50 * 2**20
    assert rec["host_speedup_vs_torch"] == round(t["step_ms"] / rec["host"]["step_ms"], 2) > 0
    assert rec["host_memory_ratio_vs_torch"] == round(t["peak_rss_bytes"] / rec["host"]["peak_rss_bytes"], 2) > 1


def _no_emulator(monkeypatch: pytest.MonkeyPatch, torch: Any) -> None:
    """Stand-ins for the emulator and host builds (and PyTorch), for the report's own logic."""
    device = {"forward_instructions": 1, "step_instructions": 4, "peak_sram_bytes": 8, "flash_bytes": 16}
    monkeypatch.setattr(bench, "_device_figures", lambda *a: {**device, "params_sha256": "p"})
    monkeypatch.setattr(
        bench, "_host_figures", lambda *a: {"step_ms": 0.5, "peak_rss_bytes": 2**21, "params_sha256": "p"}
    )
    monkeypatch.setattr(bench, "torch_step_benchmark", torch)


def test_bench_without_torch_reports_null(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def missing(*args: Any) -> dict[str, Any]:
        calls.append(args)
        raise MissingExtra("the PyTorch baseline needs the optional package 'torch': pip install 'kilotrain[torch]'")

    _no_emulator(monkeypatch, missing)
    assert cli.main(["bench", "--models", "tiny,tiny", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    rec = r["models"]["tiny"]
    assert rec["torch"] is None and rec["host_speedup_vs_torch"] is None and rec["host_memory_ratio_vs_torch"] is None
    assert r["torch_version"] is None and r["torch_missing"].endswith("pip install 'kilotrain[torch]'")
    assert len(calls) == 1  # asked once, not per model
    assert cli.main(["bench", "--models", "tiny"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "PyTorch: not measured (" + r["torch_missing"] + ")"


def test_bench_require_torch_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_torch(module: str, extra: str, what: str) -> None:
        raise MissingExtra(f"{what} needs the optional package 'torch': pip install 'kilotrain[torch]'")

    _no_emulator(monkeypatch, lambda *a: pytest.fail("measured without torch"))
    monkeypatch.setattr(bench, "require", no_torch)
    assert cli.main(["bench", "--models", "tiny", "--require-torch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "kilotrain: error: kilotrain bench --require-torch needs the optional package 'torch': "
        "pip install 'kilotrain[torch]'"
    )


def test_bench_table_shows_the_ratios(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    torch = {"version": "9.9", "threads": 1, "steps": 20, "warmup": 3, "step_ms": 10.0, "step_ms_min": 9.0}
    _no_emulator(monkeypatch, lambda *a: {**torch, "peak_rss_bytes": 300 * 2**20, "loss_first": 1.0})
    assert cli.main(["bench", "--models", "tiny"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines()[-3:] if line.startswith("tiny_cnn"))
    assert "0.50 ms" in row and "2.0 MB" in row and "10.00 ms" in row and "300.0 MB" in row
    assert "20.00x" in row and "150.00x" in row  # 10 ms / 0.5 ms, 300 MB / 2 MB
    assert "PyTorch 9.9 on the CPU, one thread" in out


def test_bench_bad_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--models", "tiny,resnet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: unknown benchmark model(s) resnet; known: mbv2, ")
    assert "\n" not in err
    assert cli.main(["bench", "--models", "tiny", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
