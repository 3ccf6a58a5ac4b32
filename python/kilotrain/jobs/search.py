"""``kilotrain search``: a sparse-update scheme for a model and a task under a memory budget
(the paper's contribution analysis and evolutionary search, :mod:`kilotrain.training.search`).

1. **Contribution analysis**, with the integer trainer on the host C kernels (engine ``c``): the
   test accuracy after ``steps`` fine-tuning steps of the classifier alone, of the biases of the
   last ``k`` conv layers for each analysed depth, and of each conv layer's weights at each ratio
   1/8, 1/4, 1/2, 1 on top of every bias (a weight's contribution is its gain over every bias
   alone: measured over the classifier alone, each weight update gained what the biases already
   give, and the summed contributions favoured many weights over deep biases). Each run is one
   evaluation, spread over ``workers`` local processes, or over a Dask distributed cluster
   (``scheduler``: its address; Dask's own scheduler and workers). Every result is appended to a cache file
   as it arrives (``build/search/<key>.jsonl``: the model's digest, the data set, steps, seed and
   learning rate), so a stopped search resumes where it was.
2. **Search**: the evolutionary search maximising the summed contributions under the budget,
   each candidate's memory the all-in peak SRAM that ``kilotrain plan`` reports (the planner,
   cached); random search at the same number of evaluations as the baseline.

The scheme written (``--out``) is the evolutionary search's best; ``plan``, ``train`` and
``compile`` take it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kilotrain.data import datasets
from kilotrain.device import memory
from kilotrain.extras import require
from kilotrain.jobs.plan import image_budget
from kilotrain.jobs.train import TrainJob, load_for_dataset, run_training
from kilotrain.paths import build_dir
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

    def key(self) -> str:
        return self.scheme


_WORKER_CACHE: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def evaluate(task: EvalTask) -> tuple[str, float]:
    """(task key, test accuracy after the task's fine-tuning on the C kernels); the graph and the
    data set are loaded once per process."""
    k = (task.model, task.dataset, task.input_size, task.seed, task.limit)
    if k not in _WORKER_CACHE:
        graph = load_for_dataset(task.model, task.dataset, task.input_size)
        _WORKER_CACHE[k] = (graph, datasets.load(task.dataset, graph.input, seed=task.seed, limit=task.limit))
    graph, data = _WORKER_CACHE[k]
    job = TrainJob(task.model, task.dataset, json.loads(task.scheme), task.steps, task.seed, task.lr, engine="c")
    r = run_training(job, graph=graph, data=data)
    return task.key(), float(r["test_acc_after"])


def _run_local(
    fn: Callable[[EvalTask], tuple[str, float]], tasks: list[EvalTask], workers: int
) -> Iterator[tuple[str, float]]:
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


def _run_dask(
    fn: Callable[[EvalTask], tuple[str, float]], tasks: list[EvalTask], client: Any
) -> Iterator[tuple[str, float]]:
    """Results as they complete on a Dask distributed cluster (its own scheduler and workers; each
    worker needs kilotrain installed and the data sets' extras)."""
    from distributed import as_completed as dask_completed

    for f in dask_completed(client.map(fn, tasks, pure=False)):
        yield f.result()


def run_evaluations(
    fn: Callable[[EvalTask], tuple[str, float]], tasks: list[EvalTask], workers: int, client: Any | None
) -> Iterator[tuple[str, float]]:
    """The one executor interface: local processes (``workers``), or a Dask cluster when a
    ``client`` (:func:`connect`) is given."""
    if client is not None:
        return _run_dask(fn, tasks, client)
    return _run_local(fn, tasks, workers)


def cache_path(job: SearchJob, digest: str) -> Path:
    key = json.dumps([digest, job.dataset, job.steps, job.seed, job.lr, job.input_size, job.limit])
    return build_dir() / "search" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


def _load_cache(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                out[rec["scheme"]] = float(rec["acc"])
            except (ValueError, KeyError):
                continue  # a line cut by a stop
    return out


def _biases(k: int) -> dict[str, Any]:
    """The scheme that updates the classifier and the biases of the last ``k`` conv layers."""
    return {"n_bias_update": k, "weight_layers": [], "ratios": []}


def analysis_schemes(n_layers: int) -> list[dict[str, Any]]:
    """The contribution analysis' schemes: classifier only, every bias depth (the last is every
    layer's bias), each layer's weights at each ratio on top of every bias."""
    out = [_biases(k) for k in range(n_layers + 1)]
    out += [{"n_bias_update": n_layers, "weight_layers": [i], "ratios": [r]} for i in range(n_layers) for r in RATIOS]
    return out


def _canon(scheme: dict[str, Any]) -> str:
    return json.dumps(scheme, sort_keys=True)


def run_search(job: SearchJob, progress: bool = False) -> dict[str, Any]:
    """Analyse, search, return the report (the scheme under ``scheme``)."""
    if job.workers < 1:
        raise SearchError(f"--workers must be >= 1; got {job.workers}")
    if job.evaluations < 1:
        raise SearchError(f"--evaluations must be >= 1; got {job.evaluations}")
    client = connect(job.scheduler) if job.scheduler is not None else None  # fail before any work
    try:
        return _search(job, progress, client)
    finally:
        if client is not None:
            client.close()


def _search(job: SearchJob, progress: bool, client: Any | None) -> dict[str, Any]:
    graph = load_for_dataset(job.model, job.dataset, job.input_size)
    board = memory.board_memory(job.board)
    mem_cache: dict[str, int] = {}

    def peak(scheme: dict[str, Any]) -> int:
        key = _canon(scheme)
        if key not in mem_cache:
            mem_cache[key] = image_budget(graph, scheme, board, lr=job.lr)[2].total
        return mem_cache[key]

    smallest = peak(_biases(0))
    if job.budget < smallest:
        raise SearchError(
            f"--budget {job.budget:,} B is below {graph.name or job.model}'s smallest training image "
            f"(the classifier alone): {smallest:,} B"
        )
    n_layers = len(scheme_layers(graph))
    schemes = analysis_schemes(n_layers)
    cache = cache_path(job, graph.digest())
    done = _load_cache(cache)
    todo = [s for s in schemes if _canon(s) not in done]
    tasks = [
        EvalTask(job.model, job.dataset, job.input_size, _canon(s), job.steps, job.seed, job.lr, job.limit)
        for s in todo
    ]
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(schemes), initial=len(schemes) - len(todo), desc="contribution analysis", unit="run")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "a") as f:
        for key, acc in run_evaluations(evaluate, tasks, job.workers, client):
            done[key] = acc
            f.write(json.dumps({"scheme": key, "acc": acc}) + "\n")
            f.flush()
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    base = done[_canon(schemes[0])]
    bias = {s["n_bias_update"]: done[_canon(s)] - base for s in schemes[1:] if not s["weight_layers"]}
    all_bias = done[_canon(_biases(n_layers))]
    weight = {
        (s["weight_layers"][0], s["ratios"][0]): done[_canon(s)] - all_bias for s in schemes if s["weight_layers"]
    }
    contrib = Contributions(base, bias, weight)
    results = []
    for name, search in (("evolutionary search", evolutionary_search), ("random search", random_search)):
        sbar: Any = None
        report: Callable[[SearchResult], None] | None = None
        if progress:
            from tqdm import tqdm

            sbar = tqdm(total=job.evaluations, desc=name, unit="eval")

            def report(r: SearchResult, bar: Any = sbar) -> None:
                bar.update(r.evaluations - bar.n)
                if r.best is not None:
                    bar.set_postfix_str(f"best {r.score:+.3f} at {r.memory:,} B")

        results.append(search(contrib, peak, job.budget, job.evaluations, job.seed, on_eval=report))
        if sbar is not None:
            sbar.close()
    evo, rnd = results
    if evo.best is None:
        raise SearchError(f"no scheme within --budget {job.budget:,} B was found")
    scheme = evo.best.scheme(contrib.layers)
    return {
        "model": graph.name or job.model,
        "dataset": job.dataset,
        "budget_bytes": job.budget,
        "smallest_bytes": smallest,
        "scheme": scheme,
        "peak_sram_bytes": evo.memory,
        "score": evo.score,
        "base_accuracy": base,
        "random_search": {"score": rnd.score, "peak_sram_bytes": rnd.memory, "evaluations": rnd.evaluations},
        "evaluations": evo.evaluations,
        "analysis_runs": len(schemes),
        "analysis_cached": len(schemes) - len(todo),
        "cache": str(cache),
        "job": asdict(job),
        "contributions": contrib.as_dict(),
        "executor": f"dask {job.scheduler}" if job.scheduler else f"{job.workers} local process(es)",
        "cpus": os.cpu_count(),
    }


def write_scheme(scheme: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(scheme) + "\n")
    return p
