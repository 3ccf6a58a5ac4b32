"""`kilotrain infer` as a user runs it: every engine prints the same int8 output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kilotrain import cli
from kilotrain.paths import DataNotFound, data_file

PERSON = data_file("person_detection/person_detect.tflite")


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert cli.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("frame,expected", [("person", [-113, 113]), ("no_person", [57, -57])])
def test_person_detect_golden_and_c(capsys: pytest.CaptureFixture[str], frame: str, expected: list[int]) -> None:
    bmp = str(data_file(f"person_detection/{frame}.bmp"))
    for engine in ("golden", "c"):
        out = run_json(capsys, "infer", str(PERSON), "--image", bmp, "--engine", engine)
        assert out["output"] == expected and out["shape"] == [1, 2] and out["engine"] == engine


@pytest.mark.qemu
def test_person_detect_qemu_reports_instructions_and_sram(capsys: pytest.CaptureFixture[str], qemu_elf: Path) -> None:
    bmp = str(data_file("person_detection/person.bmp"))
    out = run_json(capsys, "infer", str(PERSON), "--image", bmp, "--engine", "qemu")
    assert out["output"] == [-113, 113]
    assert out["instructions"] > 10_000_000
    assert out["peak_sram_bytes"] == out["static_sram_bytes"] + out["stack_high_water_bytes"]
    assert out["arena_bytes"] <= out["static_sram_bytes"] < 320 * 1024
    assert 0 < out["flash_bytes"] < 1024 * 1024


def test_npy_input_is_taken_as_is(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    x = np.random.default_rng(5).integers(-128, 128, (96, 96, 1), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    a = run_json(capsys, "infer", str(PERSON), "--image", str(tmp_path / "x.npy"), "--engine", "golden")
    b = run_json(capsys, "infer", str(PERSON), "--image", str(tmp_path / "x.npy"), "--engine", "c")
    assert a["output"] == b["output"]


@pytest.mark.slow
def test_mobilenet_v2_photo_host_c_top5(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    try:
        model = data_file("mobilenet_v2_imagenet/mobilenet_v2_quantized_1x3x224x224.tflite")
    except DataNotFound as exc:
        pytest.skip(str(exc))
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.png")
    outs = [
        run_json(capsys, "infer", str(model), "--image", str(tmp_path / "chelsea.png"), "--engine", e)
        for e in ("golden", "c")
    ]
    assert outs[0]["output"] == outs[1]["output"]
    logits = np.array(outs[1]["output"])
    top5 = np.argsort(-logits, kind="stable")[:5].tolist()
    assert top5[:3] == [285, 282, 281]  # Egyptian cat, tiger cat, tabby (dataset README)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_bad_inputs_give_one_clear_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bmp = str(data_file("person_detection/person.bmp"))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 10)
    assert cli.main(["infer", str(junk), "--image", bmp]) == 2
    assert "TFLite" in _one_error_line(capsys)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(PERSON.read_bytes()[:5000])
    assert cli.main(["infer", str(truncated), "--image", bmp]) == 2
    assert "truncated or corrupt TFLite file (5000 bytes" in _one_error_line(capsys)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, 3), np.int8))
    assert cli.main(["infer", str(PERSON), "--image", str(wrong)]) == 2
    line = _one_error_line(capsys)
    assert "[1, 96, 96, 1]" in line
    assert cli.main(["infer", str(PERSON), "--image", str(tmp_path / "missing.png")]) == 2
    assert "missing.png" in _one_error_line(capsys)
