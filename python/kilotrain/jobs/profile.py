"""Where a training step's instructions go (docs/benchmarks.md, "Per-op profile"): build the
training image with ``-DKT_PROFILE`` (the generated step then reads the device's counter around
every kernel call, the loss and the scale policy: ``codegen.train.ProfileEntry``), run steps on
the emulated Cortex-M7 under ``-icount`` (40 instructions per counter tick), read the counters
back (PROFILE) and attribute the step's instructions to ops, kernels and phases.

The row-streamed prefix, which runs while the input arrives (docs/memory.md), is timed per op by
hooks in its runner. What no region covers is reported as ``other``: the step's own bookkeeping.
A region's figure includes two counter reads (a few dozen instructions) and is quantised to 40
instructions per step."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.device.boards import QemuBoard
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.jobs.compile import ModelSpec, plan_for, training_frames


class ProfileError(ValueError):
    """A profile cannot be taken; the message is one line."""


@dataclass(frozen=True)
class ProfileJob:
    """The flags of ``kilotrain profile``."""

    spec: ModelSpec
    steps: int = 3
    dsp: bool = True  # the ARM DSP fast paths (-DKT_USE_DSP=0: the portable C)
    seed: int = 0


def run_profile(job: ProfileJob, progress: bool = False) -> dict[str, Any]:
    """Profile ``job.steps`` training steps; the report (entries sorted by cost)."""
    if job.steps < 1:
        raise ProfileError(f"--steps must be >= 1; got {job.steps}")
    graph, plan = plan_for(job.spec)
    flags = ("-DKT_PROFILE",) if job.dsp else ("-DKT_PROFILE", "-DKT_USE_DSP=0")
    image = build_with_training(plan, Path(job.spec.model).name, build_flags=flags)
    entries = image.generated.code.profile
    frames = training_frames(plan, job.spec.dataset, job.steps, job.seed)
    with QemuBoard(image.elf) as board:
        client = TrainClient(board.device)
        per_tick = client.info.instructions_per_tick
        before = client.profile_ticks()
        if len(before) != len(entries):
            raise ProfileError(f"the image reports {len(before)} profile entries, its code generator {len(entries)}")
        it: Any = frames
        if progress:
            from tqdm import tqdm

            it = tqdm(frames, desc="profiled steps on the emulated M7", unit="step")
        step_ticks = [client.step(x, y).ticks for x, y in it]
        after = client.profile_ticks()
        params_sha256 = client.params_sha256()
    n = len(frames)
    per_entry = [(a - b) * per_tick / n for a, b in zip(after, before)]
    total = float(np.mean(step_ticks)) * per_tick
    rows = [
        {
            "index": e.index,
            "phase": e.phase,
            "op": e.op,
            "kind": e.kind,
            "kernel": e.kernel,
            "instructions": round(v),
            "share": round(v / total, 4) if total else 0.0,
        }
        for e, v in zip(entries, per_entry)
    ]
    rows.sort(key=lambda r: (-r["instructions"], r["index"]))
    profiled = sum(per_entry)
    by_phase: dict[str, float] = defaultdict(float)
    by_kernel: dict[str, float] = defaultdict(float)
    for e, v in zip(entries, per_entry):
        by_phase[e.phase] += v
        by_kernel[e.kernel] += v
    other = total - profiled
    by_phase["other"] += other

    def ranked(d: dict[str, float]) -> dict[str, int]:
        return {k: round(v) for k, v in sorted(d.items(), key=lambda kv: -kv[1])}

    return {
        "model": job.spec.model,
        "scheme": job.spec.scheme,
        "input_size": list(graph.input.shape[1:3]),
        "dsp": job.dsp,
        "steps": n,
        "instructions_per_step": round(total),
        "profiled_instructions": round(profiled),
        "other_instructions": round(other),
        "by_phase": ranked(by_phase),
        "by_kernel": ranked(by_kernel),
        "entries": rows,
        "params_sha256": params_sha256,
    }
