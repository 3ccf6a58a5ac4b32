"""The ARMv7E-M DSP fast paths (default on the Cortex-M7) against the portable C and the golden
model, on the emulated board: random chains of CONV_2D (small-filter stems, 1x1, 3x3 with odd
channel counts, strides, padding, dilation) and DEPTHWISE_CONV_2D (channel counts not a multiple of 4, depth multipliers
1 and 2, 3x3 and 5x5, strides 1 and 2) with random per-channel requantization, every output byte
equal. The real models (person_detect, MobileNetV2 training) are checked in
test_model_on_qemu.py and test_train_on_qemu.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kilotrain.device.boards import QemuBoard
from kilotrain.device.firmware import ModelClient, build_with_model
from kilotrain.model import geometry
from kilotrain.model.ir import Graph, Op, Tensor
from kilotrain.model.params import ConvParams, DepthwiseConvParams
from kilotrain.reference import executor

pytestmark = pytest.mark.qemu


def _quant(rng: np.random.Generator, n: int, short: bool) -> tuple[np.ndarray, np.ndarray]:
    """Random per-channel requantization: Q31 multipliers in [2^30, 2^31), shifts -12 .. 1, or
    -12 .. -2 with ``short`` (every channel in the output stage's short form, as real layers are:
    the paths that need all of a layer's channels short, e.g. the small-filter matrix product)."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, n, dtype=np.int64).astype(np.int32)
    return mult, rng.integers(-12, -1 if short else 2, n).astype(np.int32)


def random_chain(seed: int) -> Graph:
    """x -> CONV kxk (a stem) -> DW -> CONV 1x1 -> DW (dm 2) -> CONV 1x1 -> CONV 3x3, shapes drawn
    from ``seed``."""
    rng = np.random.default_rng(seed)
    one = np.ones(1, np.float32)
    h = w = int(rng.integers(7, 14))
    k0 = int(rng.choice([3, 5]))
    c = 1 if k0 == 5 else int(rng.integers(1, 4))  # a stem: the small-filter path (K <= 32)
    tensors = [Tensor("x", (1, h, w, c), "int8", one * 0.02, np.array([int(rng.integers(-20, 20))]))]
    ops: list[Op] = []

    def add_tensor(name: str, shape: tuple[int, ...], data: np.ndarray | None = None) -> int:
        dtype = "int32" if name.startswith("b") else "int8"
        zp = np.array([int(rng.integers(-10, 10))]) if data is None else np.zeros(1, np.int64)
        tensors.append(Tensor(name, shape, dtype, one * 0.05, zp, 0, data))
        return len(tensors) - 1

    def layer(depthwise: bool, k: int, stride: int, dil: int, cout: int, dm: int = 1) -> None:
        nonlocal h, w, c
        x = len(tensors) - 1
        pad_mode = "SAME" if rng.random() < 0.7 or min(h, w) <= (k - 1) * dil else "VALID"
        oh = geometry.compute_out_size(pad_mode, h, k, stride, dil)
        ow = geometry.compute_out_size(pad_mode, w, k, stride, dil)
        pad = (geometry.compute_padding(stride, dil, h, k, oh), geometry.compute_padding(stride, dil, w, k, ow))
        i = len(ops)
        if depthwise:
            cout = c * dm
            wt = add_tensor(f"w{i}", (1, k, k, cout), rng.integers(-127, 128, (1, k, k, cout), dtype=np.int8))
        else:
            wt = add_tensor(f"w{i}", (cout, k, k, c), rng.integers(-127, 128, (cout, k, k, c), dtype=np.int8))
        bt = add_tensor(f"b{i}", (cout,), rng.integers(-3000, 3000, cout, dtype=np.int32))
        yt = add_tensor(f"y{i}", (1, oh, ow, cout))
        in_off = -int(tensors[x].zero_point[0])
        out_off = int(tensors[yt].zero_point[0])
        mult, shift = _quant(rng, cout, short)
        common: dict[str, Any] = {
            "stride": (stride, stride),
            "padding": pad,
            "dilation": (dil, dil),
            "input_offset": in_off,
        }
        if depthwise:
            p: object = DepthwiseConvParams(
                **common, depth_multiplier=dm, output_offset=out_off, multiplier=mult, shift=shift
            )
            ops.append(Op("DEPTHWISE_CONV_2D", [x, wt, bt], [yt], p, index=i, conv_index=i))
        else:
            p = ConvParams(**common, output_offset=out_off, multiplier=mult, shift=shift, act_min=act_min)
            ops.append(Op("CONV_2D", [x, wt, bt], [yt], p, index=i, conv_index=i))
        h, w, c = oh, ow, cout

    short = seed % 5 == 2  # seeds 2, 7, 12 and 17; an even stem width there (the matrix-product path)
    # seeds 7 and 12: the whole int8 range as the clamp too, so every CONV_2D runs from a packed filter
    act_min = -128 if seed in (7, 12) else -100
    stem_cout = int(rng.integers(5, 19))
    layer(False, k0, int(rng.integers(1, 3)), 1, stem_cout - stem_cout % 2 if short else stem_cout)
    layer(True, int(rng.choice([3, 5])), int(rng.integers(1, 3)), int(rng.choice([1, 1, 2])), 0)
    layer(False, 1, 1, 1, int(rng.integers(3, 24)))
    layer(True, 3, int(rng.integers(1, 3)), 1, 0, dm=2)
    layer(False, 1, 1, 1, int(rng.integers(4, 12)))
    layer(False, 3, 1, int(rng.choice([1, 2])), int(rng.integers(2, 7)))  # K >= 36: the general path
    return Graph(tensors, ops, [0], [len(tensors) - 1], name=f"chain{seed}")


# 17, 31: dilation 2 (5x5 stride 2, 3x3 stride 1); 7, 12: packed filters (kt_conv2d_packed_s8)
@pytest.mark.parametrize("seed", [1, 2, 3, 7, 12, 17, 31])
def test_dsp_paths_equal_portable_and_golden_on_random_chains(seed: int) -> None:
    graph = random_chain(seed)
    rng = np.random.default_rng(100 + seed)
    xs = [rng.integers(-128, 128, graph.input.shape, dtype=np.int8) for _ in range(3)]
    outputs: dict[str, list[np.ndarray]] = {}
    for name, flags in (("dsp", ()), ("portable", ("-DKT_USE_DSP=0",))):
        image = build_with_model(graph, f"chain{seed}.tflite", build_flags=flags)
        with QemuBoard(image.elf) as board:
            client = ModelClient(board.device)
            runs = [client.invoke(x) for x in xs]
        assert all(r.status == 0 for r in runs)
        outputs[name] = [r.output for r in runs]
    for i, x in enumerate(xs):
        golden = np.asarray(executor.run(graph, x)).reshape(-1)
        np.testing.assert_array_equal(outputs["portable"][i], golden, err_msg=f"portable, input {i}")
        np.testing.assert_array_equal(outputs["dsp"][i], golden, err_msg=f"DSP, input {i}")
