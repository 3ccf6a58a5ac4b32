"""The job behind ``kilotrain verify run.json``: replay a stream report's frames through the golden
model and compare, bit for bit, every answer the device gave and the parameters it sent back.

Checks, in order, each failing with one line:

1. the report is intact: its own digest (``report_sha256``) matches its content, the frames file
   beside it holds the frames the records name (by SHA-256) and the parameters whose SHA-256 the
   report gives;
2. the report's model spec gives the plan the device ran (its digest equals the one the device
   reported in INFO);
3. the replay: a ``reset`` run starts from the flashed parameters and applies every training
   frame with the golden step (at the run's learning-rate exponent); an ``as found`` run
   (``--eval``/``--infer``) evaluates with the parameters pulled from the device. Each answer —
   p_label, prediction, saturations, logits — must equal the golden one;
4. the pulled parameters equal the golden state's: else the first differing tensor and channel.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.codegen.model import digest64
from kilotrain.device.train_client import state_from_params
from kilotrain.jobs.compile import ModelSpec, plan_for
from kilotrain.jobs.stream import REPORT_FORMAT, frame_sha256, report_digest
from kilotrain.training import step as train_golden
from kilotrain.training.plan import TrainPlan
from kilotrain.training.step import TrainState


class VerifyError(ValueError):
    """The report cannot be checked (missing, edited, another format); one line."""


@dataclass(frozen=True)
class Verdict:
    """What verify found: ``ok`` and, when not, the first difference."""

    ok: bool
    frames: int
    steps: int
    params_sha256: str
    first_difference: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "frames": self.frames,
            "steps": self.steps,
            "params_sha256": self.params_sha256,
            "first_difference": self.first_difference,
        }


def load_report(path: Path) -> tuple[dict[str, Any], np.ndarray, bytes]:
    """(report, frames, pulled parameters), after the integrity checks (1 above)."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except OSError as e:
        raise VerifyError(f"cannot read the report {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VerifyError(f"{path} is not a kilotrain report (not JSON: {e})") from None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT or "records" not in report:
        raise VerifyError(f"{path} is not a kilotrain stream report (format {REPORT_FORMAT})")
    if report.get("report_sha256") != report_digest(report):
        raise VerifyError(
            f"{path} was changed after the run: its content no longer matches its report_sha256 "
            "(a report is checked as written by kilotrain stream)"
        )
    if not report.get("frames_file"):
        raise VerifyError(f"{path} was written without its frames file (run kilotrain stream with --report)")
    fpath = path.with_name(report["frames_file"])
    try:
        with np.load(fpath, allow_pickle=False) as z:
            frames, params = z["frames"], z["params"].tobytes()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise VerifyError(f"cannot read the frames file {fpath} of {path.name}: {e}") from None
    for i, r in enumerate(report["records"]):
        k = r["frame"]
        if not 0 <= k < len(frames) or frame_sha256(frames[k]) != r["sha256"]:
            raise VerifyError(f"{fpath.name}: frame of record {i} does not have the SHA-256 {path.name} gives it")
    if hashlib.sha256(params).hexdigest() != report["params_sha256"]:
        raise VerifyError(f"{fpath.name}: the parameters' SHA-256 is not the one {path.name} reports")
    return report, frames, params


def first_param_difference(plan: TrainPlan, state: TrainState, blob: bytes) -> str | None:
    """Where the device's parameters (PARAMS_READ order) first differ from the state's: the op,
    the tensor and the output channel; None when equal."""
    try:
        dev = state_from_params(plan, blob)
    except ValueError as e:
        return str(e)
    g = plan.graph
    for pos in sorted(state.biases):
        op = g.ops[pos]
        pairs: list[tuple[str, str, np.ndarray, np.ndarray]] = []
        if pos in state.weights:
            pairs.append(("weights", g.tensors[op.inputs[1]].name, state.weights[pos], dev.weights[pos]))
        pairs.append(("bias", g.tensors[op.inputs[2]].name, state.biases[pos], dev.biases[pos]))
        for kind, name, want, got in pairs:
            if np.array_equal(want, got):
                continue
            if kind == "weights" and op.kind == "DEPTHWISE_CONV_2D":  # (1, KH, KW, C): channels last
                ch = int(np.flatnonzero((want != got).reshape(-1, want.shape[-1]).any(axis=0))[0])
            else:
                ch = int(np.flatnonzero((want != got).reshape(want.shape[0], -1).any(axis=1))[0])
            detail = f": device {int(got[ch])}, golden {int(want[ch])}" if kind == "bias" else ""
            return f"op {pos} ({op.kind}) {kind} {name!r}, output channel {ch}{detail}"
    return None


def _compare(phase: str, i: int, got: dict[str, Any], want: dict[str, Any]) -> str | None:
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    if not bad:
        return None
    what = ", ".join(f"{k} device {d} golden {g}" for k, (d, g) in bad.items())
    return f"record {i} ({phase}): {what}"


def run_verify(path: Path, progress: bool = False) -> Verdict:
    """Replay the report at ``path``; see the module docstring."""
    report, frames, blob = load_report(Path(path))
    spec = ModelSpec.from_json(report.get("spec"), f"{Path(path).name} spec")
    _, plan = plan_for(spec)
    digest = plan.digest()
    if digest != report["train_digest"] or f"{digest64(digest):016x}" != report["device"]["train_digest"]:
        raise VerifyError(
            f"{Path(path).name}: its model spec gives plan {digest[:16]}, but the device ran "
            f"{report['device']['train_digest']}: the model file or kilotrain changed since the run"
        )
    # a --train run starts from the flashed parameters; --eval/--infer evaluate what they found
    state = train_golden.init_state(plan) if report["start"] == "reset" else state_from_params(plan, blob)
    state.lr_shift = int(report["lr_shift"])
    first: str | None = None
    steps = 0
    records = report["records"]
    it: Any = enumerate(records)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(records), desc="replaying through the golden model", unit="frame", leave=False)
    for i, r in it:
        x = frames[r["frame"]]
        a = r["answer"]
        if r["phase"] == "train":
            g = train_golden.step(plan, state, x, int(r["label"]))
            steps += 1
            want = {
                "step": state.step - 1,
                "p_label_q15": g.p_label,
                "predicted": g.prediction,
                "saturated": g.saturations,
            }
        else:
            p = train_golden.predict(plan, state, x, int(r["label"]) if r["label"] is not None else 0)
            want = {"predicted": p.prediction}
            if r["phase"] == "infer":
                want["logits"] = p.logits.tolist()
            else:
                want["p_label_q15"] = p.p_label
        diff = _compare(r["phase"], i, a, want)
        if diff is not None and first is None:
            first = diff
    param_diff = first_param_difference(plan, state, blob)
    if param_diff is not None:
        first = f"parameters: {param_diff}" + (f" (first answer to differ: {first})" if first else "")
    return Verdict(first is None, len(records), steps, train_golden.params_sha256(state), first)
