"""Run a :class:`kilotrain.model.ir.Graph` on one input with a pluggable kernel engine.

The engine is any module (or object) exposing the golden op names and signatures —
``conv2d, depthwise_conv2d, fully_connected, add, avg_pool, mean, pad, transpose, softmax`` —
by default :mod:`kilotrain.reference`; ``kilotrain.kernels.forward`` can be passed instead. RESHAPE is a
view change done here. :data:`DISPATCH` maps each op kind to the adapter calling the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kilotrain import reference as golden
from kilotrain.model.ir import Graph, ModelError, Op

Env = dict[int, np.ndarray]


class ForwardKernels(Protocol):
    """The forward ops the executor calls, with the golden signatures: :mod:`kilotrain.reference`
    (numpy, the definition) or :mod:`kilotrain.kernels.forward` (the C kernels on the host)."""

    conv2d: Callable[..., Any]
    depthwise_conv2d: Callable[..., Any]
    fully_connected: Callable[..., Any]
    add: Callable[..., Any]
    avg_pool: Callable[..., Any]
    mean: Callable[..., Any]
    pad: Callable[..., Any]
    transpose: Callable[..., Any]
    softmax: Callable[..., Any]


Adapter = Callable[[Graph, Op, Env, Any], np.ndarray]


def _get(env: Env, graph: Graph, t: int) -> np.ndarray:
    if t < 0:
        raise KeyError(t)
    if t in env:
        return env[t]
    data = graph.tensors[t].data
    if data is None:
        raise ModelError(f"tensor {t} '{graph.tensors[t].name}' is read before it is computed")
    return data


def _opt(env: Env, graph: Graph, t: int) -> np.ndarray | None:
    return None if t < 0 else _get(env, graph, t)


def _out_shape(graph: Graph, op: Op) -> tuple[int, ...]:
    return graph.tensors[op.outputs[0]].shape


def _conv(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    oh, ow = _out_shape(graph, op)[1:3]
    return eng.conv2d(
        _get(env, graph, op.inputs[0]),
        _get(env, graph, op.inputs[1]),
        _opt(env, graph, op.inputs[2]),
        op.params,
        (oh, ow),
    )


def _dwconv(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    oh, ow = _out_shape(graph, op)[1:3]
    return eng.depthwise_conv2d(
        _get(env, graph, op.inputs[0]),
        _get(env, graph, op.inputs[1]),
        _opt(env, graph, op.inputs[2]),
        op.params,
        (oh, ow),
    )


def _fc(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    w = _get(env, graph, op.inputs[1])
    x = _get(env, graph, op.inputs[0]).reshape(-1, w.shape[1])
    y = eng.fully_connected(x, w, _opt(env, graph, op.inputs[2]), op.params)
    return y.reshape(_out_shape(graph, op))


def _add(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    return eng.add(_get(env, graph, op.inputs[0]), _get(env, graph, op.inputs[1]), op.params)


def _avg_pool(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    oh, ow = _out_shape(graph, op)[1:3]
    return eng.avg_pool(_get(env, graph, op.inputs[0]), op.params, (oh, ow))


def _mean(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    return eng.mean(_get(env, graph, op.inputs[0]), op.params).reshape(_out_shape(graph, op))


def _pad(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    return eng.pad(_get(env, graph, op.inputs[0]), op.params)


def _transpose(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    return eng.transpose(_get(env, graph, op.inputs[0]), op.params)


def _softmax(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    return eng.softmax(_get(env, graph, op.inputs[0]), op.params)


def _reshape(graph: Graph, op: Op, env: Env, eng: Any) -> np.ndarray:
    return _get(env, graph, op.inputs[0]).reshape(_out_shape(graph, op))


#: op kind -> adapter(graph, op, env, engine) returning the op's output.
DISPATCH: dict[str, Adapter] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _dwconv,
    "FULLY_CONNECTED": _fc,
    "ADD": _add,
    "AVERAGE_POOL_2D": _avg_pool,
    "MEAN": _mean,
    "PAD": _pad,
    "PADV2": _pad,
    "TRANSPOSE": _transpose,
    "SOFTMAX": _softmax,
    "RESHAPE": _reshape,
}


def check_input(graph: Graph, x: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """The graph input as int8 of the input tensor's shape (a missing batch dim of 1 is added).
    Raises ValueError naming the expected shape and dtype otherwise."""
    t = graph.input
    a = np.asarray(x)
    if a.dtype != np.int8:
        raise ValueError(f"model input must be int8 with shape {list(t.shape)}; got {a.dtype} {list(a.shape)}")
    if a.shape != t.shape:
        if len(t.shape) >= 1 and t.shape[0] == 1 and a.shape == t.shape[1:]:
            a = a.reshape(t.shape)
        else:
            raise ValueError(f"model input must be int8 with shape {list(t.shape)}; got {a.dtype} {list(a.shape)}")
    return a


def run(
    graph: Graph,
    x: npt.ArrayLike,
    ops_module: ForwardKernels = golden,
    *,
    return_all: bool = False,
) -> npt.NDArray[np.int8] | tuple[npt.NDArray[np.int8], dict[int, npt.NDArray[np.int8]]]:
    """Run ``graph`` on one int8 input with the kernels of ``ops_module``.

    Returns the (first) output, or ``(output, tensors)`` with ``return_all=True`` where
    ``tensors`` maps every computed tensor id (including the input) to its int8 value.
    """
    env: Env = {graph.inputs[0]: check_input(graph, x)}
    for op in graph.ops:
        fn = DISPATCH.get(op.kind)
        if fn is None:
            raise ModelError(f"op {op.index} ({op.kind}): no executor for this op kind")
        y = np.asarray(fn(graph, op, env, ops_module))
        want = _out_shape(graph, op)
        if y.shape != want:
            y = y.reshape(want)
        env[op.outputs[0]] = y
    out = env[graph.outputs[0]]
    if return_all:
        return out, env
    return out
