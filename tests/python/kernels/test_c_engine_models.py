"""Whole models through the C kernels: every intermediate tensor of the C engine
(``executor.run(graph, x, ckernels)``) equals the golden model's, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from kilotrain import paths
from kilotrain.kernels import forward as ckernels
from kilotrain.model.tflite import load_tflite
from kilotrain.reference import executor

MODELS = [
    "person_detection/person_detect.tflite",
    "mobilenet_v2_imagenet/mobilenet_v2_quantized_1x3x224x224.tflite",
]


@pytest.mark.parametrize("rel", MODELS, ids=lambda r: r.split("/")[0])
def test_c_engine_equals_golden_on_every_tensor(rel: str) -> None:
    try:
        path = paths.data_file(rel)
    except paths.DataNotFound as e:
        pytest.skip(str(e))
    graph = load_tflite(path)
    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape).astype(np.int8)
    _, want = executor.run(graph, x, return_all=True)
    _, got = executor.run(graph, x, ckernels, return_all=True)
    assert want.keys() == got.keys()
    differing = [graph.tensors[t].name for t in want if not np.array_equal(want[t], got[t])]
    assert not differing, f"C differs from golden on {differing}"
