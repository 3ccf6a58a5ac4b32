"""The numpy golden backward and update ops under one roof: the backward kernel interface of the
integer training step (:class:`kilotrain.training.step.BackwardKernels`).
``kilotrain.kernels.backward`` exposes the same names for the C kernels."""

from __future__ import annotations

from kilotrain.reference.avg_pool_grad import avg_pool_grad
from kilotrain.reference.conv2d_input_grad import conv2d_input_grad
from kilotrain.reference.conv2d_update import conv2d_update
from kilotrain.reference.depthwise_conv2d_input_grad import depthwise_conv2d_input_grad
from kilotrain.reference.depthwise_conv2d_update import depthwise_conv2d_update
from kilotrain.reference.fully_connected_input_grad import fully_connected_input_grad
from kilotrain.reference.fully_connected_update import fully_connected_update
from kilotrain.reference.grad_rescale import grad_rescale
from kilotrain.reference.grad_sum import grad_sum
from kilotrain.reference.pad_grad import pad_grad
from kilotrain.reference.relu_mask import relu_mask_apply, relu_mask_pack
from kilotrain.reference.softmax_ce_grad import softmax_ce_grad
from kilotrain.reference.transpose_grad import transpose_grad

__all__ = [
    "avg_pool_grad",
    "conv2d_input_grad",
    "conv2d_update",
    "depthwise_conv2d_input_grad",
    "depthwise_conv2d_update",
    "fully_connected_input_grad",
    "fully_connected_update",
    "grad_rescale",
    "grad_sum",
    "pad_grad",
    "relu_mask_apply",
    "relu_mask_pack",
    "softmax_ce_grad",
    "transpose_grad",
]
