"""kilotrain's own model file (.ktm, model/irfile.py): a graph read back computes the same thing
(same digest, same outputs), and a file that is not one is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kilotrain import cli
from kilotrain.model import zoo
from kilotrain.model.ir import ModelError
from kilotrain.model.irfile import load_graph, save_graph
from kilotrain.model.load import load_model
from kilotrain.paths import data_file
from kilotrain.reference import executor


@pytest.mark.parametrize("spec", ["zoo:tiny_cnn", "zoo:resnet8", "person_detection/person_detect.tflite"])
def test_round_trip_keeps_the_model(spec: str, tmp_path: Path) -> None:
    graph = load_model(spec if spec.startswith("zoo:") else data_file(spec))
    path = save_graph(graph, tmp_path / "m")
    back = load_model(path)
    assert path.suffix == ".ktm" and back.digest() == graph.digest()
    assert [op.kind for op in back.ops] == [op.kind for op in graph.ops] and back.name == graph.name
    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape).astype(np.int8)
    np.testing.assert_array_equal(executor.run(back, x)[0], executor.run(graph, x)[0])


def test_a_changed_weight_changes_the_digest(tmp_path: Path) -> None:
    graph = zoo.tiny_cnn(16, 4)
    w = graph.tensors[graph.ops[0].inputs[1]]
    assert w.data is not None
    w.data = w.data.copy()
    w.data.flat[0] ^= 1
    assert load_graph(save_graph(graph, tmp_path / "m")).digest() != zoo.tiny_cnn(16, 4).digest()


def test_bad_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ModelError, match="no such file"):
        load_graph(tmp_path / "none.ktm")
    junk = tmp_path / "junk.ktm"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"junk.ktm: not a \.ktm file"):
        load_graph(junk)
    newer = tmp_path / "newer.ktm"
    doc = json.dumps({"format": "kilotrain model", "version": 99}).encode()
    with open(newer, "wb") as f:  # a file object: np.savez would append .npz to a name
        np.savez(f, **{"graph.json": np.frombuffer(doc, np.uint8)})
    with pytest.raises(ModelError, match="of version 99; this kilotrain reads 1"):
        load_graph(newer)
    assert cli.main(["plan", str(junk), "--scheme", "last-layer"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: ") and "junk.ktm: not a .ktm file" in err and "\n" not in err
