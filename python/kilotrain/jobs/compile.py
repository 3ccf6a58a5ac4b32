"""The job behind ``kilotrain compile``: generate the training firmware's C for a (model, scheme)
and put it, with a manifest, in the one place a plain ``pio run -e <board>`` builds from
(:func:`kilotrain.paths.compiled_dir`, read by tools/pio/model_sources.py).

The manifest (``manifest.json``) says what was compiled, so that the host tools and a person can
tell which model a board runs: the model and scheme digests, the learning rate and rounding, the
input format (shape, scale, zero point and the image rule of :mod:`kilotrain.data.images`), the
class names, the plan's memory figures and the generated source's digest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain import __version__
from kilotrain.codegen import emit
from kilotrain.data import datasets
from kilotrain.device import memory
from kilotrain.jobs.engines import check_options
from kilotrain.jobs.train import load_for_dataset
from kilotrain.model.ir import Graph
from kilotrain.paths import compiled_dir
from kilotrain.training.plan import TrainPlan, build_plan

#: Boards ``compile`` targets: the ones with a memory map, and the host build.
COMPILE_BOARDS: tuple[str, ...] = (*memory.BOARDS, "native")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ModelSpec:
    """What a training image is compiled from: the model, scheme, resolution, data set (sizes a
    zoo classifier, names the classes), learning rate and rounding. The same spec always gives
    the same plan (:meth:`TrainPlan.digest`); the manifest and every stream report record it."""

    model: str  # a .tflite path or zoo:NAME
    scheme: Any = "last-layer"  # a preset name, a .json path or the scheme's JSON object
    input_size: int | None = None
    dataset: str | None = None
    lr: float = 0.01
    rounding: str = "stochastic"

    def check(self) -> None:
        """ValueError with one line naming the bad option."""
        check_options(lr=self.lr, rounding=self.rounding, input_size=self.input_size)

    def to_json(self, plan: TrainPlan) -> dict[str, Any]:
        """The spec with the scheme resolved to its JSON object (a preset or file may change)."""
        return {
            "model": self.model,
            "scheme": plan.scheme.to_json(),
            "input_size": self.input_size,
            "dataset": self.dataset,
            "lr": self.lr,
            "rounding": self.rounding,
        }

    @classmethod
    def from_json(cls, d: Any, where: str) -> ModelSpec:
        """The spec a manifest or report recorded; ValueError naming ``where`` when it is not one."""
        keys = {"model", "scheme", "input_size", "dataset", "lr", "rounding"}
        if not isinstance(d, dict) or not keys <= set(d):
            raise ValueError(f"{where}: expected a model spec with {', '.join(sorted(keys))}")
        return cls(d["model"], d["scheme"], d["input_size"], d["dataset"], float(d["lr"]), d["rounding"])


def class_names(dataset: str | None, plan: TrainPlan) -> tuple[str, ...]:
    """One name per classifier output: the data set's class names, then the output's index."""
    n = int(np.prod(plan.graph.tensors[plan.logits].shape))
    names = list(datasets.class_names(dataset))[:n] if dataset else []
    return tuple(names + [str(i) for i in range(len(names), n)])


def plan_for(spec: ModelSpec) -> tuple[Graph, TrainPlan]:
    """The graph and the training plan a spec compiles to (what the firmware runs)."""
    spec.check()
    graph = load_for_dataset(spec.model, spec.dataset, spec.input_size)
    return graph, build_plan(graph, spec.scheme, spec.lr, rounding=spec.rounding, engine="qemu")


def training_frames(plan: TrainPlan, dataset: str | None, n: int, seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """``n`` frames to train the plan's model on, for measurements (profile, bench): the data
    set's training split in order (repeating when shorter), or seeded random inputs without one."""
    classes = int(np.prod(plan.graph.tensors[plan.logits].shape))
    if dataset is not None:
        ds = datasets.load(dataset, plan.graph.input, seed=seed, num_classes=classes, limit=max(64, 4 * n))
        return [(ds.x_train[i % len(ds.y_train)], int(ds.y_train[i % len(ds.y_train)])) for i in range(n)]
    rng = np.random.default_rng(seed)
    shape = plan.graph.input.shape
    return [(rng.integers(-128, 128, shape).astype(np.int8), int(rng.integers(classes))) for _ in range(n)]


@dataclass(frozen=True)
class CompileJob(ModelSpec):
    """The flags of ``kilotrain compile``."""

    board: str = "qemu_m7"
    pack: bool = True  # packed frozen filters where the board's flash holds them (--no-pack: never)

    def check(self) -> None:
        if self.board not in COMPILE_BOARDS:
            raise ValueError(f"--board must be one of {', '.join(COMPILE_BOARDS)}; got {self.board!r}")
        super().check()


def run_compile(job: CompileJob, out_dir: Path | None = None) -> dict[str, Any]:
    """Generate and write the sources and manifest; returns the manifest. Anything compiled
    before in ``out_dir`` (default :func:`compiled_dir`) is replaced."""
    job.check()
    graph, plan = plan_for(job)
    source_name = f"{graph.name or Path(job.model).stem}.tflite"
    board = memory.board_memory(job.board) if job.board in memory.BOARDS else None
    code, budget = memory.render_for_board(plan, source_name, board, job.pack)
    if board is not None:
        memory.check_fits(plan, budget, board)
    t = graph.input
    scheme_json = plan.scheme.to_json()
    manifest: dict[str, Any] = {
        "kilotrain": __version__,
        "board": job.board,
        "model": job.model,
        "model_name": graph.name or Path(job.model).stem,
        "model_digest": graph.digest(),
        "train_digest": plan.digest(),
        "spec": job.to_json(plan),
        "scheme": scheme_json,
        "scheme_sha256": hashlib.sha256(json.dumps(scheme_json, sort_keys=True).encode()).hexdigest(),
        "lr": job.lr,
        "rounding": job.rounding,
        "input": {
            "shape": [int(d) for d in t.shape],
            "dtype": t.dtype,
            "scale": float(t.s),
            "zero_point": int(t.zp),
            "rule": "grayscale_bytes" if int(t.shape[-1]) == 1 else "imagenet",
        },
        "classes": list(class_names(job.dataset, plan)),
        "dataset": job.dataset,
        "plan": budget.as_dict(),
        "packed_layers": code.packed_layers,
        "source": "kt_train.c",
        "source_sha256": hashlib.sha256(code.text.encode()).hexdigest(),
    }
    out = Path(out_dir) if out_dir is not None else compiled_dir()
    if out.exists():
        shutil.rmtree(out)
    emit.write(code.text, out, "kt_train.c")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_manifest(out_dir: Path | None = None) -> dict[str, Any]:
    """The manifest of the compiled model (what a plain ``pio run`` built); ValueError in one line
    when nothing was compiled or the file is not a manifest."""
    path = (Path(out_dir) if out_dir is not None else compiled_dir()) / MANIFEST
    if not path.exists():
        raise ValueError(
            f"no compiled model at {path}: run `kilotrain compile MODEL --scheme S` (then build and "
            "upload it), or name the model the device runs with --model and --scheme"
        )
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(m, dict) or "spec" not in m:
        raise ValueError(f"{path} is not a kilotrain manifest (no spec): compile the model again")
    return m


def clear(out_dir: Path | None = None) -> bool:
    """Remove the compiled model (``pio run`` then builds the model-less image); True if one was there."""
    out = Path(out_dir) if out_dir is not None else compiled_dir()
    if not out.exists():
        return False
    shutil.rmtree(out)
    return True
