"""The numpy golden model of TFLite int8 inference: one module per op, bit-exact with TFLite
Micro's reference kernels. These names are the engine interface the executor dispatches on;
another engine (e.g. ``kilotrain.kernels.forward``) exposes the same names and signatures."""

from __future__ import annotations

from kilotrain.reference.add import add
from kilotrain.reference.avg_pool import avg_pool
from kilotrain.reference.fully_connected import fully_connected
from kilotrain.reference.mean import mean
from kilotrain.reference.pad import pad
from kilotrain.reference.softmax import softmax
from kilotrain.reference.transpose import transpose

from .conv2d import conv2d
from .depthwise_conv2d import depthwise_conv2d

__all__ = [
    "add",
    "avg_pool",
    "conv2d",
    "depthwise_conv2d",
    "fully_connected",
    "mean",
    "pad",
    "softmax",
    "transpose",
]
