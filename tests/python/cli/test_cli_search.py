"""``kilotrain search`` end to end on the tests' small model: the contribution analysis on the C
kernels over two local processes, the scheme written, within the budget by ``kilotrain plan`` and
trained on the emulated board == golden, a second run served from the cache; bad budgets in one
line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kilotrain import cli
from kilotrain.jobs.search import SearchError, fitting_depths, parse_budget, ranking

pytest.importorskip("sklearn")

ARGS = ["search", "zoo:tiny_cnn", "--input-size", "16", "--dataset", "digits", "--limit", "200", "--steps", "20"]


@pytest.mark.qemu
def test_search_writes_a_scheme_within_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], qemu_elf: Path
) -> None:
    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path / "build"))
    out = tmp_path / "s.json"
    argv = [*ARGS, "--budget", "12KB", "--out", str(out), "--workers", "2", "--evaluations", "40", "--json"]
    assert cli.main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    scheme = json.loads(out.read_text())
    assert scheme == r["scheme"] and r["peak_sram_bytes"] <= 12 * 1024 and r["evaluations"] <= 40
    assert r["analysis_runs"] == 1 + 5 + 5 * 4 and r["analysis_cached"] == 0  # base, 5 depths, 5 layers x 4
    assert r["contributions"]["bias"].keys() == {"1", "2", "3", "4", "5"}
    assert len(r["contributions"]["weight"]) == 20 and r["random_search"]["evaluations"] <= 40
    # the written scheme has the lowest validation loss of the re-ranked candidates, all within budget
    ranked = r["rerank"]
    assert 1 <= r["reranked"] <= 8 and len(ranked) <= 8 + 6
    assert all(row["peak_sram_bytes"] <= 12 * 1024 for row in ranked)
    assert r["metric"] == "loss" and r["validation_loss"] == min(row["loss"] for row in ranked)
    assert r["scheme"] in [row["scheme"] for row in ranked]
    # the analysis' bias depths that fit are ranked too (measured already: their analysis runs)
    depths = ranked[r["reranked"] :]
    assert all(not row["scheme"]["weight_layers"] for row in depths)
    alone = {"n_bias_update": 0, "weight_layers": [], "ratios": []}  # the classifier alone always fits
    assert alone in [row["scheme"] for row in ranked]
    assert (
        cli.main(["plan", "zoo:tiny_cnn", "--input-size", "16", "--dataset", "digits", "--scheme", str(out), "--json"])
        == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert plan["peak_sram_bytes"] == r["peak_sram_bytes"] <= 12 * 1024
    # the scheme trains on the emulated board as on the golden model
    shas = []
    for engine in ("golden", "qemu"):
        train_argv = ["train", "zoo:tiny_cnn", "--input-size", "16", "--dataset", "digits", "--limit", "200"]
        assert cli.main([*train_argv, "--scheme", str(out), "--steps", "10", "--engine", engine, "--json"]) == 0
        shas.append(json.loads(capsys.readouterr().out)["params_sha256"])
    assert shas[0] == shas[1]
    # stopped or not, a second search reuses every analysis run
    assert cli.main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["analysis_cached"] == again["analysis_runs"] and again["scheme"] == r["scheme"]


def test_an_unknown_metric_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:  # argparse's own choice check
        cli.main([*ARGS, "--budget", "12KB", "--out", str(tmp_path / "s.json"), "--metric", "f1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "invalid choice: 'f1'" in err and "Traceback" not in err


def test_budget_below_the_smallest_image_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*ARGS, "--budget", "2KB", "--out", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: --budget 2,048 B is below") and "(the classifier alone): " in err
    assert "\n" not in err and not (tmp_path / "s.json").exists()


def test_the_bias_depths_that_fit_join_the_ranking() -> None:
    """Every plain bias depth whose peak fits (the classifier alone included), none that does not:
    where the summed contributions mislead, a measured bias depth can still be the answer."""
    peaks = {0: 100, 1: 150, 2: 300, 3: 200, 4: 500}  # not monotonic: a deeper depth can need less
    depths = fitting_depths(4, lambda s: peaks[s["n_bias_update"]], 200)
    assert [d["n_bias_update"] for d in depths] == [0, 1, 3]
    assert all(d["weight_layers"] == [] and d["ratios"] == [] for d in depths)
    rows = [{"acc": 0.9, "loss": 0.8, "peak_sram_bytes": 180}] + [
        {"acc": a, "loss": lo, "peak_sram_bytes": peaks[d["n_bias_update"]]}
        for d, (a, lo) in zip(depths, [(0.85, 0.35), (0.88, 0.32), (0.5, 1.6)])
    ]
    assert min(rows, key=ranking("loss"))["loss"] == 0.32 and min(rows, key=ranking("accuracy"))["acc"] == 0.9


@pytest.mark.parametrize("text,want", [("96KB", 98304), ("98304", 98304), ("0.5 MB", 524288), ("100b", 100)])
def test_budget_units(text: str, want: int) -> None:
    assert parse_budget(text) == want


@pytest.mark.parametrize("text", ["lots", "-5KB", "0"])
def test_bad_budgets(text: str) -> None:
    with pytest.raises(SearchError, match="--budget"):
        parse_budget(text)


def test_a_dask_cluster_gives_the_local_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same search with its analysis on a Dask LocalCluster (two worker processes, Dask's own
    scheduler) and on local processes: the same contributions, the same scheme."""
    distributed = pytest.importorskip("distributed")
    from kilotrain.jobs.search import SearchJob, run_search

    common: dict[str, Any] = {"budget": 12 * 1024, "steps": 10, "evaluations": 30, "limit": 120, "input_size": 16}
    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path / "local"))
    local = run_search(SearchJob("zoo:tiny_cnn", "digits", workers=2, **common))
    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path / "dask"))  # no cache shared with the local run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        remote = run_search(SearchJob("zoo:tiny_cnn", "digits", scheduler=cl.scheduler_address, **common))
    assert remote["executor"].startswith("dask tcp://") and local["executor"] == "2 local process(es)"
    assert remote["analysis_cached"] == 0 and remote["contributions"] == local["contributions"]
    assert remote["scheme"] == local["scheme"] and remote["peak_sram_bytes"] == local["peak_sram_bytes"]


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    argv = [*ARGS, "--budget", "12KB", "--out", str(tmp_path / "s.json"), "--scheduler", "tcp://127.0.0.1:9"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: --scheduler tcp://127.0.0.1:9: cannot connect") and "\n" not in err
