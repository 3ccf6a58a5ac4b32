"""``kilotrain convert``: a float PyTorch model to a kilotrain int8 model file (.ktm), with the
int8 model checked against the float one (docs/custom-models.md).

The source is a zoo architecture's PyTorch twin (:func:`kilotrain.model.zoo_torch.zoo_module`),
with trained weights from ``--weights`` (a state dict or a checkpoint holding one); the activation
ranges come from ``calib`` images of a data set, fed the float way the int8 model will be fed
(:func:`kilotrain.data.images.imagenet_float`, the 3-channel input rule). For your own module,
call :func:`convert_module` (or :func:`kilotrain.model.torch_import.from_torch`) from Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.data import datasets, images
from kilotrain.extras import require
from kilotrain.model.ir import Graph, ModelError
from kilotrain.model.irfile import save_graph
from kilotrain.model.torch_import import from_torch
from kilotrain.model.zoo_torch import ZOO_MODULES, load_weights, zoo_module
from kilotrain.reference import executor


@dataclass(frozen=True)
class ConvertJob:
    source: str  # zoo:NAME
    out: str
    dataset: str
    weights: str | None = None
    input_size: int | None = None
    calib: int = 256
    seed: int = 0


def float_split(name: str, size: int, seed: int = 0) -> tuple[npt.NDArray[np.float32], Any, Any, Any]:
    """Data set ``name`` as float inputs (N, 3, size, size) by the 3-channel rule, split as
    ``datasets.load(name, ..., seed)`` splits it: (train inputs, labels, test inputs, labels). What
    a float model meant for a kilotrain 3-channel input trains and is tested on."""
    imgs, y, _ = datasets.raw(name)
    x = np.stack([images.imagenet_float(i, (size, size)) for i in imgs]).transpose(0, 3, 1, 2).astype(np.float32)
    train, test = datasets.split_indices(y, 0.25, seed)
    return x[train], y[train], x[test], y[test]


def calibration_images(name: str, size: int, count: int, seed: int = 0) -> tuple[npt.NDArray[np.float32], Any]:
    """The first ``count`` training images of :func:`float_split` and their labels."""
    x, y, _, _ = float_split(name, size, seed)
    return x[:count], y[:count]


def top1_agreement(module: Any, graph: Graph, x: npt.NDArray[np.float32]) -> float:
    """The share of float inputs ``x`` (N, C, H, W) on which the int8 graph's top-1 class (the
    golden engine, on the inputs quantised by the graph's input scale) is the float module's."""
    torch = require("torch", "torch", "comparing a converted model with its float original")
    with torch.no_grad():
        want = module(torch.tensor(x)).argmax(1).numpy()
    q = images.quantize(x.transpose(0, 2, 3, 1), graph.input)
    got = np.array([int(np.argmax(executor.run(graph, q[i : i + 1])[0])) for i in range(len(q))])
    return float(np.mean(got == want))


def convert_module(module: Any, calib: npt.NDArray[np.float32], out: str | Path, name: str) -> dict[str, Any]:
    """Convert ``module`` on ``calib``, save it to ``out``; the report (path, ops, agreement)."""
    graph = from_torch(module, calib, name)
    path = save_graph(graph, out)
    return {
        "model": name,
        "out": str(path),
        "ops": [op.kind for op in graph.ops],
        "input_shape": list(graph.input.shape),
        "calibration_images": len(calib),
        "top1_agreement": top1_agreement(module, graph, calib),
        "digest": graph.digest(),
    }


def run_convert(job: ConvertJob) -> dict[str, Any]:
    """Build the source's float module, load its weights, convert, check; the report."""
    if not job.source.startswith("zoo:"):
        raise ModelError(
            f"{job.source}: convert takes a zoo architecture (zoo:NAME with --weights); for your own "
            "module use kilotrain.model.torch_import.from_torch (docs/custom-models.md)"
        )
    name = job.source[4:]
    if name not in ZOO_MODULES:
        raise ModelError(f"{job.source} has no PyTorch twin; known: {', '.join('zoo:' + z for z in ZOO_MODULES)}")
    if job.calib < 1:
        raise ModelError(f"--calib must be >= 1 image; got {job.calib}")
    size = job.input_size or ZOO_MODULES[name]
    x, _ = calibration_images(job.dataset, size, job.calib, job.seed)
    module = zoo_module(name, num_classes=datasets.num_classes(job.dataset))
    if job.weights is not None:
        load_weights(module, job.weights)
    r = convert_module(module.eval(), x, job.out, f"{name}-r{size}")
    return {**r, "source": job.source, "weights": job.weights, "dataset": job.dataset}
