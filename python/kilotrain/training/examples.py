"""Small training plans that exercise every part of the training step (residual ADD with its
gradient fan-out, depthwise convolution, partial-channel weight updates, biases, the classifier)
while running in milliseconds: the fault-injection soak and the firmware fuzzer train them."""

from __future__ import annotations

import copy
from typing import Any

from kilotrain.model import zoo
from kilotrain.model.ir import Graph, Op, Tensor
from kilotrain.model.params import AvgPoolParams, PadParams, ReshapeParams, TransposeParams
from kilotrain.training import plan as train_plan
from kilotrain.training import scheme

#: The mixed scheme of the tiny CNN: biases of the last 5 conv layers, weights of layers 1, 2, 4.
TINY_MIXED_SCHEME = {"n_bias_update": 5, "weight_layers": [1, 2, 4], "ratios": [0.5, 0.25, 1.0]}


def tiny_mixed_plan() -> train_plan.TrainPlan:
    """zoo:tiny_cnn (16 x 16 x 1, 4 classes, seed 1) under :data:`TINY_MIXED_SCHEME`, lr 0.01."""
    graph = zoo.tiny_cnn(16, 4, seed=1)
    return train_plan.build_plan(graph, scheme.resolve(TINY_MIXED_SCHEME, graph), 0.01)


def every_op_graph(seed: int = 1) -> Graph:
    """zoo:tiny_cnn (16 x 16 x 1, 4 classes) with a chain of the ops that only move or pool values
    between its residual ADD and the 1x1 conv after it, each pair giving the ADD's shape back:
    PAD (one pixel each side) + AVERAGE_POOL_2D 3x3 valid, PADV2 (bottom-right) +
    AVERAGE_POOL_2D 2x2 valid, TRANSPOSE (H <-> W) twice, RESHAPE. Under a scheme that trains a
    bias before the ADD, every op kind of the capability table that has a backward
    (:mod:`kilotrain.model.ops`) sits on the backward path."""
    g = copy.deepcopy(zoo.tiny_cnn(16, 4, seed=seed))
    pos = next(i for i, op in enumerate(g.ops) if op.kind == "ADD")
    src = g.tensors[g.ops[pos].outputs[0]]
    n, h, w, c = src.shape
    zp = src.zp
    chain: list[tuple[str, Any, tuple[int, ...]]] = [
        ("PAD", PadParams(((0, 0), (1, 1), (1, 1), (0, 0)), zp), (n, h + 2, w + 2, c)),
        ("AVERAGE_POOL_2D", AvgPoolParams((3, 3), (1, 1), (0, 0)), src.shape),
        ("PADV2", PadParams(((0, 0), (0, 1), (0, 1), (0, 0)), zp), (n, h + 1, w + 1, c)),
        ("AVERAGE_POOL_2D", AvgPoolParams((2, 2), (1, 1), (0, 0)), src.shape),
        ("TRANSPOSE", TransposeParams((0, 2, 1, 3)), (n, w, h, c)),
        ("TRANSPOSE", TransposeParams((0, 2, 1, 3)), src.shape),
        ("RESHAPE", ReshapeParams(src.shape), src.shape),
    ]
    prev = g.ops[pos].outputs[0]
    new_ops = []
    for k, (kind, params, shape) in enumerate(chain):
        g.tensors.append(Tensor(f"{kind.lower()}{k}", shape, "int8", src.scale, src.zero_point))
        out = len(g.tensors) - 1
        new_ops.append(Op(kind, [prev], [out], params, index=len(g.ops) + k))
        prev = out
    g.ops[pos + 1].inputs[0] = prev
    g.ops[pos + 1 : pos + 1] = new_ops
    g.name = "every-op"
    return g
