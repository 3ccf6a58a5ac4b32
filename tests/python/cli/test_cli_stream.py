"""``kilotrain stream`` and ``kilotrain verify`` as a user runs them: frames from a data set or a
folder sent to the emulated board (over a TCP UART or a real pseudo-terminal through pyserial's
``Serial``), trained on the device, and the report replayed bit for bit through the golden model;
every bad input one line, with nothing changed on the device."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kilotrain import cli
from kilotrain.data import datasets
from kilotrain.device.boards import QemuBoard, open_serial
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.jobs.compile import ModelSpec, plan_for
from kilotrain.jobs.stream import report_digest
from kilotrain.paths import data_file

pytestmark = pytest.mark.qemu

PERSON = str(data_file("person_detection/person_detect.tflite"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("kilotrain: error: "), err
    for n in needles:
        assert n in lines[0], lines[0]


def test_stream_person_detect_on_lfw_trains_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qemu_elf: Path
) -> None:
    """The issue's run: 100 LFW frames train person_detect's last layer inside the emulated M7;
    held-out accuracy rises; verify replays all 200 frames bit-exact; an edited report is refused."""
    report = tmp_path / "run.json"
    argv = ["stream", "--qemu", "--model", PERSON, "--scheme", "last-layer", "--dataset", "lfw", "--train"]
    code, out, err = _run(capsys, *argv, "--frames", "100", "--report", str(report), "--plot", str(tmp_path / "r.png"))
    assert code == 0, err
    r = json.loads(report.read_text())
    s = r["summary"]
    assert s["train"]["steps"] == 100 and r["device"]["steps_done"] == 100
    assert s["eval_after"]["accuracy"] > s["eval_before"]["accuracy"], s
    assert s["eval_before"]["frames"] == s["eval_after"]["frames"] == 50
    assert r["device"]["board"] == "qemu_mps2_an500"
    assert s["instructions_per_step_mean"] > s["instructions_per_inference_mean"] > 10_000_000
    assert "held-out accuracy after" in out and "instructions per training step (mean)" in out
    assert (tmp_path / "r.png").stat().st_size > 10_000
    assert (tmp_path / "run.frames.npz").exists()

    code, out, err = _run(capsys, "verify", str(report))
    assert code == 0 and out.startswith("OK: 200 frames replayed (100 training steps)"), out + err
    assert r["params_sha256"] in out

    # an edited report (one label changed) is refused in one line
    edited = json.loads(report.read_text())
    k = next(i for i, rec in enumerate(edited["records"]) if rec["phase"] == "train")
    edited["records"][k]["label"] = 1 - edited["records"][k]["label"]
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(edited))
    (tmp_path / "edited.frames.npz").write_bytes((tmp_path / "run.frames.npz").read_bytes())
    code, out, err = _run(capsys, "verify", str(bad))
    assert code == 2
    _one_line_error(err, "edited.json was changed after the run")
    # ... and when its digest is forged too, the replay finds where the device's run differs
    edited["report_sha256"] = report_digest(edited)
    bad.write_text(json.dumps(edited))
    code, out, err = _run(capsys, "verify", str(bad))
    assert code == 1 and out.startswith("DIFFERENT: parameters: op "), out + err
    assert f"record {k} (train)" in out
    # frames that are not the report's
    with np.load(tmp_path / "run.frames.npz") as z:
        frames, params = z["frames"].copy(), z["params"]
    frames[0, 0, 0, 0] ^= 1
    np.savez_compressed(tmp_path / "run.frames.npz", frames=frames, params=params)
    code, out, err = _run(capsys, "verify", str(report))
    assert code == 2
    _one_line_error(err, "run.frames.npz: frame of record")


def test_stream_through_a_real_tty_and_a_device_running_another_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qemu_elf: Path
) -> None:
    """--port on QEMU's pseudo-terminal (pyserial's Serial, as /dev/ttyACM0); checkpoints written
    while training survive a reset; a host that expects another plan is refused before any frame,
    and a second --train without --fresh too: the device keeps what it learned."""
    spec = ModelSpec(PERSON, "last-layer", dataset="lfw")
    _, plan = plan_for(spec)
    image = build_with_training(plan, "person_detect.tflite")
    with QemuBoard(image.elf, icount=False, pty=True) as board:
        board.device.close()  # the stream command opens the port itself
        report = tmp_path / "tty.json"
        common = ["stream", "--port", board.pty_path, "--baud", "115200", "--model", PERSON, "--dataset", "lfw"]
        code, out, err = _run(
            capsys,
            *common,
            *("--scheme", "last-layer", "--frames", "12", "--eval-frames", "6", "--checkpoint-every", "5"),
            *("--report", str(report)),
        )
        assert code == 0, err
        r = json.loads(report.read_text())
        assert r["link"] == {"port": board.pty_path, "baud": 115200} and r["device"]["steps_done"] == 12
        assert [(c["seq"], c["steps"], c["slot"]) for c in r["summary"]["checkpoints"]] == [
            (1, 5, 0),
            (2, 10, 1),
            (3, 12, 0),
        ]
        assert "3 checkpoints written; the last: #3 at step 12, slot 0" in out
        code, out, err = _run(capsys, "verify", str(report))
        assert code == 0 and out.startswith("OK: 24 frames replayed (12 training steps)"), out + err

        # the host expects the bias-only plan of the same model: refused, nothing sent
        code, out, err = _run(capsys, *common, "--scheme", "bias-only", "--frames", "5")
        assert code == 2
        _one_line_error(err, f"the device on {board.pty_path} runs person_detect.tflite with another training plan")
        # ... or another model altogether
        code, out, err = _run(capsys, *common, "--model", "zoo:tiny_cnn", "--frames", "5")
        assert code == 2
        _one_line_error(err, f"the device on {board.pty_path} runs model ", "not zoo:tiny_cnn")
        with open_serial(board.pty_path) as dev:
            client = TrainClient(dev)
            assert client.steps_done == 12 and client.params_sha256() == r["params_sha256"]
            t = client.reset()  # a restart restores the newest checkpoint
            assert (t.steps_done, t.checkpoint_seq, t.checkpoint_steps) == (12, 3, 12)
            assert client.params_sha256() == r["params_sha256"]
        # --train again would start from the flashed parameters: refused unless --fresh
        code, out, err = _run(capsys, *common, "--scheme", "last-layer", "--frames", "5")
        assert code == 2
        _one_line_error(err, "holds checkpoint 3 (step 12)", "--fresh")
        # --eval leaves the parameters as found and its report verifies from the pulled ones
        code, out, err = _run(
            capsys,
            *common,
            "--scheme",
            "last-layer",
            "--eval",
            "--eval-frames",
            "5",
            "--report",
            str(tmp_path / "e.json"),
        )
        assert code == 0, err
        e = json.loads((tmp_path / "e.json").read_text())
        assert e["start"] == "as found" and e["steps_found"] == 12 and e["params_sha256"] == r["params_sha256"]
        code, out, err = _run(capsys, "verify", str(tmp_path / "e.json"))
        assert code == 0 and out.startswith("OK: 5 frames replayed (0 training steps)"), out + err
        # --fresh erases the checkpoints and trains from the flashed parameters
        code, out, err = _run(
            capsys, *common, "--scheme", "last-layer", "--fresh", "--frames", "3", "--eval-frames", "2", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["device"]["steps_done"] == 3
        with open_serial(board.pty_path) as dev:
            assert TrainClient(dev).train_info().checkpoint_seq == 0


def _write_folder(root: Path) -> Path:
    """Two classes of digit images (0 and 1 from scikit-learn), as PNG, JPEG and BMP files."""
    imgs, y, _ = datasets.raw("digits")
    for label, name in ((0, "zero"), (1, "one")):
        (root / name).mkdir(parents=True)
        for i, k in enumerate(np.flatnonzero(y == label)[:14]):
            img = Image.fromarray(imgs[k]).resize((32, 32), Image.Resampling.NEAREST)
            img.save(root / name / f"{i:02d}.{('png', 'jpg', 'bmp')[i % 3]}")
    return root


def test_stream_a_folder_of_images_trains_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qemu_elf: Path
) -> None:
    folder = _write_folder(tmp_path / "images")
    report = tmp_path / "folder.json"
    argv = ["stream", "--qemu", "--model", "zoo:tiny_cnn", "--scheme", "last-layer", "--folder", str(folder)]
    code, out, err = _run(capsys, *argv, "--frames", "40", "--lr-shift", "2", "--report", str(report))
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["class_names"][:2] == ["one", "zero"] and r["lr_shift"] == 2
    assert r["summary"]["eval_before"]["frames"] == 8 and r["device"]["steps_done"] == 40
    assert {rec["label"] for rec in r["records"]} == {0, 1}
    code, out, err = _run(capsys, "verify", str(report))
    assert code == 0 and out.startswith("OK: 56 frames replayed (40 training steps)"), out + err


def test_bad_inputs_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every refusal happens before a frame reaches a device."""
    monkeypatch.setenv("KILOTRAIN_BUILD", str(tmp_path / "build"))
    base = ["stream", "--model", PERSON, "--scheme", "last-layer"]
    # a folder with no class sub-folders
    (tmp_path / "flat").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "flat" / "a.png")
    code, _, err = _run(capsys, *base, "--qemu", "--folder", str(tmp_path / "flat"))
    assert code == 2
    _one_line_error(err, "no class sub-folders")
    # an unreadable image
    bad = tmp_path / "broken"
    (bad / "cat").mkdir(parents=True)
    (bad / "dog").mkdir()
    Image.new("L", (8, 8)).save(bad / "cat" / "a.png")
    (bad / "dog" / "b.png").write_bytes(b"not a png")
    code, _, err = _run(capsys, *base, "--qemu", "--folder", str(bad))
    assert code == 2
    _one_line_error(err, "cannot read image", "b.png")
    # a port that does not exist
    code, _, err = _run(capsys, *base, "--port", "/dev/ttyKT-nothing", "--dataset", "lfw")
    assert code == 2
    _one_line_error(err, "cannot open serial port /dev/ttyKT-nothing")
    # a port where nothing answers (a pseudo-terminal nobody serves)
    master, slave = os.openpty()
    try:
        code, _, err = _run(capsys, *base, "--port", os.ttyname(slave), "--dataset", "lfw", "--timeout", "1")
    finally:
        os.close(master)
        os.close(slave)
    assert code == 2
    _one_line_error(err, "does not answer", "115200 baud")
    # no model named and nothing compiled
    code, _, err = _run(capsys, "stream", "--qemu", "--dataset", "lfw")
    assert code == 2
    _one_line_error(err, "no compiled model at", "kilotrain compile")
    # a report that is not one
    (tmp_path / "x.json").write_text("{")
    code, _, err = _run(capsys, "verify", str(tmp_path / "x.json"))
    assert code == 2
    _one_line_error(err, "x.json is not a kilotrain report")
    code, _, err = _run(capsys, "verify", str(tmp_path / "missing.json"))
    assert code == 2
    _one_line_error(err, "cannot read the report")


class _FakeCapture:
    """A stand-in for OpenCV's VideoCapture: camera 0 gives BGR frames of a moving gradient."""

    def __init__(self, index: int) -> None:
        self.index, self.n = index, 0

    def isOpened(self) -> bool:  # OpenCV's name
        return self.index == 0

    def read(self) -> tuple[bool, np.ndarray]:
        self.n += 1
        yy, xx = np.mgrid[0:48, 0:64]
        img = ((xx * 4 + yy * 2 + 37 * self.n) % 256).astype(np.uint8)
        return True, np.stack([img, 255 - img, img // 2], axis=-1)

    def release(self) -> None:
        pass


def test_stream_camera_frames_train_and_infer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, qemu_elf: Path
) -> None:
    """--camera with a fixed --label trains, --infer returns logits; both reports verify. OpenCV is
    an optional extra: a stand-in module plays the camera here."""
    import types

    base = ["stream", "--qemu", "--model", "zoo:tiny_cnn", "--scheme", "last-layer", "--camera"]
    monkeypatch.setitem(sys.modules, "cv2", None)  # not installed: one line naming the extra
    code, _, err = _run(capsys, *base, "0", "--label", "1", "--frames", "3")
    assert code == 2
    _one_line_error(err, "pip install 'kilotrain[camera]'")
    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(VideoCapture=_FakeCapture))
    code, _, err = _run(capsys, *base, "3", "--label", "1", "--frames", "3")
    assert code == 2
    _one_line_error(err, "--camera 3: OpenCV cannot open camera 3")

    code, out, err = _run(capsys, *base, "0", "--label", "1", "--frames", "6", "--report", str(tmp_path / "cam.json"))
    assert code == 0, err
    r = json.loads((tmp_path / "cam.json").read_text())
    assert [rec["label"] for rec in r["records"]] == [1] * 6 and r["device"]["steps_done"] == 6
    assert len({rec["sha256"] for rec in r["records"]}) == 6  # six different frames
    code, out, err = _run(capsys, "verify", str(tmp_path / "cam.json"))
    assert code == 0 and out.startswith("OK: 6 frames replayed (6 training steps)"), out + err

    code, out, err = _run(capsys, *base, "0", "--infer", "--frames", "3", "--report", str(tmp_path / "inf.json"))
    assert code == 0, err
    r = json.loads((tmp_path / "inf.json").read_text())
    assert [rec["phase"] for rec in r["records"]] == ["infer"] * 3 and len(r["records"][0]["answer"]["logits"]) == 10
    assert r["start"] == "as found" and "predictions:" in out
    code, out, err = _run(capsys, "verify", str(tmp_path / "inf.json"))
    assert code == 0 and out.startswith("OK: 3 frames replayed (0 training steps)"), out + err
