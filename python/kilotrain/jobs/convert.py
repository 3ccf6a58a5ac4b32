"""``kilotrain convert``: a float PyTorch model to a kilotrain int8 model file (.ktm), with the
int8 model checked against the float one (docs/custom-models.md).

The source is a zoo architecture's PyTorch twin (:func:`kilotrain.model.zoo_torch.zoo_module`),
with trained weights from ``--weights`` (a state dict or a checkpoint holding one), or trained
here on the data set's training split (``--train EPOCHS``, :func:`pretrain`: a source task for
transfer learning, reproducible from its seed on a CPU in seconds to minutes); the activation
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
    train_epochs: int = 0  # train the float model on the data set first (no --weights)


def float_split(name: str, size: int, seed: int = 0) -> tuple[npt.NDArray[np.float32], Any, Any, Any]:
    """Data set ``name`` as float inputs (N, 3, size, size) by the 3-channel rule, split as
    ``datasets.load(name, ..., seed)`` splits it: (train inputs, labels, test inputs, labels). What
    a float model meant for a kilotrain 3-channel input trains and is tested on."""
    imgs, y, _ = datasets.raw(name)
    x = np.stack([images.imagenet_float(i, (size, size)) for i in imgs]).transpose(0, 3, 1, 2).astype(np.float32)
    train, test = datasets.split_indices(y, 0.25, seed)
    return x[train], y[train], x[test], y[test]


def top1_agreement(module: Any, graph: Graph, x: npt.NDArray[np.float32]) -> float:
    """The share of float inputs ``x`` (N, C, H, W) on which the int8 graph's top-1 class (the
    golden engine, on the inputs quantised by the graph's input scale) is the float module's."""
    torch = require("torch", "torch", "comparing a converted model with its float original")
    with torch.no_grad():
        want = module(torch.tensor(x)).argmax(1).numpy()
    q = images.quantize(x.transpose(0, 2, 3, 1), graph.input)
    got = np.array([int(np.argmax(executor.run(graph, q[i : i + 1])[0])) for i in range(len(q))])
    return float(np.mean(got == want))


def pretrain(module: Any, x: npt.NDArray[np.float32], y: Any, epochs: int, seed: int = 0) -> Any:
    """Train ``module`` on float inputs ``x`` (N, C, H, W) and labels ``y``: Adam (lr 3e-3, cosine
    decay to 0), batches of 64 in a seeded order, cross-entropy, ``epochs`` passes on the CPU's threads
    (the same seed gives the same weights on the same machine); the module, in eval mode."""
    torch = require("torch", "torch", "--train")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), 3e-3)
    batches = -(-len(x) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * batches)
    xt, yt = torch.tensor(x), torch.tensor(np.asarray(y, np.int64))
    for _ in range(epochs):
        module.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            loss = torch.nn.functional.cross_entropy(module(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return module.eval()


def float_accuracy(module: Any, x: npt.NDArray[np.float32], y: Any) -> float:
    """Top-1 accuracy of the float ``module`` on ``x``."""
    torch = require("torch", "torch", "comparing a converted model with its float original")
    with torch.no_grad():
        return float(np.mean(module(torch.tensor(x)).argmax(1).numpy() == np.asarray(y)))


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
    if job.train_epochs < 0 or (job.train_epochs and job.weights is not None):
        raise ModelError(f"--train {job.train_epochs}: expected epochs >= 1, and no --weights with it")
    size = job.input_size or ZOO_MODULES[name]
    torch = require("torch", "torch", "kilotrain convert")
    torch.manual_seed(job.seed)  # the initial weights
    module = zoo_module(name, num_classes=datasets.num_classes(job.dataset))
    x, y, xte, yte = float_split(job.dataset, size, job.seed)
    trained: dict[str, Any] = {}
    if job.weights is not None:
        load_weights(module, job.weights)
    elif job.train_epochs:
        pretrain(module, x, y, job.train_epochs, job.seed)
        trained = {"train_epochs": job.train_epochs, "float_test_accuracy": float_accuracy(module, xte, yte)}
    r = convert_module(module.eval(), x[: job.calib], job.out, f"{name}-r{size}")
    return {**r, "source": job.source, "weights": job.weights, "dataset": job.dataset, **trained}
