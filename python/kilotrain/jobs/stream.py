"""The job behind ``kilotrain stream``: send frames from a data set, a folder of images or a
camera to a board over its serial port (or to the emulated board), train / evaluate / infer on
the device, and write a report that ``kilotrain verify`` replays through the golden model.

The host first asks the device who it is (INFO): its model and training-plan digests must be the
ones of the model the host expects (``--model``/``--scheme``, else the compiled manifest), or the
job stops with one line before sending a frame. ``--train`` restarts the device (RESET: the
flashed parameters, step 0), evaluates the held-out frames (EVAL), trains (exactly-once
TRAIN_STEPs), evaluates again and pulls the trained parameters. ``--eval`` and ``--infer`` leave
the parameters as they find them.

The report (``--report run.json``) holds the model spec and digests, the device's INFO, every
frame's SHA-256, label, phase and the device's answer, the summary and the pulled parameters'
SHA-256, and a digest of itself; the frames and the pulled parameters go beside it
(``run.frames.npz``), so the run can be replayed without the source (a camera's frames cannot be
taken again). docs/protocol.md describes the commands.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain import __version__, contract
from kilotrain.codegen.model import digest64
from kilotrain.data import datasets, sources
from kilotrain.data.datasets import Dataset
from kilotrain.device import wire
from kilotrain.device.boards import QemuBoard, open_serial
from kilotrain.device.link import Device, DeviceError, DeviceTimeout
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.jobs.compile import ModelSpec, class_names, plan_for, read_manifest
from kilotrain.model.ir import Graph
from kilotrain.training import step as train_golden
from kilotrain.training.plan import TrainPlan

MODES = ("train", "eval", "infer")
#: Training frames of ``--train`` when ``--frames`` is not given.
DEFAULT_TRAIN_FRAMES = 100
#: What a report's frames file is called beside ``run.json``.
FRAMES_SUFFIX = ".frames.npz"
REPORT_FORMAT = 1


class StreamError(ValueError):
    """The stream cannot start or the device refused it; the message is one line."""


@dataclass(frozen=True)
class StreamJob:
    """The flags of ``kilotrain stream``."""

    port: str | None = None  # a serial device (/dev/ttyACM0, a QEMU pty)
    qemu: bool = False  # build the image and boot it on the emulated board instead
    baud: int = 115200
    spec: ModelSpec | None = None  # the model the device must run; None: the compiled manifest
    dataset: str | None = None
    folder: str | None = None
    camera: int | None = None
    label: int | None = None  # camera frames: a fixed label (else the digit typed last)
    mode: str = "train"
    frames: int | None = None  # training (or inference) frames
    eval_frames: int | None = None  # held-out frames per evaluation (default: all)
    seed: int = 0  # split and order
    lr_shift: int = 0  # train at the compiled lr * 2**lr_shift (SET_LR)
    report: Path | None = None
    timeout: float = 20.0
    fresh: bool = False  # --train on a device holding a checkpoint: erase it (else refused)
    checkpoint_every: int | None = None  # --train: CHECKPOINT after every N steps and at the end

    def check(self) -> None:
        """ValueError with one line naming the bad option, before anything is opened."""
        if (self.port is None) == (not self.qemu):
            raise StreamError("give exactly one of --port DEVICE and --qemu")
        kinds = [k for k, v in (("--dataset", self.dataset), ("--folder", self.folder)) if v is not None]
        kinds += ["--camera"] if self.camera is not None else []
        if len(kinds) != 1:
            raise StreamError(f"give exactly one frame source: --dataset NAME, --folder DIR or --camera N; got {kinds}")
        if self.mode not in MODES:
            raise StreamError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.dataset is not None:
            try:
                datasets.parse(self.dataset)
            except datasets.DatasetError as e:
                raise StreamError(f"--dataset: {e}") from None
        if self.camera is not None and self.mode == "eval":
            raise StreamError("--eval needs held-out labelled frames: use --dataset or --folder, not --camera")
        if self.camera is not None and self.frames is None:
            raise StreamError("--camera needs --frames N (how many frames to take)")
        for name, v in (("--frames", self.frames), ("--eval-frames", self.eval_frames)):
            if v is not None and v < 1:
                raise StreamError(f"{name} must be >= 1; got {v}")
        if self.baud < 1:
            raise StreamError(f"--baud must be >= 1; got {self.baud}")
        if self.checkpoint_every is not None and (self.checkpoint_every < 1 or self.mode != "train"):
            raise StreamError(f"--checkpoint-every N needs --train and N >= 1; got {self.checkpoint_every}")
        if not contract.LR_SHIFT_MIN <= self.lr_shift <= contract.LR_SHIFT_MAX:
            raise StreamError(
                f"--lr-shift must be in [{contract.LR_SHIFT_MIN}, {contract.LR_SHIFT_MAX}]; got {self.lr_shift}"
            )
        if self.spec is not None:
            self.spec.check()


def frames_path(report: Path) -> Path:
    """The frames file beside a report: run.json -> run.frames.npz."""
    return report.with_name(report.stem + FRAMES_SUFFIX)


def report_digest(report: dict[str, Any]) -> str:
    """SHA-256 of a report's canonical JSON without its own ``report_sha256``."""
    body = {k: v for k, v in report.items() if k != "report_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def frame_sha256(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.int8).tobytes()).hexdigest()


@dataclass
class _Recorder:
    """The frames and records of one run (frames stored once, by digest)."""

    frames: list[npt.NDArray[np.int8]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, phase: str, x: np.ndarray, label: int | None, answer: dict[str, Any]) -> None:
        sha = frame_sha256(x)
        if sha not in self.index:
            self.index[sha] = len(self.frames)
            self.frames.append(np.ascontiguousarray(x, dtype=np.int8))
        self.records.append({"phase": phase, "frame": self.index[sha], "sha256": sha, "label": label, "answer": answer})


def expected_spec(job: StreamJob) -> tuple[ModelSpec, str]:
    """The model the device must run and where that came from."""
    if job.spec is not None:
        return job.spec, "--model/--scheme"
    m = read_manifest()
    return ModelSpec.from_json(m["spec"], "the compiled manifest"), "the compiled manifest (kilotrain compile)"


def load_source(job: StreamJob, graph: Graph, names: tuple[str, ...]) -> Dataset | None:
    """The labelled frames of a data set or folder, split (None for a camera)."""
    n_out = len(names)
    if job.dataset is not None:
        data = datasets.load(
            job.dataset,
            graph.input,
            seed=job.seed,
            num_classes=n_out if n_out < datasets.num_classes(job.dataset) else None,
        )
    elif job.folder is not None:
        data = sources.folder(Path(job.folder), graph.input, names, seed=job.seed)
    else:
        return None
    if data.num_classes > n_out:
        raise StreamError(f"{data.name}: {data.num_classes} classes, but the model has {n_out} outputs")
    return data


def _check_identity(
    info: Any, spec: ModelSpec, plan: TrainPlan, digests: tuple[str, str], where: str, port: str
) -> None:
    """The device must run the expected model and plan (``digests``: theirs); one line otherwise."""
    if info.protocol_version != wire.PROTOCOL_VERSION:
        raise StreamError(
            f"the device on {port} speaks protocol {info.protocol_version}; this host speaks "
            f"{wire.PROTOCOL_VERSION}: rebuild and flash the firmware with this kilotrain"
        )
    want_model, want_train = digest64(digests[0]), digest64(digests[1])
    if info.model_digest == 0:
        raise StreamError(
            f"the device on {port} runs the firmware without a model; the host expects "
            f"{Path(spec.model).name} (from {where}): compile, build and flash it"
        )
    if info.model_digest != want_model:
        raise StreamError(
            f"the device on {port} runs model {info.model_digest:016x}, not {Path(spec.model).name} "
            f"({want_model:016x}, from {where}): flash the model you mean, or name the one it runs"
        )
    if info.train_digest != want_train:
        raise StreamError(
            f"the device on {port} runs {Path(spec.model).name} with another training plan "
            f"({info.train_digest:016x}, expected {want_train:016x} for scheme {plan.scheme.name}, lr {spec.lr}, "
            f"{spec.rounding} rounding, from {where}): compile and flash that plan, or pass the device's"
        )


def _open(job: StreamJob, plan: TrainPlan, graph: Graph) -> tuple[Device, Any, str]:
    """(device, the board to close or None, a name for messages)."""
    if job.qemu:
        image = build_with_training(plan, f"{graph.name or 'model'}.tflite")
        board = QemuBoard(image.elf, timeout=job.timeout)
        return board.device, board, "the emulated board"
    assert job.port is not None
    return open_serial(job.port, job.baud, timeout=job.timeout), None, job.port


def _hello(device: Device, port: str, baud: int) -> Any:
    """INFO, with one clear line when nothing (or not kilotrain) answers."""
    try:
        return device.info()
    except DeviceTimeout:
        raise StreamError(
            f"{port} does not answer: no INFO answer within {device.timeout:.0f} s at {baud} baud "
            "(is the kilotrain firmware running there, at this baud rate?)"
        ) from None
    except (DeviceError, ValueError) as e:
        raise StreamError(f"{port} answered INFO with something that is not kilotrain's: {e}") from None


def _order(n: int, count: int, seed: int) -> list[int]:
    """``count`` indices into ``n`` frames, a seeded permutation per epoch (as ``kilotrain train``)."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while len(out) < count:
        out.extend(rng.permutation(n).tolist())
    return out[:count]


def _bar(it: Any, total: int, desc: str, progress: bool) -> Any:
    if not progress:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="frame", leave=False)


def _evaluate(
    client: TrainClient, rec: _Recorder, phase: str, xs: np.ndarray, ys: np.ndarray, progress: bool
) -> dict[str, Any]:
    """EVAL every held-out frame (counters restarted at the first); accuracy and mean loss."""
    losses: list[float] = []
    e = None
    bar = _bar(range(len(ys)), len(ys), phase.replace("_", " "), progress)
    for i in bar:
        e = client.eval(xs[i], int(ys[i]), restart=(i == 0))
        if e.status != 0:
            raise StreamError(f"{phase}: the device refused frame {i} (label {int(ys[i])}): status {e.status}")
        losses.append(train_golden.loss_from_q15(e.p_label))
        rec.add(phase, xs[i], int(ys[i]), {"predicted": e.prediction, "p_label_q15": e.p_label, "ticks": e.ticks})
        if progress:
            bar.set_postfix(acc=f"{e.correct / e.seen:.2f}")
    assert e is not None
    return {
        "frames": e.seen,
        "correct": e.correct,
        "accuracy": round(e.correct / e.seen, 4),
        "loss": round(float(np.mean(losses)), 4),
    }


def _train_frames(job: StreamJob, data: Dataset | None, camera: Any) -> Iterator[tuple[np.ndarray, int]]:
    n = job.frames or DEFAULT_TRAIN_FRAMES
    if data is not None:
        for i in _order(len(data.y_train), n, job.seed):
            yield data.x_train[i], int(data.y_train[i])
    else:
        yield from camera.frames(n)


def run_stream(job: StreamJob, progress: bool = False) -> dict[str, Any]:
    """Run the stream and return the report (written to ``job.report`` with its frames file)."""
    job.check()
    spec, where = expected_spec(job)
    graph, plan = plan_for(spec)
    names = class_names(spec.dataset, plan)
    data = load_source(job, graph, names)
    if data is not None and job.folder is not None:  # the folder names its classes
        names = tuple(data.class_names) + names[len(data.class_names) :]
    if job.camera is not None and job.label is not None and not 0 <= job.label < len(names):
        raise StreamError(f"--label {job.label} is not a class of the model (0 .. {len(names) - 1})")
    digests = (graph.digest(), plan.digest())
    camera = sources.Camera(job.camera, graph.input, job.label) if job.camera is not None else None
    rec = _Recorder()
    t0 = time.time()
    device: Device | None = None
    board = None
    try:
        device, board, port = _open(job, plan, graph)
        info = _hello(device, port, job.baud)
        _check_identity(info, spec, plan, digests, where, port)
        client = TrainClient(device)
        steps_found = client.steps_done
        summary: dict[str, Any] = {}
        ins: list[int] = []  # instructions per training step
        per_tick = info.instructions_per_tick
        held = None
        if data is not None:
            k = len(data.y_test) if job.eval_frames is None else min(job.eval_frames, len(data.y_test))
            held = (data.x_test[:k], data.y_test[:k])
        if job.mode == "train":
            t = client.train_info()
            if t.checkpoint_seq and not job.fresh:
                raise StreamError(
                    f"the device on {port} holds checkpoint {t.checkpoint_seq} (step {t.checkpoint_steps}); --train "
                    "starts from the flashed parameters: pass --fresh to erase it, or --eval / --infer to use it"
                )
            client.reset(erase_checkpoints=True)
            checkpoints: list[dict[str, int]] = []
            if job.lr_shift:
                client.set_lr_shift(job.lr_shift)
            if held is not None:
                summary["eval_before"] = _evaluate(client, rec, "eval_before", *held, progress)
            losses: list[float] = []
            right = 0
            n = job.frames or DEFAULT_TRAIN_FRAMES
            bar = _bar(_train_frames(job, data, camera), n, "training on the device", progress)
            for x, y in bar:
                if not 0 <= y < len(names):
                    raise StreamError(
                        f"frame {len(losses)}: label {y} is not a class of the model (0 .. {len(names) - 1})"
                    )
                d = client.step(x, y)
                loss = train_golden.loss_from_q15(d.p_label)
                losses.append(loss)
                right += int(d.prediction == y)
                ins.append(d.ticks * per_tick)
                rec.add(
                    "train",
                    x,
                    y,
                    {
                        "step": d.step,
                        "p_label_q15": d.p_label,
                        "predicted": d.prediction,
                        "saturated": d.saturations,
                        "ticks": d.ticks,
                        "stack_high_water": d.stack_high_water,
                    },
                )
                if progress:
                    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", acc=f"{right / len(losses):.2f}")
                if job.checkpoint_every and len(losses) % job.checkpoint_every == 0:
                    checkpoints.append(client.checkpoint()._asdict())
            if job.checkpoint_every and (not checkpoints or checkpoints[-1]["steps"] != len(losses)):
                checkpoints.append(client.checkpoint()._asdict())
            if checkpoints:
                summary["checkpoints"] = checkpoints
            summary["train"] = {
                "steps": len(losses),
                "running_accuracy": round(right / max(len(losses), 1), 4),
                "loss_first_20": round(float(np.mean(losses[:20])), 4) if losses else None,
                "loss_last_20": round(float(np.mean(losses[-20:])), 4) if losses else None,
            }
            if held is not None:
                summary["eval_after"] = _evaluate(client, rec, "eval_after", *held, progress)
        elif job.mode == "eval":
            assert held is not None
            summary["eval"] = _evaluate(client, rec, "eval", *held, progress)
        else:
            xs: Any
            if data is not None:
                k = job.frames or len(data.y_test)
                xs = [(data.x_test[i % len(data.y_test)], int(data.y_test[i % len(data.y_test)])) for i in range(k)]
            else:
                assert camera is not None
                xs = camera.frames(job.frames or 1)
            predictions: list[int] = []
            for x, y in _bar(xs, job.frames or len(xs), "inference on the device", progress):
                r = client.infer(x)
                if r.status != 0:
                    raise StreamError(f"inference on frame {len(predictions)}: status {r.status}")
                predictions.append(r.prediction)
                rec.add(
                    "infer",
                    x,
                    y if y is not None and y >= 0 else None,
                    {"predicted": r.prediction, "logits": np.frombuffer(r.logits, np.int8).tolist(), "ticks": r.ticks},
                )
            summary["infer"] = {
                "frames": len(predictions),
                "predicted": {names[c]: predictions.count(c) for c in sorted(set(predictions))},
            }
        params = client.params()
        end = client.train_info()
        info_end = device.info()
    finally:
        if camera is not None:
            camera.close()
        if board is not None:  # closes its device too
            board.close()
        elif device is not None:
            device.close()
    fwd_ticks = [r["answer"]["ticks"] for r in rec.records if r["phase"] != "train"]  # EVAL, INFER
    if per_tick and ins:
        summary["instructions_per_step_mean"] = int(np.mean(ins))
        summary["instructions_per_step_max"] = int(max(ins))
    if per_tick and fwd_ticks:
        summary["instructions_per_inference_mean"] = int(np.mean(fwd_ticks) * per_tick)
    summary["peak_sram_bytes"] = info_end.static_ram_bytes - info_end.stack_bytes + info_end.stack_high_water_bytes
    source: dict[str, Any]
    if job.dataset is not None:
        source = {"kind": "dataset", "name": job.dataset, "seed": job.seed}
    elif job.folder is not None:
        source = {"kind": "folder", "path": str(job.folder), "seed": job.seed}
    else:
        source = {"kind": "camera", "index": job.camera, "label": job.label}
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "kilotrain": __version__,
        "mode": job.mode,
        "spec": spec.to_json(plan),
        "model_name": graph.name or Path(spec.model).stem,
        "model_digest": digests[0],
        "train_digest": digests[1],
        "class_names": list(names),
        "source": source,
        "link": {"port": "qemu" if job.qemu else job.port, "baud": None if job.qemu else job.baud},
        "start": "reset" if job.mode == "train" else "as found",
        "steps_found": steps_found,
        "lr_shift": job.lr_shift if job.mode == "train" else end.lr_shift,
        "device": {
            **vars(info_end),
            "model_digest": f"{info.model_digest:016x}",
            "train_digest": f"{info.train_digest:016x}",
            "steps_done": end.steps_done,
            "params_size": end.params_size,
        },
        "summary": summary,
        "records": rec.records,
        "params_sha256": hashlib.sha256(params).hexdigest(),
        "frames_file": frames_path(job.report).name if job.report is not None else None,
        "seconds": round(time.time() - t0, 1),
    }
    report["report_sha256"] = report_digest(report)
    if job.report is not None:
        write_report(Path(job.report), report, rec.frames, params)
    return report


def write_report(path: Path, report: dict[str, Any], frames: list[np.ndarray], params: bytes) -> None:
    """run.json and run.frames.npz."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            frames_path(path),
            frames=np.stack(frames) if frames else np.zeros((0,), np.int8),
            params=np.frombuffer(params, np.uint8),
        )
        path.write_text(json.dumps(report, indent=1) + "\n")
    except OSError as e:
        raise StreamError(f"cannot write the report {path}: {e.strerror or e}") from None


def plot_report(report: dict[str, Any], out: Path) -> Path:
    """Loss and running accuracy over the training steps, held-out accuracy before and after."""
    from kilotrain.extras import require

    require("matplotlib", "plot", "--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in report["records"] if r["phase"] == "train"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if steps:
        loss = [train_golden.loss_from_q15(r["answer"]["p_label_q15"]) for r in steps]
        k = max(1, min(20, len(loss) // 5))
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(range(len(loss)), loss, color="0.8", lw=0.8, label="loss per step")
        ax.plot(range(k - 1, len(loss)), smooth, color="C0", label=f"loss, mean of {k}")
        ax.set_xlabel("training step on the device")
        ax.set_ylabel("cross-entropy loss")
        acc = np.cumsum([r["answer"]["predicted"] == r["label"] for r in steps]) / np.arange(1, len(steps) + 1)
        ax2 = ax.twinx()
        ax2.plot(range(len(acc)), acc, color="C1", label="running accuracy")
        s = report["summary"]
        for key, style in (("eval_before", ":"), ("eval_after", "--")):
            if key in s:
                ax2.axhline(s[key]["accuracy"], color="C2", ls=style, label=f"held-out accuracy {key[5:]}")
        ax2.set_ylim(0, 1.05)
        ax2.set_ylabel("accuracy")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="center right")
    ax.set_title(
        f"{report['model_name']} on {report['source'].get('name') or report['source']['kind']}: {report['mode']}"
    )
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=120)
    except OSError as e:
        raise StreamError(f"cannot write the plot {out}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return out
