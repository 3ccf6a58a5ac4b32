"""A model from what a user names on the command line: a ``.tflite`` path, a ``.ktm`` path
(kilotrain's own file: :mod:`kilotrain.model.irfile`) or ``zoo:NAME``."""

from __future__ import annotations

from pathlib import Path

from kilotrain.model import zoo
from kilotrain.model.ir import Graph, ModelError
from kilotrain.model.irfile import SUFFIX, load_graph
from kilotrain.model.resize import with_input_size
from kilotrain.model.tflite import load_tflite

#: The zoo models ``zoo:NAME`` builds (aliases: ``mbv2``, ``proxyless``).
ZOO: tuple[str, ...] = ("tiny_cnn", "resnet8", "mbv2-w0.35", "proxyless-w0.3")


def load_model(spec: str | Path, num_classes: int | None = None, input_size: int | None = None, seed: int = 0) -> Graph:
    """A Graph from a .tflite or .ktm path or ``zoo:NAME``. ``num_classes`` applies to zoo models
    (10 by default); ``input_size`` sets a zoo model's resolution (16 px for tiny_cnn, 32 px for
    resnet8, 128 px for the others by default) and resizes a fully convolutional model file
    (:func:`kilotrain.model.resize.with_input_size`)."""
    spec = str(spec)
    if not spec.startswith("zoo:"):
        g = load_graph(spec) if spec.endswith(SUFFIX) else load_tflite(spec)
        if input_size is None or input_size == g.input.shape[2]:
            return g
        return with_input_size(g, input_size)
    name = spec[4:]
    if input_size is not None and input_size < 1:
        raise ModelError(f"{spec}: input size must be >= 1 pixel; got {input_size}")
    if num_classes is not None and num_classes < 2:
        raise ModelError(f"{spec}: a classifier needs >= 2 classes; got {num_classes}")
    nc = num_classes or 10
    if name == "tiny_cnn":
        return zoo.tiny_cnn(input_size or 16, nc, seed=seed)
    if name == "resnet8":
        return zoo.resnet8(input_size or 32, nc, seed=seed)
    if name in ("mbv2-w0.35", "mbv2"):
        return zoo.mobilenet_v2(0.35, input_size or 128, nc, seed=seed)
    if name in ("proxyless-w0.3", "proxyless"):
        return zoo.proxyless_nas(0.3, input_size or 128, nc, seed=seed)
    raise ModelError(f"unknown zoo model {name!r}; known: {', '.join('zoo:' + z for z in ZOO)}")
