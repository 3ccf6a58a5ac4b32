"""The accuracy study on the tests' small model: rows at the planner's memory, searched schemes
within the memory of what they are compared with, every table cell a real training run (the
same as ``kilotrain train`` gives), a second study served from its cache, the report written
between its markers and the plot drawn; bad requests in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kilotrain import cli
from kilotrain.data import datasets
from kilotrain.jobs.convert import ConvertJob
from kilotrain.jobs.study import (
    BEGIN,
    END,
    MODES,
    StudyJob,
    Task,
    paired_gap,
    plot,
    run_study,
    study_task,
    write_report,
)
from kilotrain.jobs.train import TrainJob, load_for_dataset, run_training
from kilotrain.paths import build_dir

pytest.importorskip("sklearn")

#: A source model trained here on digits 0-4, fine-tuned to digits 5-9 (the study's shape, small).
SOURCE = ConvertJob("zoo:tiny_cnn", "", "digits:0-4", input_size=16, train_epochs=24)
TASK = Task(
    "tiny", "tiny_cnn, digits 0-4 -> 5-9", "tiny.ktm", "digits:5-9", 12 * 1024, steps=20, limit=200, source=SOURCE
)


def test_a_small_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path / "build"))
    job = StudyJob(seeds=2, workers=2, evaluations=30)
    rep = study_task(TASK, job)
    model = rep["model"]
    src = json.loads(Path(model).with_suffix(".json").read_text())
    assert rep["source"] == src and src["float_test_accuracy"] >= 0.8 and src["digest"] == rep["model_digest"]
    rows = {r["row"]: r for r in rep["rows"]}
    last = next(k for k in rows if k.startswith("last-"))
    assert list(rows)[:2] == ["classifier-only", "bias-only"] and len(rows) == 5
    assert rows[last]["peak_sram_bytes"] <= TASK.budget
    for against in ("bias-only", last):
        assert rows[f"searched ≤ {against}"]["peak_sram_bytes"] <= rows[against]["peak_sram_bytes"]
    # a row's memory is what `kilotrain plan` reports for its scheme
    scheme = tmp_path / "last.json"
    scheme.write_text(json.dumps(rows[last]["scheme"]))
    argv = ["plan", model, "--scheme", str(scheme), "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["peak_sram_bytes"] == rows[last]["peak_sram_bytes"]
    # every cell is a training run on the fixed split, seed by seed
    graph = load_for_dataset(model, "digits:5-9", None)
    data = datasets.load("digits:5-9", graph.input, seed=0, limit=200)
    for mode in MODES:
        assert len(rows[last]["accuracy"][mode]) == 2
        job1 = TrainJob(model, "digits:5-9", rows[last]["scheme"], 20, 1, 0.01, engine="c", mode=mode)
        assert run_training(job1, graph=graph, data=data)["test_acc_after"] == rows[last]["accuracy"][mode][1]
    search = rep["searches"][1]
    assert len(search["search_seeds"]) == 2 and search["scheme"] == rows[f"searched ≤ {last}"]["scheme"]
    # a second study trains nothing: every run comes from the cache
    cache = next((build_dir() / "study").glob("tiny-*.jsonl"))
    lines = cache.read_text().count("\n")
    assert lines == 5 * len(MODES) * 2
    assert study_task(TASK, job)["rows"] == rep["rows"] and cache.read_text().count("\n") == lines
    # the report replaces what is between its markers and keeps the rest
    doc = tmp_path / "accuracy.md"
    doc.write_text(f"# Accuracy\n\nintro\n\n{BEGIN}\nold\n{END}\n\n## Analysis\n\nkept\n")
    write_report([rep], doc, "kilotrain study --tasks tiny", "accuracy.png")
    assert next((build_dir() / "search").glob("peaks-*.json")).stat().st_size > 2  # planner figures kept
    text = doc.read_text()
    assert "Source model: zoo:tiny_cnn trained 24 epochs on `digits:0-4`" in text
    assert text.startswith("# Accuracy\n\nintro\n\n") and text.endswith("## Analysis\n\nkept\n") and "old" not in text
    assert f"| {last} | {rows[last]['peak_sram_bytes']:,} B |" in text and "evolutionary" in text
    gap, se = paired_gap(rows[last]["accuracy"]["int8"], rows[last]["accuracy"]["fp32"])
    assert f" | {gap:+.1f} ± {se:.1f} |\n" in text
    png = plot([rep], tmp_path / "accuracy.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_int8_gap_is_paired_seed_by_seed() -> None:
    """int8 - fp32 is averaged seed by seed (both modes see each seed's image order) with the
    standard error of that mean: a seed where fp32 diverges shows as a wide error, not a gap."""
    gap, se = paired_gap([0.80, 0.90, 0.85], [0.70, 0.90, 0.85])
    assert gap == pytest.approx(10 / 3) and se == pytest.approx(10 / 3)  # stdev(10, 0, 0) / sqrt(3)
    assert paired_gap([0.5, 0.6], [0.4, 0.5]) == pytest.approx((10.0, 0.0))
    assert paired_gap([0.5], [0.75]) == pytest.approx((-25.0, 0.0))
    with pytest.raises(ValueError):
        paired_gap([0.5, 0.6], [0.5])


def test_study_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["study", "--tasks", "cifar"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: unknown task 'cifar'; known: lfw") and "\n" not in err
    with pytest.raises(ValueError, match="--seeds"):
        run_study(StudyJob(seeds=0))


def test_a_resized_model_with_a_fresh_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task's model made from a model file: resized, a fresh classifier, cached with a note."""
    from kilotrain.jobs.study import resolve_model
    from kilotrain.model.load import load_model

    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path / "build"))
    task = Task("pd64", "", "person_detection/person_detect.tflite", "lfw", 96 * 1024, input_size=64, new_head=3)
    path, note = resolve_model(task)
    g = load_model(path)
    assert g.input.shape == (1, 64, 64, 1) and g.output.shape[-1] == 3
    assert note == {"from": task.model, "input_size": 64, "new_head": 3, "digest": g.digest()}
    assert resolve_model(task) == (path, note)  # made once
