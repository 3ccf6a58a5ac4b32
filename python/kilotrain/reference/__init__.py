"""The numpy golden model of TFLite int8 inference: one module per op, bit-exact with TFLite
Micro's reference kernels. These names are the forward kernel interface the executor dispatches
on (:class:`kilotrain.reference.executor.ForwardKernels`); another engine (e.g.
``kilotrain.kernels.forward``) exposes the same names and signatures. The backward ops are
gathered in :mod:`kilotrain.reference.backward`."""

from __future__ import annotations

from kilotrain.reference.add import add
from kilotrain.reference.avg_pool import avg_pool
from kilotrain.reference.conv2d import conv2d
from kilotrain.reference.depthwise_conv2d import depthwise_conv2d
from kilotrain.reference.fully_connected import fully_connected
from kilotrain.reference.mean import mean
from kilotrain.reference.pad import pad
from kilotrain.reference.softmax import softmax
from kilotrain.reference.transpose import transpose

__all__ = ["add", "avg_pool", "conv2d", "depthwise_conv2d", "fully_connected", "mean", "pad", "softmax", "transpose"]
