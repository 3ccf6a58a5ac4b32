"""Python-built zoo models: structure, and golden == TFLite Micro after writing them as .tflite."""

from __future__ import annotations

import numpy as np
import pytest
from golden_testutil import graph_to_tflite, tflm_run

from kilotrain.model import zoo
from kilotrain.model.tflite import read_tflite
from kilotrain.reference import executor


def _bit_exact_with_tflm(g, seed: int = 0) -> None:  # type: ignore[no-untyped-def]
    model = graph_to_tflite(g)
    x = np.random.default_rng(seed).integers(-128, 128, g.input.shape).astype(np.int8)
    ref, it = tflm_run(model, x)
    out, env = executor.run(g, x, return_all=True)
    np.testing.assert_array_equal(out, ref)
    for op in g.ops:
        t = op.outputs[0]
        np.testing.assert_array_equal(env[t], it.GetTensor(t, 0)["tensor_data"].reshape(env[t].shape), err_msg=op.kind)
    # and re-importing the written file gives the same parameters
    g2 = read_tflite(model)
    for a, b in zip(g.ops, g2.ops):
        assert a.kind == b.kind and repr(a.params) == repr(b.params)


def test_tiny_cnn_bit_exact_with_tflm() -> None:
    g = zoo.tiny_cnn()
    assert [op.kind for op in g.ops].count("ADD") == 1 and len(g.conv_layers()) == 5
    for seed in range(3):
        _bit_exact_with_tflm(g, seed)


@pytest.mark.parametrize("size", [48, 64])
def test_mobilenet_v2_w035_bit_exact_with_tflm(size: int) -> None:
    g = zoo.mobilenet_v2(0.35, size, num_classes=10)
    assert len(g.conv_layers()) == 52 and g.conv_layers()[0].conv_index == 0
    assert g.conv_layers()[0].kind == "CONV_2D" and g.tensors[g.conv_layers()[0].outputs[0]].shape == (
        1,
        size // 2,
        size // 2,
        16,
    )
    _bit_exact_with_tflm(g)


def test_proxyless_w03_bit_exact_with_tflm() -> None:
    g = zoo.proxyless_nas(0.3, 64, num_classes=10)
    kinds = [op.kind for op in g.ops]
    assert kinds.count("ADD") > 5 and len(g.conv_layers()) == 61
    _bit_exact_with_tflm(g)


def test_zoo_is_deterministic_and_tracks_float() -> None:
    g1, g2 = zoo.mobilenet_v2(0.35, 64, 10, seed=3), zoo.mobilenet_v2(0.35, 64, 10, seed=3)
    for a, b in zip(g1.tensors, g2.tensors):
        if a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)
    # weights are symmetric int8 in [-127, 127] with per-channel scales
    w = g1.tensors[g1.conv_layers()[0].inputs[1]]
    assert w.data.min() >= -127 and w.data.max() <= 127 and w.scale.size == w.shape[0]
