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
from kilotrain.codegen.train import render_train
from kilotrain.data import datasets
from kilotrain.device import memory
from kilotrain.jobs.train import load_for_dataset
from kilotrain.model.ir import Graph
from kilotrain.paths import compiled_dir
from kilotrain.training.plan import ROUNDINGS, build_plan

#: Boards ``compile`` targets: the ones with a memory map, and the host build.
COMPILE_BOARDS: tuple[str, ...] = (*memory.BOARDS, "native")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CompileJob:
    """The flags of ``kilotrain compile``."""

    model: str  # a .tflite path or zoo:NAME
    scheme: str = "last-layer"
    input_size: int | None = None
    dataset: str | None = None  # sizes a zoo classifier and names the classes
    board: str = "qemu_m7"
    lr: float = 0.01
    rounding: str = "stochastic"

    def check(self) -> None:
        if self.board not in COMPILE_BOARDS:
            raise ValueError(f"--board must be one of {', '.join(COMPILE_BOARDS)}; got {self.board!r}")
        if not self.lr > 0 or self.lr == float("inf"):
            raise ValueError(f"--lr must be a finite number > 0; got {self.lr}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"--rounding must be one of {', '.join(ROUNDINGS)}; got {self.rounding!r}")
        if self.input_size is not None and self.input_size < 1:
            raise ValueError(f"--input-size must be >= 1; got {self.input_size}")


def model_digest(spec: str, graph: Graph) -> str:
    """SHA-256 naming the model: a .tflite file's bytes, or a zoo model's name, resolution and
    class count (the zoo builds it deterministically from seed 0)."""
    if spec.startswith("zoo:"):
        key = f"{spec}|{list(graph.input.shape)}|{list(graph.output.shape)}|seed 0"
        return hashlib.sha256(key.encode()).hexdigest()
    return hashlib.sha256(Path(spec).read_bytes()).hexdigest()


def run_compile(job: CompileJob, out_dir: Path | None = None) -> dict[str, Any]:
    """Generate and write the sources and manifest; returns the manifest. Anything compiled
    before in ``out_dir`` (default :func:`compiled_dir`) is replaced."""
    job.check()
    graph = load_for_dataset(job.model, job.dataset, job.input_size)
    plan = build_plan(graph, job.scheme, job.lr, rounding=job.rounding, engine="qemu")
    source_name = f"{graph.name or Path(job.model).stem}.tflite"
    code = render_train(plan, source_name)
    budget = memory.sram_budget(plan, code)
    if job.board in memory.BOARDS:
        memory.check_fits(plan, budget, memory.board_memory(job.board))
    t = graph.input
    n_out = int(np.prod(graph.tensors[plan.logits].shape))
    names = list(datasets.CLASS_NAMES[job.dataset]) if job.dataset else []
    scheme_json = plan.scheme.to_json()
    manifest: dict[str, Any] = {
        "kilotrain": __version__,
        "board": job.board,
        "model": job.model,
        "model_name": graph.name or Path(job.model).stem,
        "model_sha256": model_digest(job.model, graph),
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
        "classes": names[:n_out] + [str(i) for i in range(len(names), n_out)],
        "dataset": job.dataset,
        "plan": budget.as_dict(),
        "source": "kt_train.c",
        "source_sha256": hashlib.sha256(code.text.encode()).hexdigest(),
    }
    out = Path(out_dir) if out_dir is not None else compiled_dir()
    if out.exists():
        shutil.rmtree(out)
    emit.write(code.text, out, "kt_train.c")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def clear(out_dir: Path | None = None) -> bool:
    """Remove the compiled model (``pio run`` then builds the model-less image); True if one was there."""
    out = Path(out_dir) if out_dir is not None else compiled_dir()
    if not out.exists():
        return False
    shutil.rmtree(out)
    return True
