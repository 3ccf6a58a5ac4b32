"""A fully convolutional model at another input resolution: the same weights and quantisation,
every activation shape and convolution padding recomputed from the new input (TFLite's SAME or
VALID rule, whichever the layer used at its original size).

This is how a large pretrained model becomes an MCU-sized starting point (docs/accuracy.md: the
ImageNet MobileNetV2 at 96 px): its spatial layers do not depend on the resolution, and global
pooling (MEAN, or an average pool covering the whole map) hands the classifier the same width.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from kilotrain.model.geometry import compute_out_size, compute_padding
from kilotrain.model.ir import Graph, ModelError, Tensor

#: Op kinds whose output shape follows from their input here; anything else is refused.
RESIZABLE = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "AVERAGE_POOL_2D",
    "PAD",
    "PADV2",
    "TRANSPOSE",
    "ADD",
    "MEAN",
    "RESHAPE",
    "FULLY_CONNECTED",
    "SOFTMAX",
)


def _mode(h0: int, k: int, s: int, d: int, out0: int) -> str:
    """SAME or VALID: the rule that gave ``out0`` from ``h0`` at the original size."""
    return "SAME" if compute_out_size("SAME", h0, k, s, d) == out0 else "VALID"


def with_input_size(graph: Graph, size: int) -> Graph:
    """A copy of ``graph`` whose input is ``size`` x ``size``; ModelError (one line) for an op this
    cannot resize, a map that vanishes, or a classifier input that would change width."""
    if size < 1:
        raise ModelError(f"input size must be >= 1 pixel; got {size}")
    g = copy.deepcopy(graph)
    x = g.input
    if len(x.shape) != 4:
        raise ModelError(f"{graph.name or 'model'}: a rank-{len(x.shape)} input cannot be resized")
    nchw = x.shape[1] in (1, 3) and x.shape[3] not in (1, 3)
    new_in = (x.shape[0], x.shape[1], size, size) if nchw else (x.shape[0], size, size, x.shape[3])
    shapes: dict[int, tuple[int, ...]] = {g.inputs[0]: new_in}

    def shape_of(t: int) -> tuple[int, ...]:
        return shapes.get(t, g.tensors[t].shape)

    for op in g.ops:
        if op.kind not in RESIZABLE:
            raise ModelError(
                f"{graph.name or 'model'}: cannot change the input size through {op.kind} (op #{op.index})"
            )
        x0, y0 = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        xs = shape_of(op.inputs[0])
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
            p = op.params
            if op.kind == "AVERAGE_POOL_2D":
                kernel, dil = p.filter, (1, 1)
                if tuple(kernel) == tuple(x0[1:3]):  # a global pool stays global
                    kernel = tuple(xs[1:3])
            else:
                kernel, dil = tuple(g.tensors[op.inputs[1]].shape[1:3]), p.dilation
            outs, pads = [], []
            for ax, (k, s, d) in enumerate(zip(kernel, p.stride, dil)):
                k0 = p.filter[ax] if op.kind == "AVERAGE_POOL_2D" else k
                o = compute_out_size(_mode(x0[1 + ax], k0, s, d, y0[1 + ax]), xs[1 + ax], k, s, d)
                if o < 1:
                    raise ModelError(f"input {size} px: op #{op.index} {op.kind} would have an empty output")
                outs.append(o)
                pads.append(compute_padding(s, d, xs[1 + ax], k, o))
            changes: dict[str, object] = {"padding": tuple(pads)}
            if op.kind == "AVERAGE_POOL_2D":
                changes["filter"] = tuple(kernel)
            op.params = dataclasses.replace(p, **changes)
            y: tuple[int, ...] = (xs[0], outs[0], outs[1], y0[3])
        elif op.kind in ("PAD", "PADV2"):
            y = tuple(d + a + b for d, (a, b) in zip(xs, op.params.paddings))
        elif op.kind == "TRANSPOSE":
            y = tuple(xs[i] for i in op.params.perm)
        elif op.kind in ("ADD", "SOFTMAX"):
            y = xs
        elif op.kind == "MEAN":
            y = y0 if len(y0) != 4 else (xs[0], 1, 1, xs[3])
        elif op.kind == "RESHAPE":
            if int(np.prod(xs)) != int(np.prod(y0)):
                raise ModelError(
                    f"input {size} px: RESHAPE (op #{op.index}) of {list(xs)} to {list(y0)}; only "
                    "resolution-independent reshapes (after global pooling) can be resized"
                )
            y = y0
        else:  # FULLY_CONNECTED
            if int(np.prod(xs)) != int(np.prod(x0)):
                raise ModelError(f"input {size} px: the classifier's input would change from {list(x0)} to {list(xs)}")
            y = y0
        shapes[op.outputs[0]] = tuple(int(v) for v in y)
    for t, shp in shapes.items():
        old = g.tensors[t]
        g.tensors[t] = Tensor(old.name, shp, old.dtype, old.scale, old.zero_point, old.quantized_dimension, old.data)
    g.name = f"{graph.name or 'model'}-r{size}"
    return g
