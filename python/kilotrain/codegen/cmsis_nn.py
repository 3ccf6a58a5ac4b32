"""The CMSIS-NN comparison program: a model's forward layers run through Arm's CMSIS-NN s8
kernels on the emulated Cortex-M7, counted by the same instruction counter as kilotrain's own
forward (docs/benchmarks.md, "kilotrain against CMSIS-NN").

:func:`cmsis_layers` maps each CONV_2D, DEPTHWISE_CONV_2D, ADD and FULLY_CONNECTED op to the
arguments of its CMSIS-NN call (``arm_convolve_wrapper_s8``, ``arm_depthwise_conv_wrapper_s8``,
``arm_elementwise_add_s8``, ``arm_fully_connected_s8``): its shapes, strides, paddings, offsets,
activation range, per-channel multipliers and shifts are the model's. Other ops (MEAN, pooling,
SOFTMAX, RESHAPE, ...) are not timed and are listed as skipped. :func:`render` writes the
firmware test that times every call (a jinja2 template; generated into the build tree, never
committed). The filter and activation values are not the model's: CMSIS-NN's s8 kernels take no
value-dependent path, so the count depends on the shapes only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kilotrain import __version__
from kilotrain.codegen.emit import c_values, dims4, template_env
from kilotrain.model.ir import Graph
from kilotrain.model.params import AddParams, ConvParams, DepthwiseConvParams, FullyConnectedParams

#: The CMSIS-NN sources the program compiles (paths inside a CMSIS-NN checkout): the s8 convolution,
#: depthwise, elementwise-add and fully-connected wrappers and every kernel they dispatch to.
CMSIS_NN_SOURCES = (
    "Source/BasicMathFunctions/arm_elementwise_add_s8.c",
    "Source/ConvolutionFunctions/arm_convolve_1_x_n_s8.c",
    "Source/ConvolutionFunctions/arm_convolve_1x1_s8.c",
    "Source/ConvolutionFunctions/arm_convolve_1x1_s8_fast.c",
    "Source/ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
    "Source/ConvolutionFunctions/arm_convolve_s8.c",
    "Source/ConvolutionFunctions/arm_convolve_wrapper_s8.c",
    "Source/ConvolutionFunctions/arm_depthwise_conv_3x3_s8.c",
    "Source/ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
    "Source/ConvolutionFunctions/arm_depthwise_conv_s8.c",
    "Source/ConvolutionFunctions/arm_depthwise_conv_s8_opt.c",
    "Source/ConvolutionFunctions/arm_depthwise_conv_wrapper_s8.c",
    "Source/ConvolutionFunctions/arm_nn_depthwise_conv_s8_core.c",
    "Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
    "Source/ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "Source/ConvolutionFunctions/arm_nn_mat_mult_s8.c",
    "Source/FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
    "Source/FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c",
    "Source/FullyConnectedFunctions/arm_fully_connected_s8.c",
    "Source/FullyConnectedFunctions/arm_fully_connected_wrapper_s8.c",
    "Source/FullyConnectedFunctions/arm_vector_sum_s8.c",
    "Source/FullyConnectedFunctions/arm_vector_sum_s8_s64.c",
    "Source/NNSupportFunctions/arm_nn_depthwise_conv_nt_t_padded_s8.c",
    "Source/NNSupportFunctions/arm_nn_depthwise_conv_nt_t_s8.c",
    "Source/NNSupportFunctions/arm_nn_mat_mul_core_1x_s8.c",
    "Source/NNSupportFunctions/arm_nn_mat_mul_core_4x_s8.c",
    "Source/NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c",
    "Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c",
    "Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c",
    "Source/NNSupportFunctions/arm_q7_to_q15_with_offset.c",
    "Source/NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c",
)

#: The layer kinds of the program's table (the C enum's order).
KINDS = ("conv", "depthwise", "add", "fully_connected")
#: Activations share one buffer of at most this many bytes (an input and output that do not fit
#: side by side overlap: the count does not depend on the values).
MAX_ACTIVATION_BYTES = 240_000
#: The emulated board's SRAM the program shares out (qemu_mps2_an500.ld: 320 KB) and what it keeps
#: for the stack, the test harness and the biases: CMSIS-NN's scratch gets the rest, up to 64 KB.
PROGRAM_SRAM_BYTES = 320 * 1024
RESERVED_SRAM_BYTES = 24 * 1024
MAX_SCRATCH_BYTES = 64 * 1024
#: The program's line for one timed layer and its closing total.
LAYER_PREFIX = "kt-cmsis-nn layer"
TOTAL_PREFIX = "kt-cmsis-nn total"


@dataclass(frozen=True)
class CmsisLayer:
    """One timed CMSIS-NN call: the op it stands for and the arguments it gets."""

    op: int
    kind: str  # one of KINDS
    input: tuple[int, int, int]  # (h, w, c)
    output: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    quant: int  # first index of the layer's multipliers and shifts in the program's tables
    add: AddParams | None = None

    @property
    def input_bytes(self) -> int:
        return int(np.prod(self.input))

    @property
    def output_bytes(self) -> int:
        return int(np.prod(self.output))


def cmsis_layers(graph: Graph) -> tuple[list[CmsisLayer], list[int], list[int], list[str]]:
    """The timed layers, the concatenated per-channel multipliers and shifts they index, and one
    ``"op <i> <KIND>"`` for each op that is not timed."""
    layers: list[CmsisLayer] = []
    mults: list[int] = []
    shifts: list[int] = []
    skipped: list[str] = []
    for i, op in enumerate(graph.ops):
        p = op.params
        out = dims4(graph.tensors[op.outputs[0]].shape)[1:]
        inp = dims4(graph.tensors[op.inputs[0]].shape)[1:]
        if isinstance(p, (ConvParams, DepthwiseConvParams, FullyConnectedParams)):
            w = graph.tensors[op.inputs[1]].shape
            quant = len(mults)
            mults += [int(v) for v in p.multiplier]
            shifts += [int(v) for v in p.shift]
            if isinstance(p, FullyConnectedParams):
                kind, kernel, stride, padding = "fully_connected", (1, 1), (1, 1), (0, 0)
                inp, out = (1, 1, int(w[1])), (1, 1, int(w[0]))
            else:
                kind = "conv" if isinstance(p, ConvParams) else "depthwise"
                kernel, stride, padding = (int(w[1]), int(w[2])), p.stride, p.padding
            layers.append(
                CmsisLayer(
                    i,
                    kind,
                    inp,
                    out,
                    kernel,
                    stride,
                    padding,
                    p.input_offset,
                    p.output_offset,
                    p.act_min,
                    p.act_max,
                    quant,
                )
            )
        elif isinstance(p, AddParams):
            n = int(np.prod(out))
            layers.append(
                CmsisLayer(
                    i,
                    "add",
                    (1, 1, n),
                    (1, 1, n),
                    (1, 1),
                    (1, 1),
                    (0, 0),
                    p.input1_offset,
                    p.output_offset,
                    p.act_min,
                    p.act_max,
                    0,
                    p,
                )
            )
        else:
            skipped.append(f"op {i} {op.kind}")
    return layers, mults, shifts, skipped


def render(graph: Graph, source_name: str) -> str:
    """The firmware test (test_main.c) that times each of :func:`cmsis_layers`' calls."""
    layers, mults, shifts, skipped = cmsis_layers(graph)
    largest = max((max(L.input_bytes, L.output_bytes) for L in layers), default=1)
    if largest > MAX_ACTIVATION_BYTES:
        raise ValueError(
            f"{source_name}: an activation of {largest} bytes exceeds the CMSIS-NN program's {MAX_ACTIVATION_BYTES}"
        )
    buffer_bytes = min(max(L.input_bytes + L.output_bytes for L in layers), MAX_ACTIVATION_BYTES) if layers else 1
    scratch = min(MAX_SCRATCH_BYTES, PROGRAM_SRAM_BYTES - RESERVED_SRAM_BYTES - buffer_bytes - 4 * len(mults))
    weights = max(
        (int(np.prod(graph.tensors[graph.ops[L.op].inputs[1]].shape)) for L in layers if L.kind != "add"), default=1
    )
    return (
        template_env()
        .get_template("cmsis_nn_bench.c.j2")
        .render(
            version=__version__,
            source=source_name,
            layers=layers,
            kinds=KINDS,
            mults=c_values(mults or [0]),
            shifts=c_values(shifts or [0]),
            n_quant=max(len(mults), 1),
            skipped=skipped,
            buffer_bytes=buffer_bytes,
            scratch_bytes=scratch,
            weight_bytes=weights,
            layer_prefix=LAYER_PREFIX,
            total_prefix=TOTAL_PREFIX,
        )
    )


def parse_output(text: str, layers: list[CmsisLayer]) -> dict[int, int]:
    """Instructions per op from the program's output; ValueError unless every layer and the total
    are there and add up."""
    counts: dict[int, int] = {}
    total = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(LAYER_PREFIX):
            _, _, op, n = line.split()
            counts[int(op)] = int(n)
        elif line.startswith(TOTAL_PREFIX):
            total = int(line.split()[-1])
    missing = [L.op for L in layers if L.op not in counts]
    if missing or total is None:
        raise ValueError(f"the CMSIS-NN program did not report op(s) {missing or 'total'}")
    if sum(counts.values()) != total:
        raise ValueError(f"the CMSIS-NN program's layers sum to {sum(counts.values())}, its total says {total}")
    return counts
