"""``kilotrain search``: a sparse-update scheme for a model and a task under a memory budget
(the paper's contribution analysis and evolutionary search, :mod:`kilotrain.training.search`).

1. **Contribution analysis**, with the integer trainer on the host C kernels (engine ``c``): the
   score (``metric``: the loss, lower is better, by default; or the accuracy) on a validation
   split (``val_fraction`` of the training split, stratified; the test split is never looked at)
   after ``steps`` fine-tuning steps of the classifier alone, of the biases of the last ``k``
   conv layers for each analysed depth, and of each conv layer's weights at each ratio 1/8, 1/4,
   1/2, 1 on top of every bias (a weight's contribution is its gain over every bias alone:
   measured over the classifier alone, each weight update gained what the biases already give,
   and the summed contributions favoured many weights over deep biases). Each run is one
   evaluation, spread over ``workers`` local processes, or over a Dask distributed cluster
   (``scheduler``: its address; Dask's own scheduler and workers). Every result is appended to a
   cache file as it arrives (``build/search/<key>.jsonl``: the model's digest, the data set,
   steps, seed and learning rate), so a stopped search resumes where it was.
2. **Search**: the evolutionary search maximising the summed contributions under the budget,
   each candidate's memory the all-in peak SRAM that ``kilotrain plan`` reports (the planner,
   cached); random search at the same number of evaluations as the baseline.
3. **Re-ranking**: the summed contributions are an additive estimate; the ``rerank`` best
   candidates of the evolutionary search are fine-tuned as the analysis runs are (same steps,
   same validation split, cached alike), and the best measured (by the metric, then the other
   one, then memory) is the scheme written (``--out``); ``plan``, ``train`` and ``compile`` take
   it. The analysis' plain bias depths that fit the budget join them (measured already; the
   additive estimate can mislead: where every bias together collapses the model, as on the
   study's ImageNet → digits task, each weight's contribution is a gain over a broken model, and
   the summed scores favour many weights over the few biases that validate best). Not the
   analysis' ~4n weight runs: choosing among all of them as well picked the one whose validation
   loss was luckiest (docs/accuracy.md measures it: 77.5 % on digits-shift's test split against
   the re-ranked scheme's 85.8 %).

Why the loss by default: the validation split is small (30 images for LFW, 150 for the MNIST
tasks), so its accuracy moves in steps of 3.3 or 0.7 points and saturates (every LFW run past the
last 21 biases scores 100 %): most contributions come out 0 and the search has nothing to
maximise. The loss keeps ranking runs that all classify every image right (docs/accuracy.md
measures both).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from kilotrain.data import datasets
from kilotrain.device import memory
from kilotrain.extras import require
from kilotrain.jobs.plan import image_budget
from kilotrain.jobs.train import TrainJob, load_for_dataset, run_training
from kilotrain.model.ir import Graph
from kilotrain.paths import build_dir, source_fingerprint
from kilotrain.training.scheme import RATIOS, scheme_layers
from kilotrain.training.search import Contributions, SearchResult, evolutionary_search, random_search

#: Budget suffixes (powers of 1024, as `kilotrain plan` prints KB).
_UNITS = {"B": 1, "KB": 1024, "KIB": 1024, "MB": 1024 * 1024}


class SearchError(ValueError):
    """A search cannot run; the message is one line."""


def parse_budget(text: str) -> int:
    """``96KB`` / ``98304`` / ``0.1MB`` -> bytes."""
    t = text.strip().upper().replace(" ", "")
    for unit in sorted(_UNITS, key=len, reverse=True):
        if t.endswith(unit):
            num, scale = t[: -len(unit)], _UNITS[unit]
            break
    else:
        num, scale = t, 1
    try:
        value = float(num) * scale
    except ValueError:
        raise SearchError(f"--budget {text!r}: expected bytes, e.g. 96KB or 98304") from None
    if value <= 0:
        raise SearchError(f"--budget {text!r}: must be > 0")
    return int(value)


@dataclass(frozen=True)
class SearchJob:
    model: str
    dataset: str
    budget: int  # bytes, all-in peak SRAM
    steps: int = 100  # fine-tuning steps per evaluation
    seed: int = 0
    lr: float = 0.01
    input_size: int | None = None
    workers: int = 1
    evaluations: int = 300  # search candidates (memory measured), each search
    limit: int | None = None  # data set images
    board: str = "qemu_m7"
    scheduler: str | None = None  # a Dask scheduler's address: evaluate on that cluster
    val_fraction: float = 0.2  # of the training split: what the analysis scores on
    rerank: int = 8  # best candidates fine-tuned before one is chosen
    search_seeds: int = 1  # both searches repeated from seeds seed.. (compared; the first is used)
    metric: str = "loss"  # what a run is scored on: "loss" (validation loss) or "accuracy"


@dataclass(frozen=True)
class EvalTask:
    """One fine-tuning run of the contribution analysis (picklable: it crosses to a worker)."""

    model: str
    dataset: str
    input_size: int | None
    scheme: str  # JSON of the scheme dict
    steps: int
    seed: int
    lr: float
    limit: int | None
    val_fraction: float

    def key(self) -> str:
        return self.scheme


#: One evaluation's result: (task key, {"acc": accuracy, "loss": loss} on its held-out images).
Result = tuple[str, dict[str, float]]

#: What a run is scored on, higher is better: the metric's name -> its value from a result.
METRICS: dict[str, Callable[[dict[str, float]], float]] = {
    "loss": lambda r: -r["loss"],
    "accuracy": lambda r: r["acc"],
}


def ranking(metric: str) -> Callable[[dict[str, Any]], tuple[float, float, int]]:
    """The key that orders measured schemes best first by ``metric``, then the other metric, then
    the smaller peak SRAM (a row: ``acc``, ``loss``, ``peak_sram_bytes``)."""
    other = "accuracy" if metric == "loss" else "loss"
    first, second = METRICS[metric], METRICS[other]
    return lambda r: (-first(r), -second(r), int(r["peak_sram_bytes"]))


@functools.lru_cache(maxsize=4)
def loaded(
    model: str, dataset: str, input_size: int | None, seed: int, limit: int | None, val_fraction: float | None = None
) -> tuple[Graph, datasets.Dataset]:
    """The model and its data set split by ``seed``, loaded once per process (a worker runs many
    tasks on them); with ``val_fraction``, the training split cut into training and validation
    images (:meth:`~kilotrain.data.datasets.Dataset.holdout`) instead of the test split."""
    graph = load_for_dataset(model, dataset, input_size)
    data = datasets.load(dataset, graph.input, seed=seed, limit=limit)
    return graph, data if val_fraction is None else data.holdout(val_fraction, seed)


def fine_tune(job: TrainJob, graph: Graph, data: datasets.Dataset) -> dict[str, float]:
    """Accuracy and loss on ``data``'s held-out images after training ``job`` on its training images."""
    r = run_training(job, graph=graph, data=data)
    return {"acc": float(r["test_acc_after"]), "loss": float(r["test_loss_after"])}


def evaluate(task: EvalTask) -> Result:
    """The task's fine-tuning on the C kernels, scored on its validation split."""
    graph, data = loaded(task.model, task.dataset, task.input_size, task.seed, task.limit, task.val_fraction)
    job = TrainJob(task.model, task.dataset, json.loads(task.scheme), task.steps, task.seed, task.lr, engine="c")
    return task.key(), fine_tune(job, graph, data)


T = TypeVar("T")
R = TypeVar("R")


def _run_local(fn: Callable[[T], R], tasks: list[T], workers: int) -> Iterator[R]:
    """Results as they complete: inline with one worker, else a pool of processes."""
    if workers <= 1:
        for t in tasks:
            yield fn(t)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for f in as_completed([pool.submit(fn, t) for t in tasks]):
            yield f.result()


def connect(scheduler: str) -> Any:
    """A Dask ``distributed.Client`` of the cluster at ``scheduler`` (``tcp://HOST:PORT``); one
    line if it cannot be reached within 10 s."""
    distributed = require("distributed", "distributed", "--scheduler")
    try:
        return distributed.Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise SearchError(f"--scheduler {scheduler}: cannot connect ({str(e).splitlines()[0]})") from None


def _run_dask(fn: Callable[[T], R], tasks: list[T], client: Any) -> Iterator[R]:
    """Results as they complete on a Dask distributed cluster (its own scheduler and workers; each
    worker needs kilotrain installed and the data sets' extras)."""
    from distributed import as_completed as dask_completed

    for f in dask_completed(client.map(fn, tasks, pure=False)):
        yield f.result()


def run_evaluations(fn: Callable[[T], R], tasks: list[T], workers: int, client: Any | None) -> Iterator[R]:
    """The one executor interface (the search's analysis, the accuracy study): ``fn`` over
    ``tasks`` (picklable, ``fn`` importable), results in completion order, on local processes
    (``workers``), or on a Dask cluster when a ``client`` (:func:`connect`) is given."""
    if client is not None:
        return _run_dask(fn, tasks, client)
    return _run_local(fn, tasks, workers)


def cache_path(job: SearchJob, digest: str) -> Path:
    key = json.dumps([digest, job.dataset, job.steps, job.seed, job.lr, job.input_size, job.limit, job.val_fraction])
    return build_dir() / "search" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


def load_results(path: Path, field: str) -> dict[str, dict[str, float]]:
    """The results a cache file holds (one JSON line each: the key under ``field``, ``acc``,
    ``loss``), by key; a line cut short by a stop is skipped."""
    out: dict[str, dict[str, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                out[rec[field]] = {"acc": float(rec["acc"]), "loss": float(rec["loss"])}
            except (ValueError, KeyError, TypeError):
                continue
    return out


def measure(
    fn: Callable[[T], Result],
    tasks: list[T],
    key: Callable[[T], str],
    done: dict[str, dict[str, float]],
    cache: Path,
    field: str,
    workers: int,
    client: Any | None,
    desc: str | None,
) -> None:
    """Run every task whose key is not in ``done`` on the executor (:func:`run_evaluations`),
    adding each result to ``done`` and to the cache file as it arrives (:func:`load_results`
    reads it back); a progress bar named ``desc`` over the distinct keys if given."""
    unique = {key(t): t for t in tasks}
    todo = [t for k, t in unique.items() if k not in done]
    bar: Any = None
    if desc is not None:
        from tqdm import tqdm

        bar = tqdm(total=len(unique), initial=len(unique) - len(todo), desc=desc, unit="run")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "a") as f:
        for k, res in run_evaluations(fn, todo, workers, client):
            done[k] = res
            f.write(json.dumps({field: k, **res}) + "\n")
            f.flush()
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()


#: Planner peaks by (model digest, board, lr), then scheme: shared by the searches of one process
#: (a study searches one model at several budgets and for several tasks), and kept on disk for
#: the next process while the sources are unchanged (:class:`PlannerPeaks`).
_PEAKS: dict[tuple[str, str, float], dict[str, int]] = {}


class PlannerPeaks:
    """A scheme's all-in peak SRAM on a board, as ``kilotrain plan`` reports it, cached: in the
    process and in ``build/search/peaks-*.json`` (keyed by the model, board and lr and by a
    fingerprint of the firmware's sources and of the planner's modules, so an edit of what
    :func:`image_budget` runs invalidates it, and one of the search alone does not)."""

    def __init__(self, graph: Graph, board: str, lr: float) -> None:
        self.graph, self.board, self.lr = graph, memory.board_memory(board), lr
        key = (graph.digest(), board, lr)
        text = json.dumps([*key, source_fingerprint(image_budget.__module__)])
        self.path = build_dir() / "search" / f"peaks-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
        if key not in _PEAKS:
            try:
                _PEAKS[key] = {str(k): int(v) for k, v in json.loads(self.path.read_text()).items()}
            except (OSError, ValueError, AttributeError):
                _PEAKS[key] = {}
        self.known = _PEAKS[key]

    def __call__(self, scheme: dict[str, Any]) -> int:
        key = canonical(scheme)
        if key not in self.known:
            self.known[key] = image_budget(self.graph, scheme, self.board, lr=self.lr)[2].total
        return self.known[key]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.known))
        tmp.replace(self.path)


def _biases(k: int) -> dict[str, Any]:
    """The scheme that updates the classifier and the biases of the last ``k`` conv layers."""
    return {"n_bias_update": k, "weight_layers": [], "ratios": []}


def _weights(n_layers: int, i: int, r: float) -> dict[str, Any]:
    """The scheme that updates every bias and conv layer ``i``'s weights on the fraction ``r``."""
    return {"n_bias_update": n_layers, "weight_layers": [i], "ratios": [r]}


def fitting_depths(n_layers: int, peak: Callable[[dict[str, Any]], int], budget: int) -> list[dict[str, Any]]:
    """The analysis' plain bias depths (the classifier alone included) whose peak fits ``budget``:
    measured already, they join the re-ranking at no cost, so the search never answers with a
    scheme that validates worse than a bias depth it measured within the budget."""
    return [b for b in map(_biases, range(n_layers + 1)) if peak(b) <= budget]


def analysis_schemes(n_layers: int) -> list[dict[str, Any]]:
    """The contribution analysis' schemes: classifier only, every bias depth (the last is every
    layer's bias), each layer's weights at each ratio on top of every bias."""
    out = [_biases(k) for k in range(n_layers + 1)]
    out += [_weights(n_layers, i, r) for i in range(n_layers) for r in RATIOS]
    return out


def canonical(scheme: dict[str, Any]) -> str:
    """A scheme's JSON with sorted keys: the key its results are cached under."""
    return json.dumps(scheme, sort_keys=True)


def contributions(done: dict[str, dict[str, float]], n_layers: int, metric: str) -> Contributions:
    """The contribution analysis from its runs' results (:func:`analysis_schemes`, all in
    ``done``), each run's value the ``metric`` (higher is better): a bias depth's gain over the
    classifier alone, a layer's weights at a ratio over every bias."""
    value = {k: METRICS[metric](v) for k, v in done.items()}
    base = value[canonical(_biases(0))]
    all_bias = value[canonical(_biases(n_layers))]
    bias = {k: value[canonical(_biases(k))] - base for k in range(1, n_layers + 1)}
    weight = {(i, r): value[canonical(_weights(n_layers, i, r))] - all_bias for i in range(n_layers) for r in RATIOS}
    return Contributions(base, bias, weight)


def run_search(job: SearchJob, progress: bool = False, client: Any | None = None) -> dict[str, Any]:
    """Analyse, search, return the report (the scheme under ``scheme``). ``client``: a Dask client
    already connected (the caller closes it); else ``job.scheduler`` is connected to here."""
    if job.workers < 1:
        raise SearchError(f"--workers must be >= 1; got {job.workers}")
    if job.evaluations < 1:
        raise SearchError(f"--evaluations must be >= 1; got {job.evaluations}")
    if job.search_seeds < 1:
        raise SearchError(f"search seeds must be >= 1; got {job.search_seeds}")
    if job.rerank < 1:
        raise SearchError(f"--rerank must be >= 1; got {job.rerank}")
    if not 0.0 < job.val_fraction < 1.0:
        raise SearchError(f"--val-fraction must be in (0, 1); got {job.val_fraction}")
    if job.metric not in METRICS:
        raise SearchError(f"--metric {job.metric!r}: expected one of {', '.join(METRICS)}")
    if client is not None:
        return _search(job, progress, client)
    own = connect(job.scheduler) if job.scheduler is not None else None  # fail before any work
    try:
        return _search(job, progress, own)
    finally:
        if own is not None:
            own.close()


def _search(job: SearchJob, progress: bool, client: Any | None) -> dict[str, Any]:
    graph = load_for_dataset(job.model, job.dataset, job.input_size)
    peak = PlannerPeaks(graph, job.board, job.lr)

    smallest = peak(_biases(0))
    if job.budget < smallest:
        raise SearchError(
            f"--budget {job.budget:,} B is below {graph.name or job.model}'s smallest training image "
            f"(the classifier alone): {smallest:,} B"
        )
    n_layers = len(scheme_layers(graph))
    schemes = analysis_schemes(n_layers)
    cache = cache_path(job, graph.digest())
    done = load_results(cache, "scheme")
    cached = sum(canonical(s) in done for s in schemes)
    _measure(job, schemes, done, cache, client, "contribution analysis" if progress else None)
    contrib = contributions(done, n_layers, job.metric)
    runs = [_both_searches(job, contrib, peak, seed, progress) for seed in range(job.seed, job.seed + job.search_seeds)]
    depths = fitting_depths(n_layers, peak, job.budget)
    peak.save()
    evo, rnd = runs[0]
    if evo.best is None:
        raise SearchError(f"no scheme within --budget {job.budget:,} B was found")
    top = evo.top(contrib, max(job.rerank, 1))
    ranked = [c.scheme(contrib.layers) for c in top]
    _measure(job, ranked, done, cache, client, "re-ranking" if progress and job.rerank > 1 else None)
    rows: list[dict[str, Any]] = [
        {
            "scheme": s,
            "score": c.score(contrib, contrib.layers),
            "peak_sram_bytes": evo.feasible[c],
            **done[canonical(s)],
        }
        for c, s in zip(top, ranked)
    ]
    seen = {canonical(r["scheme"]) for r in rows}
    n_top = len(rows)
    rows += [
        {"scheme": d, "score": contrib.bias.get(d["n_bias_update"], 0.0), "peak_sram_bytes": p, **done[canonical(d)]}
        for d, p in zip(depths, map(peak, depths))
        if canonical(d) not in seen
    ]
    chosen = min(rows, key=ranking(job.metric))
    return {
        "model": graph.name or job.model,
        "dataset": job.dataset,
        "budget_bytes": job.budget,
        "smallest_bytes": smallest,
        "scheme": chosen["scheme"],
        "peak_sram_bytes": chosen["peak_sram_bytes"],
        "score": chosen["score"],
        "validation_accuracy": chosen["acc"],
        "validation_loss": chosen["loss"],
        "metric": job.metric,
        "base_accuracy": done[canonical(schemes[0])]["acc"],
        "base_loss": done[canonical(schemes[0])]["loss"],
        "evolutionary_search": {"score": evo.score, "peak_sram_bytes": evo.memory, "evaluations": evo.evaluations},
        "random_search": {"score": rnd.score, "peak_sram_bytes": rnd.memory, "evaluations": rnd.evaluations},
        "search_seeds": [
            {"seed": job.seed + i, "evolutionary": e.score, "random": r.score} for i, (e, r) in enumerate(runs)
        ],
        "rerank": rows,  # the re-ranked candidates, then the bias depths that fit
        "reranked": n_top,
        "evaluations": evo.evaluations,
        "analysis_runs": len(schemes),
        "analysis_cached": cached,
        "cache": str(cache),
        "job": asdict(job),
        "contributions": contrib.as_dict(),
        "executor": f"dask {job.scheduler}" if job.scheduler else f"{job.workers} local process(es)",
        "cpus": os.cpu_count(),
    }


def _both_searches(
    job: SearchJob, contrib: Contributions, peak: Callable[[dict[str, Any]], int], seed: int, progress: bool
) -> tuple[SearchResult, SearchResult]:
    """The evolutionary and the random search from ``seed``, ``job.evaluations`` each."""
    results = []
    for name, search in (("evolutionary search", evolutionary_search), ("random search", random_search)):
        sbar: Any = None
        report: Callable[[SearchResult], None] | None = None
        if progress:
            from tqdm import tqdm

            sbar = tqdm(total=job.evaluations, desc=f"{name} (seed {seed})", unit="eval")

            def report(r: SearchResult, bar: Any = sbar) -> None:
                bar.update(r.evaluations - bar.n)
                if r.best is not None:
                    bar.set_postfix_str(f"best {r.score:+.3f} at {r.memory:,} B")

        results.append(search(contrib, peak, job.budget, job.evaluations, seed, on_eval=report))
        if sbar is not None:
            sbar.close()
    return results[0], results[1]


def _measure(
    job: SearchJob,
    schemes: list[dict[str, Any]],
    done: dict[str, dict[str, float]],
    cache: Path,
    client: Any | None,
    desc: str | None,
) -> None:
    """Fine-tune every scheme not in ``done`` (:func:`measure`, the cache's key field ``scheme``)."""
    tasks = [
        EvalTask(
            job.model,
            job.dataset,
            job.input_size,
            canonical(s),
            job.steps,
            job.seed,
            job.lr,
            job.limit,
            job.val_fraction,
        )
        for s in schemes
    ]
    measure(evaluate, tasks, EvalTask.key, done, cache, "scheme", job.workers, client, desc)


def write_scheme(scheme: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(scheme) + "\n")
    return p
