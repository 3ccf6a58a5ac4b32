"""The generated training step (the same kt_train.c the firmware runs) compiled for the host:
C == golden, bit for bit, over 200 steps on a real model with real data and on random nets."""

from __future__ import annotations

import numpy as np
import pytest

from kilotrain.data import datasets
from kilotrain.device.host import HostTrainer
from kilotrain.model import zoo
from kilotrain.model.ir import Graph
from kilotrain.model.tflite import load_tflite
from kilotrain.paths import data_file
from kilotrain.training import plan as train_plan
from kilotrain.training import scheme
from kilotrain.training import step as train_golden


def _run(graph: Graph, spec: object, xs: np.ndarray, ys: np.ndarray, steps: int, lr: float = 0.01) -> None:
    plan = train_plan.build_plan(graph, scheme.resolve(spec, graph), lr)
    host = HostTrainer(plan)
    state = train_golden.init_state(plan)
    try:
        assert host.params_sha256() == train_golden.params_sha256(state)
        for i in range(steps):
            x, y = xs[i % len(xs)], int(ys[i % len(ys)])
            got = host.step(x, y, chunk=None if i % 2 else 2044)  # as the serial frames cut it, or whole
            ref = train_golden.step(plan, state, x, y)
            assert got == (ref.p_label, ref.prediction, ref.saturations), f"step {i}"
        assert host.params_sha256() == train_golden.params_sha256(state)
        assert train_golden.params_sha256(state) != train_golden.params_sha256(train_golden.init_state(plan))
    finally:
        host.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        "bias-only",
        {"n_bias_update": 6, "weight_layers": [26, 24], "ratios": [0.25, 0.125]},
    ],
)
def test_person_detect_lfw_200_steps(spec: object) -> None:
    graph = load_tflite(data_file("person_detection/person_detect.tflite"))
    ds = datasets.load("lfw", graph.input, seed=0)
    _run(graph, spec, ds.x_train, ds.y_train, steps=200)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_random_tiny_nets_200_steps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.choice([8, 12, 16]))
    classes = int(rng.integers(2, 6))
    graph = zoo.tiny_cnn(size, classes, channels=int(rng.choice([4, 8])), seed=seed)
    n_layers = len(scheme.scheme_layers(graph))
    layers = sorted(rng.choice(n_layers, size=2, replace=False).tolist())
    spec = {
        "n_bias_update": int(rng.integers(1, n_layers + 1)),
        "weight_layers": layers,
        "ratios": [float(rng.choice([0.125, 0.25, 0.5, 1.0])) for _ in layers],
    }
    xs = rng.integers(-128, 128, (40, *graph.input.shape[1:]), dtype=np.int8)
    ys = rng.integers(0, classes, 40)
    _run(graph, spec, xs, ys, steps=200, lr=float(rng.choice([0.005, 0.02, 0.1])))
