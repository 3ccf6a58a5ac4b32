"""The coverage-guided fuzzer of the firmware's serial front end (docs/reliability.md): the real
frame decoder and command handler (firmware/app) with the harness in tests/fuzz, built by Debian's
clang with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.

Two targets: ``app`` (the model-less image: INFO, ECHO, RESET, every malformed frame) and
``train`` (a training image of :func:`kilotrain.training.examples.tiny_mixed_plan`: INPUT_WRITE,
TRAIN_STEP, EVAL, INFER, SET_LR, PARAMS_READ, ... over the generated kt_train.c and the kernels).
Seed corpora of valid frames are committed in tests/fuzz/corpus/<target>/ (:func:`seed_inputs`
writes them). A finding stops the run and names the input that triggered it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kilotrain import __version__, paths
from kilotrain.codegen import emit
from kilotrain.codegen import train as codegen_train
from kilotrain.device import wire
from kilotrain.device.protocol import encode
from kilotrain.device.toolchain import ToolError, require
from kilotrain.training.examples import tiny_mixed_plan

TARGETS = ("app", "train")
FUZZ_DIR = paths.REPO_ROOT / "tests" / "fuzz"
CORPUS_DIR = FUZZ_DIR / "corpus"
APP_SOURCES = ("kt_app.c", "kt_frame.c", "kt_crc32.c", "kt_checkpoint.c")
CFLAGS = (
    "-std=c99",
    "-g",
    "-O1",
    "-fsanitize=fuzzer,address,undefined",
    "-fno-sanitize-recover=all",
    "-Wall",
    "-Wextra",
    "-Werror",
)
#: The pair of bytes that stands for an idle timeout of the line in a fuzz input (fuzz_app.c).
IDLE = b"\xff\xfe"


class FuzzFinding(RuntimeError):
    """A sanitizer or the harness's output oracle stopped the fuzzer; the message names the input."""


def clang() -> str:
    """Debian's clang with libFuzzer (clang-14 on Debian 12; tools/setup installs it)."""
    return shutil.which("clang-14") or shutil.which("clang") or require("clang-14")


def build_fuzzer(target: str) -> Path:
    """Compile the ``target`` fuzzer into the build tree (rebuilt when a source or flag changes)."""
    if target not in TARGETS:
        raise ValueError(f"fuzz target must be one of {', '.join(TARGETS)}; got {target!r}")
    cc = clang()
    app = paths.REPO_ROOT / "firmware" / "app"
    sources = [app / s for s in APP_SOURCES] + [FUZZ_DIR / "fuzz_app.c", FUZZ_DIR / "fuzz_bsp.c"]
    defines: list[str] = []
    generated: dict[str, str] = {"kt_wire.h": wire.c_header(__version__)}
    if target == "train":
        code = codegen_train.render_train(tiny_mixed_plan(), "tiny_cnn.tflite")
        generated["kt_train.c"] = code.text
        sources += sorted((paths.REPO_ROOT / "firmware" / "kernels").glob("*.c"))
        defines = ["-DKT_HAVE_MODEL", "-DKT_HAVE_TRAIN", "-DKT_PROFILE"]  # PROFILE answers with data
    h = hashlib.sha256(" ".join([cc, *CFLAGS, *defines]).encode())
    for s in sources:
        h.update(s.read_bytes())
    for name in sorted(generated):
        h.update(generated[name].encode())
    out = paths.build_dir() / "fuzz" / f"{target}-{h.hexdigest()[:16]}"
    exe = out / f"fuzz_{target}"
    if exe.exists():
        return exe
    gen = out / "gen"
    for name, text in generated.items():
        emit.write(text, gen, name)
    if "kt_train.c" in generated:
        sources.append(gen / "kt_train.c")
    inc = [f"-I{d}" for d in (gen, paths.REPO_ROOT / "include", app, paths.REPO_ROOT / "firmware" / "bsp")]
    tmp = exe.with_suffix(".tmp")
    cmd = [cc, *CFLAGS, *defines, *inc, "-o", str(tmp), *map(str, sources)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"building the {target} fuzzer failed: {proc.stderr.strip()[-2000:]}")
    tmp.replace(exe)
    return exe


@dataclass(frozen=True)
class FuzzRun:
    """What one run did: inputs executed, requests answered, error reports, corpus size, coverage."""

    target: str
    seconds: float
    inputs: int
    answers: int
    reports: int
    corpus: int
    coverage: int

    @property
    def frames(self) -> int:
        """Frames the device decoded and answered (requests) or reported (errors)."""
        return self.answers + self.reports


def run_fuzzer(target: str, seconds: int, work: Path | None = None, jobs: int = 1) -> FuzzRun:
    """Fuzz ``target`` for ``seconds`` from its committed seed corpus (new inputs go to ``work``,
    default a temporary folder). FuzzFinding, with the crashing input kept, on any finding."""
    exe = build_fuzzer(target)
    seeds = CORPUS_DIR / target
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"kt-fuzz-{target}-")
        work = Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    artifacts = paths.build_dir() / "fuzz" / "findings"
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(exe),
        f"-max_total_time={int(seconds)}",
        "-print_final_stats=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={artifacts}/{target}-",
        *([f"-jobs={jobs}", f"-workers={jobs}"] if jobs > 1 else []),
        str(work),
        str(seeds),
    ]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, timeout=seconds + 300)
    finally:
        if tmp is not None:
            tmp.cleanup()
    log = proc.stderr
    if proc.returncode != 0:
        found = re.findall(r"Test unit written to (\S+)", log)
        what = next((line for line in log.splitlines() if "ERROR:" in line or "fuzz:" in line), "see the log")
        raise FuzzFinding(f"{target} fuzzer: {what.strip()} (input kept at {found[-1] if found else artifacts})")

    def stat(name: str) -> int:
        m = re.findall(rf"{name}:\s*(\d+)", log)
        return int(m[-1]) if m else 0

    counts = re.findall(r"fuzz: (\d+) requests answered, (\d+) error reports", log)
    answers = sum(int(a) for a, _ in counts)
    reports = sum(int(r) for _, r in counts)
    cov = re.findall(r"cov: (\d+)", log)
    corpus = re.findall(r"corp: (\d+)/", log)
    return FuzzRun(
        target,
        float(seconds),
        stat("stat::number_of_executed_units"),
        answers,
        reports,
        int(corpus[-1]) if corpus else 0,
        int(cov[-1]) if cov else 0,
    )


def seed_inputs(target: str) -> dict[str, bytes]:
    """The seed corpus of ``target``: valid request frames, alone and in sessions, with idle
    timeouts and a few classic breakages (a cut frame, a bad CRC, an oversized length)."""
    seq = iter(range(1, 256))

    def f(t: wire.FrameType, payload: bytes = b"") -> bytes:
        return encode(int(t), next(seq), payload)

    ft = wire.FrameType
    seeds = {
        "info": f(ft.INFO),
        "echo": f(ft.ECHO, b"hello"),
        "echo_max": f(ft.ECHO, bytes(range(256)) * 8),
        "reset": f(ft.INFO) + f(ft.RESET, wire.RESET_REQUEST.encode(erase_checkpoints=0)) + f(ft.INFO),
        "reset_erase": f(ft.RESET, wire.RESET_REQUEST.encode(erase_checkpoints=1)) + f(ft.RESET),
        "profile": f(ft.PROFILE, wire.PROFILE_REQUEST.encode(first=0, length=0))
        + f(ft.PROFILE, wire.PROFILE_REQUEST.encode(first=3, length=300)),
        "cut_then_idle": f(ft.ECHO, b"0123456789")[:9] + IDLE + f(ft.INFO),
        "bad_crc": f(ft.INFO)[:-1] + b"\x00" + f(ft.INFO),
        "long_length": b"KT\x01\x07\xff\xff" + f(ft.INFO),
        "garbage": b"\x00\x01KKK" + IDLE + f(ft.INFO),
    }
    if target == "train":
        plan = tiny_mixed_plan()
        n = int(np.prod(plan.graph.input.shape))
        x = bytes((np.arange(n) * 37 % 256).astype(np.uint8))

        def write(data: bytes, offset: int = 0) -> bytes:
            return f(ft.INPUT_WRITE, wire.INPUT_WRITE_REQUEST.encode(offset=offset, data=data))

        step = wire.TRAIN_STEP_REQUEST.encode
        seeds.update(
            {
                "model_info": f(ft.MODEL_INFO) + f(ft.TRAIN_INFO),
                "train_step": write(x) + f(ft.TRAIN_STEP, step(step=0, label=1)),
                "two_steps_retry": write(x)
                + f(ft.TRAIN_STEP, step(step=0, label=1))
                + write(x[: n // 2])
                + write(x[n // 2 :], n // 2)
                + f(ft.TRAIN_STEP, step(step=1, label=3))
                + f(ft.TRAIN_STEP, step(step=1, label=3))
                + f(ft.TRAIN_STEP, step(step=7, label=0)),
                "refused_step": write(x) + f(ft.TRAIN_STEP, step(step=0, label=99)),
                "eval_infer": write(x)
                + f(ft.EVAL, wire.EVAL_REQUEST.encode(label=2, restart=1))
                + write(x)
                + f(ft.INFER),
                "set_lr": f(ft.SET_LR, wire.SET_LR_REQUEST.encode(lr_shift=-3))
                + f(ft.SET_LR, wire.SET_LR_REQUEST.encode(lr_shift=40)),
                "params": f(ft.PARAMS_READ, wire.PARAMS_READ_REQUEST.encode(offset=0, length=2048))
                + f(ft.PARAMS_READ, wire.PARAMS_READ_REQUEST.encode(offset=100000, length=4)),
                "invoke_output": write(x)
                + f(ft.INVOKE)
                + f(ft.OUTPUT_READ, wire.OUTPUT_READ_REQUEST.encode(offset=0, length=4)),
                "write_gap": write(x[:10], 0) + write(x[:10], 50) + f(ft.INFER),
                "checkpoint_restore": f(ft.RESTORE)
                + write(x)
                + f(ft.TRAIN_STEP, step(step=0, label=1))
                + f(ft.CHECKPOINT)
                + f(ft.TRAIN_INFO)
                + write(x)
                + f(ft.TRAIN_STEP, step(step=1, label=2))
                + f(ft.CHECKPOINT)
                + f(ft.RESTORE)
                + f(ft.TRAIN_STEP, step(step=1, label=2))
                + f(ft.CHECKPOINT, b"x"),
            }
        )
    return seeds


def write_seed_corpus(target: str, out: Path | None = None) -> list[Path]:
    """Write :func:`seed_inputs` into tests/fuzz/corpus/<target>/ (replacing what is there)."""
    d = out or CORPUS_DIR / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    written = []
    for name, data in seed_inputs(target).items():
        p = d / f"{name}.bin"
        p.write_bytes(data)
        written.append(p)
    return written
