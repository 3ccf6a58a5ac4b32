"""Fuzzing the two readers of user files, the TFLite importer and the scheme reader: every
malformed input gives one ModelError / SchemeError line naming the file and what was expected;
never another exception, never a hang, nothing written.

The test command runs a bounded number of examples; the long run is
``KILOTRAIN_FUZZ_EXAMPLES=20000 python -m pytest tests/python/reference/test_import_fuzz.py``
(docs/reliability.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest
from golden_testutil import ModelBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

from kilotrain import cli, paths
from kilotrain.model.ir import ModelError
from kilotrain.model.tflite import read_tflite
from kilotrain.training import scheme as schemes

PERSON = paths.data_file("person_detection/person_detect.tflite").read_bytes()
EXAMPLES = int(os.environ.get("KILOTRAIN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, suppress_health_check=[HealthCheck.too_slow])


def _one_line(msg: str, where: str) -> None:
    assert "\n" not in msg and msg.startswith(f"{where}: "), msg
    assert len(msg) < 400, msg


# the flatbuffer's tables (operators, tensors, options, offsets) sit around the weight buffers:
# aim most mutations at the first and last few KB, some anywhere
_position = st.one_of(
    st.integers(0, 4095), st.integers(len(PERSON) - 16384, len(PERSON) - 1), st.integers(0, len(PERSON) - 1)
)


@FUZZ
@given(
    edits=st.lists(st.tuples(_position, st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, len(PERSON))),
    insert=st.one_of(st.none(), st.tuples(_position, st.binary(min_size=1, max_size=16))),
)
def test_mutated_person_detect_is_read_or_refused_in_one_line(
    edits: list[tuple[int, int]], cut: int | None, insert: tuple[int, bytes] | None
) -> None:
    buf = bytearray(PERSON)
    for pos, value in edits:
        buf[pos] = value
    if insert is not None:
        buf[insert[0] : insert[0]] = insert[1]
    if cut is not None:
        del buf[cut:]
    try:
        read_tflite(bytes(buf), name="mutant", where="mutant.tflite")
    except ModelError as e:
        _one_line(str(e), "mutant.tflite")


def _model(edit: Any = None) -> bytes:
    """A conv model built with the TFLite schema; ``edit(builder, x, w, b, y)`` may corrupt it."""
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), scale=0.1, zp=0)
    w = b.tensor((3, 1, 1, 2), data=np.ones((3, 1, 1, 2), np.int8), scale=0.02, zp=0)
    bias = b.tensor((3,), "int32", data=np.zeros(3, np.int32), scale=0.002, zp=0)
    y = b.tensor((1, 4, 4, 3), scale=0.1, zp=0)
    opt = fb.Conv2DOptionsT()
    opt.strideH = opt.strideW = 1
    ins = [x, w, bias]
    if edit is not None:
        ins = edit(b, ins)
    b.op(fb.BuiltinOperator.CONV_2D, ins, [y], fb.BuiltinOptions.Conv2DOptions, opt)
    return b.build([x], [y])


@pytest.mark.parametrize(
    "edit,says",
    [
        (lambda b, ins: [ins[0], -5, ins[2]], "refers to tensor -5; expected 0..3"),
        (lambda b, ins: [ins[0], ins[1], 99], "refers to tensor 99; expected 0..3"),
    ],
    ids=["negative-tensor-index", "tensor-index-out-of-range"],
)
def test_bad_tensor_indices_name_the_op(edit: Any, says: str) -> None:
    with pytest.raises(ModelError) as e:
        read_tflite(_model(edit), where="bad.tflite")
    _one_line(str(e.value), "bad.tflite")
    assert "op 0 (CONV_2D)" in str(e.value) and says in str(e.value)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, -0.5])
def test_bad_scale_names_the_file_and_tensor(tmp_path: Path, scale: float, capsys: pytest.CaptureFixture[str]) -> None:
    m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(PERSON, 0))
    t = m.subgraphs[0].tensors[3]
    t.quantization.scale = [scale] * len(t.quantization.scale)
    fbb = flatbuffers.Builder(0)
    fbb.Finish(m.Pack(fbb), file_identifier=b"TFL3")
    path = tmp_path / "nan_scale.tflite"
    path.write_bytes(bytes(fbb.Output()))
    code = cli.main(["infer", str(path), "--image", str(paths.data_file("person_detection/person.bmp"))])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"{path}: tensor 3 " in err and "is not a positive finite number" in err


def test_an_options_table_out_of_range_is_one_line() -> None:
    """Point op 0's builtin-options table past the end of the file (its uoffset in the Operator
    table): the options are read while building the op, which used to raise IndexError."""
    buf = bytearray(PERSON)
    model = fb.Model.GetRootAsModel(PERSON, 0)
    op = model.Subgraphs(0).Operators(0)
    field = op._tab.Offset(10)  # Operator.builtin_options (vtable slot 3 -> offset 10)
    assert field
    at = op._tab.Pos + field
    buf[at : at + 4] = (len(buf) * 2).to_bytes(4, "little")
    with pytest.raises(ModelError) as e:
        read_tflite(bytes(buf), where="options.tflite")
    _one_line(str(e.value), "options.tflite")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
_scheme_like = st.fixed_dictionaries(
    {},
    optional={
        "n_bias_update": _json | st.integers(-3, 40),
        "weight_layers": _json | st.lists(st.integers(-3, 40), max_size=6),
        "ratios": _json | st.lists(st.floats(-1, 2) | st.just(float("nan")), max_size=6),
        "name": _json,
    },
)


@FUZZ
@given(doc=st.one_of(_json, _scheme_like), raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_any_scheme_file_is_read_or_refused_in_one_line(tmp_path_factory: Any, doc: Any, raw: bytes | None) -> None:
    from kilotrain.model.tflite import load_tflite

    graph = _graph_cache.get("g") or _graph_cache.setdefault(
        "g", load_tflite(paths.data_file("person_detection/person_detect.tflite"))
    )
    path = tmp_path_factory.mktemp("s") / "fuzzed.json"
    path.write_bytes(raw if raw is not None else json.dumps(doc).encode())
    before = sorted(p.name for p in path.parent.iterdir())
    try:
        s = schemes.resolve(str(path), graph)
        schemes.validate(s, graph)
    except schemes.SchemeError as e:
        msg = str(e)
        assert "\n" not in msg and (str(path) in msg or "scheme" in msg), msg
    assert sorted(p.name for p in path.parent.iterdir()) == before  # nothing written


_graph_cache: dict[str, Any] = {}


def _person_graph() -> Any:
    if "g" not in _graph_cache:
        _graph_cache["g"] = read_tflite(PERSON, name="person_detect")
    return _graph_cache["g"]
