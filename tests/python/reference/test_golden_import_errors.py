"""Bad input gives one clear ModelError / InputError naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from golden_testutil import ModelBuilder
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

from kilotrain import paths
from kilotrain.data import images
from kilotrain.model.ir import ModelError
from kilotrain.model.tflite import load_tflite, read_tflite
from kilotrain.reference import executor

PERSON = paths.data_file("person_detection/person_detect.tflite")


@pytest.mark.parametrize("keep", [8, 100, 1000, 150_000, -1000, -10])
def test_truncated_file(keep: int) -> None:
    buf = PERSON.read_bytes()
    with pytest.raises(ModelError, match="truncated or corrupt TFLite file"):
        read_tflite(buf[:keep])


@pytest.mark.parametrize(
    "data", [b"", b"TFL3", b"hello, this is not a model at all", b"\x89PNG\r\n\x1a\n" + bytes(100)]
)
def test_not_a_tflite_file(data: bytes) -> None:
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        read_tflite(data)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read model"):
        load_tflite(tmp_path / "nope.tflite")


def _one_op(code: int, in_dtype: str = "int8", opt_type: int = 0, opt: object = None) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), in_dtype, scale=None if in_dtype == "float32" else 0.1, zp=0)
    y = b.tensor((1, 4, 4, 2), scale=0.1, zp=0)
    b.op(code, [x], [y], opt_type, opt)
    return b.build([x], [y])


def test_unsupported_op_is_named() -> None:
    with pytest.raises(ModelError) as e:
        read_tflite(_one_op(fb.BuiltinOperator.LOGISTIC))
    msg = str(e.value)
    assert "op 0 (LOGISTIC)" in msg and "unsupported operator" in msg and "CONV_2D" in msg


def test_patched_opcode_in_real_model() -> None:
    """person_detect with its AVERAGE_POOL_2D opcode patched to MAX_POOL_2D."""
    m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(PERSON.read_bytes(), 0))
    for oc in m.operatorCodes:
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == fb.BuiltinOperator.AVERAGE_POOL_2D:
            oc.builtinCode = oc.deprecatedBuiltinCode = fb.BuiltinOperator.MAX_POOL_2D
    b = flatbuffers.Builder(1 << 20)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match=r"op 27 \(MAX_POOL_2D\): unsupported operator"):
        read_tflite(bytes(b.Output()))


def test_float32_tensor_is_named() -> None:
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), "float32", name="float_input")
    w = b.tensor((3, 1, 1, 2), scale=[0.1, 0.1, 0.1], data=np.ones((3, 1, 1, 2), np.int8))
    y = b.tensor((1, 4, 4, 3), scale=0.1, zp=0)
    o = fb.Conv2DOptionsT()
    o.strideH = o.strideW = 1
    b.op(fb.BuiltinOperator.CONV_2D, [x, w, -1], [y], fb.BuiltinOptions.Conv2DOptions, o)
    with pytest.raises(ModelError) as e:
        read_tflite(b.build([x], [y]))
    msg = str(e.value)
    assert "op 0 (CONV_2D)" in msg and "'float_input'" in msg and "FLOAT32" in msg and "INT8" in msg


def test_asymmetric_weights_rejected() -> None:
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), scale=0.1, zp=0)
    w = b.tensor((3, 1, 1, 2), scale=[0.1] * 3, zp=[0, 1, 0], data=np.ones((3, 1, 1, 2), np.int8), name="w")
    y = b.tensor((1, 4, 4, 3), scale=0.1, zp=0)
    o = fb.Conv2DOptionsT()
    o.strideH = o.strideW = 1
    b.op(fb.BuiltinOperator.CONV_2D, [x, w, -1], [y], fb.BuiltinOptions.Conv2DOptions, o)
    with pytest.raises(ModelError, match=r"op 0 \(CONV_2D\): weights tensor 1 'w'.*symmetric"):
        read_tflite(b.build([x], [y]))


def test_wrong_input_shape_or_dtype() -> None:
    g = load_tflite(PERSON)
    with pytest.raises(ValueError, match=r"int8 with shape \[1, 96, 96, 1\]"):
        executor.run(g, np.zeros((1, 96, 96, 1), np.uint8))
    with pytest.raises(ValueError, match=r"int8 with shape \[1, 96, 96, 1\]"):
        executor.run(g, np.zeros((1, 48, 48, 1), np.int8))


def test_images_npy_rules(tmp_path: Path) -> None:
    g = load_tflite(PERSON)
    ok = np.arange(96 * 96, dtype=np.int64).astype(np.int8).reshape(96, 96, 1)
    np.save(tmp_path / "ok.npy", ok)
    x = images.load_input(tmp_path / "ok.npy", g.input)
    assert x.shape == (1, 96, 96, 1) and np.array_equal(x[0], ok)
    np.save(tmp_path / "bad.npy", ok.astype(np.float32))
    with pytest.raises(images.InputError, match=r"expected an int8 tensor of shape \[1, 96, 96, 1\]; got float32"):
        images.load_input(tmp_path / "bad.npy", g.input)
    np.save(tmp_path / "bad2.npy", ok[:50])
    with pytest.raises(images.InputError, match=r"got int8 \[50, 96, 1\]"):
        images.load_input(tmp_path / "bad2.npy", g.input)
    with pytest.raises(images.InputError, match="cannot read image"):
        (tmp_path / "x.bmp").write_bytes(b"garbage")
        images.load_input(tmp_path / "x.bmp", g.input)


def test_images_grayscale_rule_reinterprets_bytes() -> None:
    g = load_tflite(PERSON)
    img = np.array([[0, 1, 127, 128, 200, 255]] * 96, np.uint8)
    img = np.tile(img, (1, 16))
    x = images.load_input(img, g.input)
    assert x[0, 0, :6, 0].tolist() == [0, 1, 127, -128, -56, -1]
