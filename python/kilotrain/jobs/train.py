"""The training job behind ``kilotrain train``: load a model (a .tflite or a zoo model) and a data
set, optionally give the model a fresh classifier head, build the training plan, train on the
chosen engine, and report loss / accuracy before and after on the test split, the trained
parameters' SHA-256 and, on a board, the device's figures (docs/training.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kilotrain.data import datasets
from kilotrain.data.datasets import Dataset
from kilotrain.jobs.engines import check_choice, check_options, train_engine
from kilotrain.model.ir import Graph
from kilotrain.model.load import load_model
from kilotrain.training import plan as train_plan
from kilotrain.training.head import new_head
from kilotrain.training.scheme import SchemeSpec, classifier_op


@dataclass(frozen=True)
class TrainJob:
    """What to train, on what, how (the flags of ``kilotrain train``)."""

    model: str  # a .tflite path or zoo:NAME
    dataset: str
    scheme: SchemeSpec = "last-layer"  # a preset, a JSON path, or a scheme dict
    steps: int = 100
    seed: int = 0  # split and order seed
    lr: float = 0.01
    engine: str = "golden"
    mode: str = "int8"
    input_size: int | None = None  # zoo models: input resolution
    limit: int | None = None  # at most this many images of the data set
    eval_limit: int | None = None  # at most this many test images
    new_head: int | None = None  # a fresh N-way classifier (transfer learning)
    rounding: str = "stochastic"

    def check(self) -> None:
        """ValueError with one line naming the bad field, before anything is loaded."""
        check_choice(self.engine, self.mode)
        if self.steps < 0:
            raise ValueError(f"--steps must be >= 0; got {self.steps}")
        check_options(lr=self.lr, rounding=self.rounding, input_size=self.input_size)
        if self.new_head is not None and self.new_head < 2:
            raise ValueError(f"--new-head must be >= 2 (classes of the fresh classifier); got {self.new_head}")
        for name, v in (("--limit", self.limit), ("--eval-limit", self.eval_limit)):
            if v is not None and v < 1:
                raise ValueError(f"{name} must be >= 1; got {v}")


def load_for_dataset(model: str, dataset: str | None, input_size: int | None) -> Graph:
    """The model as ``train`` loads it: a zoo model's classifier has one output per class of
    ``dataset`` (10 without one); a .tflite is taken as it is."""
    ncls = None
    if model.startswith("zoo:") and dataset is not None:
        ncls = datasets.num_classes(dataset)
    return load_model(model, ncls, input_size, seed=0)


def run_training(
    job: TrainJob, *, graph: Graph | None = None, data: Dataset | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train and evaluate; returns the report the CLI prints (see docs/training.md). ``graph`` and
    ``data`` skip loading (experiments reuse them across runs)."""
    job.check()
    if graph is None:
        graph = load_for_dataset(job.model, job.dataset, job.input_size)
    if job.new_head is not None:
        if data is None:
            data = datasets.load(job.dataset, graph.input, seed=job.seed, limit=job.limit, progress=progress)
        graph = new_head(graph, max(job.new_head, data.num_classes), data.x_train[:16], seed=0)
    cls = classifier_op(graph)
    n_out = int(graph.tensors[cls.outputs[0]].shape[-1])
    if data is None:
        data = datasets.load(
            job.dataset,
            graph.input,
            seed=job.seed,
            limit=job.limit,
            num_classes=n_out if n_out < 10 and job.dataset != "lfw" else None,
            progress=progress,
        )
    if data.num_classes > n_out:
        raise ValueError(f"data set {job.dataset!r} has {data.num_classes} classes but the model outputs {n_out}")
    xt, yt = data.x_test, data.y_test
    if job.eval_limit is not None:
        xt, yt = xt[: job.eval_limit], yt[: job.eval_limit]
    calib = [(data.x_train[i], int(data.y_train[i])) for i in range(min(8, len(data.y_train)))]
    plan = train_plan.build_plan(
        graph, job.scheme, job.lr, qas=(job.mode != "int8-noqas"), calib=calib, rounding=job.rounding, engine=job.engine
    )
    rng = np.random.default_rng(job.seed)
    order: list[int] = []
    while len(order) < job.steps:
        order.extend(rng.permutation(len(data.y_train)).tolist())
    order = order[: job.steps]
    t0 = time.time()
    engine = train_engine(job.engine, plan, job.mode, f"{graph.name or 'model'}.tflite")
    try:
        loss0, acc0 = engine.evaluate(xt, yt)
        it: Any = order
        if progress:
            from tqdm import tqdm

            it = tqdm(order, desc=f"training {job.mode}", unit="step")
        losses: list[float] = []
        correct = sat = 0
        for i in it:
            r = engine.step(data.x_train[i], int(data.y_train[i]))
            losses.append(r.loss)
            correct += int(r.correct)
            sat += r.saturations
        loss1, acc1 = engine.evaluate(xt, yt)
        sha = engine.params_sha256()
        device = engine.figures()
    finally:
        engine.close()
    tail = losses[-min(len(losses), max(1, len(data.y_train))) :] if losses else []
    return {
        "model": graph.name or str(job.model),
        "dataset": job.dataset,
        "scheme": plan.scheme.name,
        "mode": job.mode,
        "rounding": job.rounding if job.mode != "fp32" else None,
        "engine": engine.name,
        "steps": job.steps,
        "seed": job.seed,
        "lr": job.lr,
        "train_size": len(data.y_train),
        "test_size": len(yt),
        "test_loss_before": round(loss0, 4),
        "test_acc_before": round(acc0, 4),
        "test_loss_after": round(loss1, 4),
        "test_acc_after": round(acc1, 4),
        "train_loss_last_epoch": round(float(np.mean(tail)), 4) if tail else None,
        "train_acc_running": round(correct / max(job.steps, 1), 4),
        "gradient_saturations": sat,
        "memory": plan.memory.as_dict(),
        "params_sha256": sha,
        "seconds": round(time.time() - t0, 1),
        **({"device": device} if device else {}),
    }
