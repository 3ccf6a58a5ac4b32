"""``kilotrain study``: the accuracy study of docs/accuracy.md (the paper's Table 1 and Figure 8,
on pretrained models and target tasks that work offline).

For each :class:`Task` (a pretrained model and a target data set):

1. The model: a shipped .tflite; or one resized (``input_size``,
   :func:`kilotrain.model.resize.with_input_size`) and given a fresh classifier (``new_head``);
   or a source model trained and converted here (:class:`~kilotrain.jobs.convert.ConvertJob`
   with ``train_epochs``: the zoo's PyTorch twin on a source task, quantised by kilotrain). Made
   models are cached under ``build/study/`` with a note of how they were made.
2. The baselines: **classifier-only**, **bias-only** (every conv bias + the classifier) and
   **last-k** (weights and biases of the last ``k`` conv layers + the classifier, ``k`` the
   largest whose all-in peak SRAM fits the task's budget).
3. **Searched** schemes (``kilotrain search``: contribution analysis on a validation split cut
   from the training split, evolutionary search, re-ranking) at the bias-only scheme's peak SRAM
   and at the last-k scheme's, so each comparison is at equal or lower memory; the evolutionary
   and the random search compared over ``seeds`` search seeds at the same evaluations.
4. Every row fine-tuned ``steps`` steps in three modes (fp32: the float reference; int8 without
   QAS; int8 + QAS, the contract) for training seeds ``0..seeds-1`` (order and stochastic
   rounding), on the C kernels; test accuracy on the one fixed test split (split seed 0), which
   the search never sees. Runs go through the search's executor (local processes or Dask) and
   are cached (``build/study/<task>.jsonl``), so a stopped study resumes.

The report (:func:`write_report`) replaces the generated part of docs/accuracy.md (between
``<!-- study:begin -->`` and ``<!-- study:end -->``; the hand-written analysis around it stays)
and draws accuracy against peak SRAM (:func:`plot`).
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kilotrain.data import datasets
from kilotrain.jobs.convert import ConvertJob, run_convert
from kilotrain.jobs.search import (
    PlannerPeaks,
    Result,
    SearchJob,
    canonical,
    connect,
    fine_tune,
    load_results,
    loaded,
    measure,
    run_search,
)
from kilotrain.jobs.train import TrainJob, load_for_dataset
from kilotrain.model.irfile import save_graph
from kilotrain.model.load import load_model
from kilotrain.paths import REPO_ROOT, build_dir, data_file
from kilotrain.training.head import LOGIT_RANGE, new_head
from kilotrain.training.scheme import scheme_layers

#: Training modes, as ``kilotrain train --mode`` names them, in the table's column order.
MODES: tuple[str, ...] = ("fp32", "int8-noqas", "int8")
MODE_TITLES = {"fp32": "fp32", "int8-noqas": "int8, no QAS", "int8": "int8 + QAS"}
#: The split every training seed shares (the search's analysis uses the same split's training part).
SPLIT_SEED = 0
BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"


class StudyError(ValueError):
    """A study cannot run; the message is one line."""


@dataclass(frozen=True)
class Task:
    """A pretrained model and a target task."""

    key: str
    title: str
    model: str  # zoo:NAME, or a file (shared data or a path); with ``source``, the file to write
    dataset: str
    budget: int  # bytes: the last-k row's budget (the largest k that fits)
    steps: int = 100
    lr: float = 0.01
    limit: int | None = None
    source: ConvertJob | None = None  # train and convert the source model first
    input_size: int | None = None  # resize the model file to this resolution
    new_head: int | None = None  # a fresh classifier with this many classes
    evaluations: int | None = None  # candidates per search (default: the job's)


def _mnist_target(key: str, what: str, dataset: str) -> Task:
    """A target task of the MobileNetV2-w0.35 trained here at 64 px on MNIST digits 0-4."""
    return Task(
        key,
        f"MobileNetV2-w0.35 @ 64 px, {what}",
        "mbv2-w0.35-r64-mnist0-4.ktm",
        dataset,
        192 * 1024,
        steps=200,
        limit=1000,
        source=ConvertJob("zoo:mbv2-w0.35", "", "mnist5k:0-4", input_size=64, train_epochs=6),
    )


#: The study's tasks (docs/accuracy.md says why each).
TASKS: dict[str, Task] = {
    "lfw": Task(
        "lfw",
        "person_detect (VWW-pretrained) → LFW faces vs non-faces",
        "person_detection/person_detect.tflite",
        "lfw",
        96 * 1024,
    ),
    "mnist-new-classes": _mnist_target("mnist-new-classes", "MNIST 0–4 → MNIST 5–9 (new classes)", "mnist5k:5-9"),
    "digits-shift": _mnist_target(
        "digits-shift", "MNIST 0–4 → scikit-learn 8×8 digits 0–4 (domain shift)", "digits:0-4"
    ),
    "imagenet-digits": Task(
        "imagenet-digits",
        "MobileNetV2 (width 1.0, ImageNet) at 96 px, fresh 5-way head → scikit-learn 8×8 digits 0–4 (host engines)",
        "mobilenet_v2_imagenet/mobilenet_v2_quantized_1x3x224x224.tflite",
        "digits:0-4",
        1024 * 1024,
        steps=200,
        limit=1000,
        input_size=96,
        new_head=5,
        evaluations=100,
    ),
}


@dataclass(frozen=True)
class StudyJob:
    tasks: tuple[str, ...] = tuple(TASKS)
    seeds: int = 5
    workers: int = 1
    scheduler: str | None = None
    evaluations: int = 200
    metric: str = "loss"  # what the searches score runs on (SearchJob.metric)


@dataclass(frozen=True)
class Run:
    """One fine-tuning run of the study (picklable: it crosses to a worker)."""

    model: str
    dataset: str
    limit: int | None
    scheme: str  # JSON
    mode: str
    seed: int
    steps: int
    lr: float

    def key(self) -> str:
        return json.dumps([self.scheme, self.mode, self.seed, self.steps, self.lr, self.limit])


def run_one(r: Run) -> Result:
    """Train one row in one mode from one seed on the C kernels; (key, test accuracy and loss)."""
    graph, data = loaded(r.model, r.dataset, None, SPLIT_SEED, r.limit)
    job = TrainJob(r.model, r.dataset, json.loads(r.scheme), r.steps, r.seed, r.lr, engine="c", mode=r.mode)
    return r.key(), fine_tune(job, graph, data)


def resolve_model(task: Task) -> tuple[str, dict[str, Any] | None]:
    """The task's model file and, for a model made here (trained and converted, or resized with a
    fresh head; once, under ``build/study/``), the note of how it was made."""
    if task.model.startswith("zoo:"):
        return task.model, None
    given = task.model if task.source is not None or Path(task.model).exists() else str(data_file(task.model))
    if task.source is None and task.input_size is None and task.new_head is None:
        return given, None
    path = build_dir() / "study" / (task.model if task.source is not None else f"{task.key}.ktm")
    side = path.with_suffix(".json")
    if not (path.exists() and side.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        if task.source is not None:
            r = run_convert(replace(task.source, out=str(path)))
            note = {k: r[k] for k in _SOURCE_KEYS}
        else:
            graph = load_model(given, input_size=task.input_size)
            if task.new_head is not None:
                data = datasets.load(task.dataset, graph.input, seed=SPLIT_SEED, limit=task.limit)
                graph = new_head(graph, task.new_head, data.x_train[:16], seed=0)
            save_graph(graph, path)
            note = {"from": task.model, "input_size": task.input_size, "new_head": task.new_head}
        side.write_text(json.dumps({**note, "digest": load_model(path).digest()}))
    return str(path), json.loads(side.read_text())


_SOURCE_KEYS = ("source", "dataset", "train_epochs", "float_test_accuracy", "top1_agreement")


def last_k(graph: Any, budget: int, peak: Callable[[dict[str, Any]], int]) -> tuple[dict[str, Any], int]:
    """The last-k scheme with the largest ``k`` whose peak fits ``budget`` (k >= 1), and k."""
    n = len(scheme_layers(graph))
    best: tuple[dict[str, Any], int] | None = None
    for k in range(1, n + 1):
        s = {"n_bias_update": k, "weight_layers": list(range(n - k, n)), "ratios": [1.0] * k}
        if peak(s) > budget:
            break
        best = (s, k)
    if best is None:
        raise StudyError(f"no last-k scheme fits {budget:,} B (k = 1 needs more)")
    return best


def study_task(task: Task, job: StudyJob, client: Any | None = None, progress: bool = False) -> dict[str, Any]:
    """Rows, searches and runs of one task; the task's report."""
    model, source = resolve_model(task)
    graph = load_for_dataset(model, task.dataset, None)
    peak = PlannerPeaks(graph, "qemu_m7", task.lr)

    n = len(scheme_layers(graph))
    rows: list[dict[str, Any]] = [
        {"row": "classifier-only", "scheme": {"n_bias_update": 0, "weight_layers": [], "ratios": []}},
        {"row": "bias-only", "scheme": {"n_bias_update": n, "weight_layers": [], "ratios": []}},
    ]
    lk, k = last_k(graph, task.budget, peak)
    rows.append({"row": f"last-{k}", "scheme": lk})
    searches = []
    for against in ("bias-only", f"last-{k}"):
        budget = peak(next(r["scheme"] for r in rows if r["row"] == against))
        sj = SearchJob(
            model,
            task.dataset,
            budget,
            steps=task.steps,
            lr=task.lr,
            workers=job.workers,
            evaluations=task.evaluations or job.evaluations,
            limit=task.limit,
            scheduler=None,
            search_seeds=job.seeds if against != "bias-only" else 1,  # one comparison per task
            metric=job.metric,
        )
        s = run_search(sj, progress=progress, client=client)
        searches.append({"against": against, **{x: s[x] for x in _SEARCH_KEYS}})
        rows.append({"row": f"searched ≤ {against}", "scheme": s["scheme"]})
    for r in rows:
        r["peak_sram_bytes"] = peak(r["scheme"])
    peak.save()

    def run(r: dict[str, Any], mode: str, seed: int) -> Run:
        return Run(model, task.dataset, task.limit, canonical(r["scheme"]), mode, seed, task.steps, task.lr)

    runs = [run(r, mode, seed) for r in rows for mode in MODES for seed in range(job.seeds)]
    cache = build_dir() / "study" / f"{task.key}-{_digest(graph.digest(), task)}.jsonl"
    done = load_results(cache, "key")
    measure(run_one, runs, Run.key, done, cache, "key", job.workers, client, f"study {task.key}" if progress else None)
    for r in rows:
        r["accuracy"] = {mode: [done[run(r, mode, seed).key()]["acc"] for seed in range(job.seeds)] for mode in MODES}
    return {
        "task": task.key,
        "title": task.title,
        "model": model,
        "model_digest": graph.digest(),
        "source": source,
        "dataset": task.dataset,
        "steps": task.steps,
        "lr": task.lr,
        "limit": task.limit,
        "seeds": job.seeds,
        "rows": rows,
        "searches": searches,
    }


_SEARCH_KEYS = (
    "budget_bytes",
    "peak_sram_bytes",
    "scheme",
    "validation_accuracy",
    "validation_loss",
    "metric",
    "search_seeds",
    "evaluations",
)


def _digest(model_digest: str, task: Task) -> str:
    key = json.dumps([model_digest, task.dataset, task.limit, task.steps, task.lr, SPLIT_SEED])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def run_study(job: StudyJob, progress: bool = False) -> list[dict[str, Any]]:
    """Every task of the job; their reports."""
    unknown = [t for t in job.tasks if t not in TASKS]
    if unknown:
        raise StudyError(f"unknown task {unknown[0]!r}; known: {', '.join(TASKS)}")
    if job.seeds < 1 or job.workers < 1:
        raise StudyError(f"--seeds and --workers must be >= 1; got {job.seeds} and {job.workers}")
    client = connect(job.scheduler) if job.scheduler is not None else None
    try:
        return [study_task(TASKS[t], job, client, progress) for t in job.tasks]
    finally:
        if client is not None:
            client.close()


def _ms(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and (sample) standard deviation, in percent."""
    m = 100 * statistics.fmean(xs)
    return m, (100 * statistics.stdev(xs) if len(xs) > 1 else 0.0)


def paired_gap(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean of ``a - b`` seed by seed, in points, and its standard error (the two modes share
    each seed's image order, so the difference is paired; the error is 0 for one seed)."""
    d = [100 * (x - y) for x, y in zip(a, b, strict=True)]
    return statistics.fmean(d), (statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0)


def render(reports: list[dict[str, Any]], command: str, figure: str | None) -> str:
    """The generated part of docs/accuracy.md: per task, the table (mean ± standard deviation
    over the seeds, the all-in peak SRAM), int8 + QAS against fp32, and the searches compared."""
    out = [BEGIN, "", f"Generated by `{command}`; do not edit between these markers.", ""]
    if figure:
        out += [f"![test accuracy against all-in peak SRAM]({figure})", ""]
    for rep in reports:
        out += [
            f"### {rep['title']}",
            "",
            f"`{_shown(rep['model'])}` on `{rep['dataset']}`"
            + (f" (at most {rep['limit']} images)" if rep["limit"] else "")
            + f"; {rep['steps']} steps of batch 1 at lr {rep['lr']}; test split fixed (split seed {SPLIT_SEED}); "
            f"training seeds 0–{rep['seeds'] - 1}; test accuracy %, mean ± standard deviation; "
            "int8 + QAS − fp32 in points, mean ± standard error of the seed-by-seed difference.",
            "",
            *_source_line(rep.get("source")),
            "| scheme | peak SRAM | " + " | ".join(MODE_TITLES[m] for m in MODES) + " | int8 + QAS − fp32 |",
            "|---|---:|" + "---:|" * len(MODES) + "---:|",
        ]
        for r in rep["rows"]:
            cells = [f"{m:.1f} ± {s:.1f}" for m, s in (_ms(r["accuracy"][mode]) for mode in MODES)]
            gap, se = paired_gap(r["accuracy"]["int8"], r["accuracy"]["fp32"])
            out.append(
                f"| {r['row']} | {r['peak_sram_bytes']:,} B | " + " | ".join(cells) + f" | {gap:+.1f} ± {se:.1f} |"
            )
        out += [
            "",
            "Searched schemes (the chosen scheme's validation accuracy and loss; "
            "the summed contribution of the best candidate, evolutionary vs random search at the same "
            "evaluations, per search seed, in the metric's units: accuracy, or loss with its sign "
            "flipped):",
            "",
        ]
        for s in rep["searches"]:
            evo = [x["evolutionary"] for x in s["search_seeds"]]
            rnd = [x["random"] for x in s["search_seeds"]]
            wins = sum(e > r for e, r in zip(evo, rnd))
            out.append(
                f"- ≤ {s['against']} ({s['budget_bytes']:,} B): `{json.dumps(s['scheme'])}` at "
                f"{s['peak_sram_bytes']:,} B, validation {100 * s['validation_accuracy']:.1f} %, loss "
                f"{s['validation_loss']:.4f} (best by {s['metric']}); evolutionary "
                f"{statistics.fmean(evo):+.3f} vs random {statistics.fmean(rnd):+.3f} at {s['evaluations']} "
                f"evaluations (evolutionary higher on {wins} of {len(evo)} seeds)"
            )
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def _shown(path: str) -> str:
    """A model path as the docs show it: relative to the repository when inside it."""
    p = Path(path)
    return str(p.relative_to(REPO_ROOT)) if p.is_absolute() and p.is_relative_to(REPO_ROOT) else path


def _source_line(src: dict[str, Any] | None) -> list[str]:
    if not src:
        return []
    if "from" in src:
        head = f", a fresh {src['new_head']}-way classifier" if src["new_head"] else ""
        return [
            f"Model: `{src['from']}` resized to {src['input_size']} px{head} (seeded; its logits span "
            f"±{LOGIT_RANGE:g} or 16 training images' float logits if wider; digest {src['digest'][:12]}…).",
            "",
        ]
    return [
        f"Source model: {src['source']} trained {src['train_epochs']} epochs on `{src['dataset']}` here "
        f"(float test accuracy {100 * src['float_test_accuracy']:.1f} %; int8 top-1 = float top-1 on "
        f"{100 * src['top1_agreement']:.1f} % of its calibration images; digest {src['digest'][:12]}…).",
        "",
    ]


def write_report(reports: list[dict[str, Any]], doc: Path, command: str, figure: str | None) -> Path:
    """Replace the generated part of ``doc`` (or append it when the markers are missing)."""
    text = doc.read_text() if doc.exists() else "# Accuracy\n\n"
    block = render(reports, command, figure)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return doc


def plot(reports: list[dict[str, Any]], path: Path) -> Path:
    """Test accuracy (int8 + QAS, mean ± standard deviation; fp32 hollow) against all-in peak
    SRAM, one panel per task: the paper's Figure 8 shape."""
    import matplotlib

    matplotlib.use("Agg")
    import textwrap

    import matplotlib.pyplot as plt

    cols = min(2, len(reports))
    rows_n = -(-len(reports) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(6.2 * cols, 4.4 * rows_n), squeeze=False)
    colours = {"classifier-only": "tab:gray", "bias-only": "tab:blue", "searched": "tab:red"}
    for ax, rep in zip(axes.flat, reports):
        labels: dict[str, list[str]] = {}
        for r in rep["rows"]:
            labels.setdefault(canonical(r["scheme"]), []).append(r["row"])
        drawn: set[str] = set()
        for r in rep["rows"]:
            key = canonical(r["scheme"])
            if key in drawn:
                continue  # one point per scheme (a search may return a baseline, or one scheme twice)
            drawn.add(key)
            kind = "searched" if all(x.startswith("searched") for x in labels[key]) else labels[key][0]
            c = colours.get(kind, "tab:green")
            x = r["peak_sram_bytes"] / 1024
            m, sd = _ms(r["accuracy"]["int8"])
            ax.errorbar(x, m, yerr=sd, fmt="o", color=c, capsize=3)
            ax.plot(x, _ms(r["accuracy"]["fp32"])[0], "o", mfc="none", color=c)
            ax.annotate(" = ".join(labels[key]), (x, m), textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.set_title("\n".join(textwrap.wrap(rep["title"], 60)), fontsize=8)
        ax.set_xlabel("all-in peak SRAM (KB)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(reports) :]:
        ax.set_visible(False)
    fig.suptitle("int8 + QAS (filled, mean ± sd over seeds) and fp32 (hollow)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
