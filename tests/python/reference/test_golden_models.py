"""Whole real models: golden == TFLite Micro on every output byte and every intermediate tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from kilotrain import paths
from kilotrain.data import images
from kilotrain.model.tflite import load_tflite
from kilotrain.reference import executor, quant

PERSON = "person_detection/person_detect.tflite"
MOBILENET = "mobilenet_v2_imagenet/mobilenet_v2_quantized_1x3x224x224.tflite"


def _data(rel: str) -> Path:
    try:
        return paths.data_file(rel)
    except paths.DataNotFound as e:
        pytest.skip(str(e))


def _interp(path: Path) -> runtime.Interpreter:
    return runtime.Interpreter.from_file(
        str(path),
        arena_size=max(path.stat().st_size * 12, 4 << 20),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )


def _compare_all(graph, it, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Run both engines; assert the output and every op's output tensor are byte-identical."""
    it.set_input(x, 0)
    it.invoke()
    ref = it.get_output(0)
    out, env = executor.run(graph, x, return_all=True)
    np.testing.assert_array_equal(out, ref)
    checked = 0
    for op in graph.ops:
        t = op.outputs[0]
        tflm = it.GetTensor(t, 0)["tensor_data"]
        np.testing.assert_array_equal(env[t], tflm.reshape(env[t].shape), err_msg=f"op {op.index} {op.kind}")
        checked += 1
    assert checked == len(graph.ops)
    return out


@pytest.fixture(scope="module")
def person():  # type: ignore[no-untyped-def]
    p = _data(PERSON)
    return load_tflite(p), _interp(p), p


@pytest.mark.parametrize("frame,want", [("person.bmp", [-113, 113]), ("no_person.bmp", [57, -57])])
def test_person_detect_frames_bit_exact(person, frame: str, want: list[int]) -> None:  # type: ignore[no-untyped-def]
    g, it, p = person
    x = images.load_input(p.parent / frame, g.input)
    out = _compare_all(g, it, x)
    assert out.reshape(-1).tolist() == want


@pytest.mark.parametrize("seed", range(6))
def test_person_detect_random_frames_bit_exact(person, seed: int) -> None:  # type: ignore[no-untyped-def]
    g, it, _ = person
    rng = np.random.default_rng(seed)
    if seed % 2:
        x = rng.integers(-128, 128, g.input.shape).astype(np.int8)
    else:  # smooth random image through the uint8 -> int8 rule
        img = (rng.random((12, 12)) * 255).astype(np.uint8)
        img = np.kron(img, np.ones((8, 8), np.uint8))
        x = images.load_input(img, g.input, rule="grayscale_bytes")
    _compare_all(g, it, x)


def test_person_detect_structure(person) -> None:  # type: ignore[no-untyped-def]
    g, _, _ = person
    kinds = [op.kind for op in g.ops]
    assert kinds.count("DEPTHWISE_CONV_2D") == 14 and kinds.count("CONV_2D") == 14
    assert kinds[-3:] == ["CONV_2D", "RESHAPE", "SOFTMAX"]
    convs = g.conv_layers()
    assert [op.conv_index for op in convs] == list(range(28))
    assert convs[0] is g.ops[0]  # the stem


def test_single_rounding_is_not_tflm(person, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """TFLM uses double rounding: swapping in single rounding breaks bit-exactness somewhere."""
    g, it, p = person
    x = images.load_input(p.parent / "person.bmp", g.input)
    it.set_input(x, 0)
    it.invoke()
    monkeypatch.setattr(quant, "multiply_by_quantized_multiplier", quant.multiply_by_quantized_multiplier_single)
    _, env = executor.run(g, x, return_all=True)
    diffs = sum(
        int(
            np.count_nonzero(
                env[op.outputs[0]] != it.GetTensor(op.outputs[0], 0)["tensor_data"].reshape(env[op.outputs[0]].shape)
            )
        )
        for op in g.ops
    )
    assert diffs > 0


# ----------------------------------------------------------------------------- MobileNetV2

README_TOP5 = {
    "chelsea": [285, 282, 281, 287, 728],
    "coffee": [967, 968, 925, 809, 504],
    "rocket": [682, 657],
}


@pytest.fixture(scope="module")
def mobilenet():  # type: ignore[no-untyped-def]
    p = _data(MOBILENET)
    return load_tflite(p), _interp(p)


@pytest.mark.slow
@pytest.mark.parametrize("photo", ["chelsea", "coffee", "rocket"])
def test_mobilenet_v2_photos_bit_exact(mobilenet, photo: str) -> None:  # type: ignore[no-untyped-def]
    skdata = pytest.importorskip("skimage.data")
    g, it = mobilenet
    x = images.load_input(getattr(skdata, photo)(), g.input, rule="imagenet")
    out = _compare_all(g, it, x).reshape(-1).astype(int)
    want = README_TOP5[photo]
    top = np.argsort(-out, kind="stable")[: len(want)].tolist()
    assert top == want


def test_mobilenet_v2_structure(mobilenet) -> None:  # type: ignore[no-untyped-def]
    g, _ = mobilenet
    kinds = [op.kind for op in g.ops]
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert counts == {
        "TRANSPOSE": 1,
        "PAD": 18,
        "CONV_2D": 35,
        "DEPTHWISE_CONV_2D": 17,
        "ADD": 10,
        "MEAN": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
    }
    assert g.input.shape == (1, 3, 224, 224) and g.output.shape == (1, 1000)
    assert len(g.conv_layers()) == 52 and g.conv_layers()[0].kind == "CONV_2D"
