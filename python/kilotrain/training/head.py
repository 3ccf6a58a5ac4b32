"""Graph edits for transfer learning: a fresh classifier head on a pretrained backbone."""

from __future__ import annotations

import copy

import numpy as np

from kilotrain.model.ir import Graph, Tensor
from kilotrain.model.params import ConvParams, FullyConnectedParams, ReshapeParams
from kilotrain.model.quantize import conv_multipliers, fc_multipliers, softmax_params
from kilotrain.reference import executor
from kilotrain.training.scheme import classifier_op

#: The least range of a fresh classifier's int8 logits, ``[-LOGIT_RANGE, LOGIT_RANGE]``: the
#: untrained head's logits are small, and a range fitted to them caps what training can reach (a
#: range of 3.8 wide holds a 2-way probability at 0.978 at best, a loss of 0.022 that every
#: trained image then shares, docs/accuracy.md); 8 lets a 2-way head reach 1 - 1e-7.
LOGIT_RANGE = 8.0


def new_head(graph: Graph, num_classes: int, calib_x: np.ndarray, seed: int = 0) -> Graph:
    """A copy of ``graph`` whose classifier is replaced by a fresh ``num_classes``-way one
    (transfer learning on a pretrained backbone): same kind (FC or 1x1 conv) and input, seeded
    He-normal weights quantized per channel, zero bias, the logits' range the float logits of
    ``calib_x`` (int8 inputs) widened to at least ``±LOGIT_RANGE``; the RESHAPE/SOFTMAX after it
    are resized."""

    g = copy.deepcopy(graph)
    cls = classifier_op(g)
    xt = g.tensors[cls.inputs[0]]
    cin = xt.shape[-1]
    rng = np.random.default_rng(seed)
    wf = rng.normal(0.0, np.sqrt(2.0 / cin), (num_classes, cin))
    feats = []
    for x in calib_x:
        _, env = executor.run(graph, x, return_all=True)
        feats.append((env[cls.inputs[0]].astype(np.float64).reshape(-1, cin) - xt.zp) * xt.s)
    zf = np.concatenate(feats) @ wf.T
    lo, hi = min(float(zf.min()), -LOGIT_RANGE), max(float(zf.max()), LOGIT_RANGE)
    s_z = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(np.round(-128 - lo / s_z), -128, 127))
    amax = np.maximum(np.abs(wf).max(axis=1), 1e-12)
    sw = (amax / 127.0).astype(np.float32)
    wq = np.clip(np.round(wf / sw.astype(np.float64)[:, None]), -127, 127).astype(np.int8)
    wt, bt, yt = g.tensors[cls.inputs[1]], g.tensors[cls.inputs[2]], g.tensors[cls.outputs[0]]
    wshape = (num_classes, *tuple(wt.shape[1:]))
    g.tensors[cls.inputs[1]] = Tensor(
        wt.name, wshape, "int8", sw, np.zeros(num_classes, np.int64), 0, wq.reshape(wshape)
    )
    g.tensors[cls.inputs[2]] = Tensor(
        bt.name,
        (num_classes,),
        "int32",
        (xt.s * sw).astype(np.float32),
        np.zeros(num_classes, np.int64),
        0,
        np.zeros(num_classes, np.int32),
    )
    g.tensors[cls.outputs[0]] = Tensor(
        yt.name, (*tuple(yt.shape[:-1]), num_classes), "int8", np.array([s_z], np.float32), np.array([zp], np.int64)
    )
    if cls.kind == "FULLY_CONNECTED":
        m, sh = fc_multipliers(xt.s, sw, s_z)
        cls.params = FullyConnectedParams(input_offset=-xt.zp, output_offset=zp, multiplier=m, shift=sh)
    else:
        m, sh = conv_multipliers(xt.s, sw, s_z, num_classes)
        p = cls.params
        cls.params = ConvParams(p.stride, p.padding, p.dilation, -xt.zp, zp, m, sh, -128, 127)
        cls.activation = "NONE"
    producer = {o: op for op in g.ops for o in op.outputs}
    for op in g.ops:
        if op.kind in ("RESHAPE", "SOFTMAX") and producer.get(op.inputs[0]) is not None:
            src = g.tensors[op.inputs[0]]
            t = g.tensors[op.outputs[0]]
            if int(np.prod(t.shape)) != int(np.prod(src.shape)):
                g.tensors[op.outputs[0]] = Tensor(
                    t.name, (*tuple(t.shape[:-1]), num_classes), t.dtype, t.scale, t.zero_point, t.quantized_dimension
                )
            if op.kind == "RESHAPE":
                op.params = ReshapeParams(shape=g.tensors[op.outputs[0]].shape)
            else:
                g.tensors[op.outputs[0]] = Tensor(t.name, g.tensors[op.inputs[0]].shape, t.dtype, t.scale, t.zero_point)
                op.params = softmax_params(g.tensors[op.inputs[0]].s)
    g.name = f"{graph.name}+head{num_classes}"
    return g
