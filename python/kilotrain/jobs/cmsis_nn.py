"""kilotrain's forward against Arm's CMSIS-NN on the same emulated Cortex-M7 (``kilotrain bench
--cmsis-nn DIR``; docs/benchmarks.md).

CMSIS-NN is not shipped and not downloaded: the user points at a checkout (``--cmsis-nn DIR`` or
``$KILOTRAIN_CMSIS_NN``). Its headers and the sources in
:data:`kilotrain.codegen.cmsis_nn.CMSIS_NN_SOURCES` are copied beside the generated program
(:func:`kilotrain.codegen.cmsis_nn.render`) into a firmware test under the build tree, which
PlatformIO builds for ``qemu_m7`` with the project's compiler flags and runs on QEMU, the same
``-icount`` counter that measures kilotrain's own forward.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kilotrain.codegen import cmsis_nn
from kilotrain.device import toolchain
from kilotrain.model.ir import Graph
from kilotrain.paths import REPO_ROOT, build_dir

#: Environment variable naming a CMSIS-NN checkout (the default of ``--cmsis-nn``).
CMSIS_NN_ENV = "KILOTRAIN_CMSIS_NN"
#: The firmware test's name under its generated test directory.
TEST_NAME = "test_cmsis_nn"


class CmsisNNError(ValueError):
    """The CMSIS-NN checkout is unusable or its program failed; the message is one line."""


def check_checkout(path: str | Path) -> Path:
    """The checkout's root, after checking that it has the headers and every source the program
    compiles; CmsisNNError naming what is missing otherwise."""
    root = Path(path).expanduser()
    if not (root / "Include" / "arm_nnfunctions.h").is_file():
        raise CmsisNNError(
            f"--cmsis-nn {path}: no Include/arm_nnfunctions.h there; expected a checkout of "
            "https://github.com/ARM-software/CMSIS-NN"
        )
    missing = [s for s in cmsis_nn.CMSIS_NN_SOURCES if not (root / s).is_file()]
    if missing:
        raise CmsisNNError(f"--cmsis-nn {path}: {len(missing)} source(s) missing, first {missing[0]}")
    return root.resolve()


def checkout_revision(root: Path) -> str | None:
    """The checkout's git commit (short), or None if it is not a git work tree."""
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=8", "HEAD"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or None


def run_cmsis_nn_forward(graph: Graph, source_name: str, checkout: str | Path) -> dict[str, Any]:
    """Build and run the CMSIS-NN program for ``graph``; instructions per timed op, by kind, in
    all, and the ops it does not time."""
    root = check_checkout(checkout)
    layers, _, _, skipped = cmsis_nn.cmsis_layers(graph)
    text = cmsis_nn.render(graph, source_name)
    revision = checkout_revision(root)
    digest = hashlib.sha256((text + str(root) + str(revision)).encode()).hexdigest()[:16]
    tests = build_dir() / "cmsis-nn" / digest
    test = tests / TEST_NAME
    test.mkdir(parents=True, exist_ok=True)
    for helper in ("kt_test.h", "test_custom_runner.py"):
        shutil.copyfile(REPO_ROOT / "tests" / "firmware" / helper, tests / helper)
    for header in (root / "Include").rglob("*.h"):
        target = test / header.relative_to(root / "Include")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(header, target)
    for source in cmsis_nn.CMSIS_NN_SOURCES:
        shutil.copyfile(root / source, test / Path(source).name)
    (test / "test_main.c").write_text(text)
    toolchain.require("arm-none-eabi-gcc")
    out = toolchain.pio(
        "test",
        "-e",
        "qemu_m7",
        "-f",
        TEST_NAME,
        "-v",
        extra_env={
            "PLATFORMIO_TEST_DIR": str(tests),
            "PLATFORMIO_BUILD_DIR": str(build_dir() / "pio" / f"cmsis-nn-{digest}"),
            "KILOTRAIN_MODEL_DIR": "-",
        },
        check=False,
    )
    text = (out.stdout or "") + (out.stderr or "")
    if out.returncode != 0:
        lines = text.splitlines()
        why = [ln for ln in lines if any(k in ln for k in (" needs CMSIS-NN", ":FAIL", "error:", "overflowed"))]
        why = why or lines[-1:]
        raise CmsisNNError(f"the CMSIS-NN program for {source_name} failed ({test}): {why[0].strip() if why else '?'}")
    try:
        counts = cmsis_nn.parse_output(text, layers)
    except ValueError as e:
        raise CmsisNNError(str(e)) from None
    by_kind = {k: sum(counts[L.op] for L in layers if L.kind == k) for k in cmsis_nn.KINDS}
    return {
        "revision": revision,
        "forward_instructions": sum(counts.values()),
        "by_kind": by_kind,
        "per_op": {str(op): n for op, n in counts.items()},
        "not_timed": skipped,
    }


def default_checkout() -> str | None:
    """``$KILOTRAIN_CMSIS_NN``, if set."""
    return os.environ.get(CMSIS_NN_ENV) or None
