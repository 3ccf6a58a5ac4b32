"""Small training plans that exercise every part of the training step (residual ADD with its
gradient fan-out, depthwise convolution, partial-channel weight updates, biases, the classifier)
while running in milliseconds: the fault-injection soak and the firmware fuzzer train them."""

from __future__ import annotations

from kilotrain.model import zoo
from kilotrain.training import plan as train_plan
from kilotrain.training import scheme

#: The mixed scheme of the tiny CNN: biases of the last 5 conv layers, weights of layers 1, 2, 4.
TINY_MIXED_SCHEME = {"n_bias_update": 5, "weight_layers": [1, 2, 4], "ratios": [0.5, 0.25, 1.0]}


def tiny_mixed_plan() -> train_plan.TrainPlan:
    """zoo:tiny_cnn (16 x 16 x 1, 4 classes, seed 1) under :data:`TINY_MIXED_SCHEME`, lr 0.01."""
    graph = zoo.tiny_cnn(16, 4, seed=1)
    return train_plan.build_plan(graph, scheme.resolve(TINY_MIXED_SCHEME, graph), 0.01)
