"""``kilotrain bench``: the benchmark models' training step on the emulated Cortex-M7, DSP fast
paths and portable C, beside the paper's figures (docs/benchmarks.md).

    kilotrain bench [--models mbv2,proxyless,person_detect] [--steps 2] [--json]

For each model: instructions per forward pass and per training step (DSP and portable), the
all-in peak SRAM and flash of the image, the same generated step's time on this machine (the
native build), and TTE's published peak SRAM and step time (its cycles at 216 MHz) for the same
model and scheme. All builds must train to the same parameters.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from kilotrain.jobs.bench import DEFAULT_MODELS, bench_models, run_bench


def _bench(args: argparse.Namespace) -> int:
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    r = run_bench(models, steps=args.steps, progress=not args.json)
    if args.json:
        print(json.dumps(r))
        return 0
    head = f"{'model':34} {'step (DSP)':>12} {'step (portable)':>16} {'forward':>12}"
    print(f"{head} {'peak SRAM':>10} {'flash':>10} {'host step':>10}  paper")
    for rec in r["models"].values():
        d, p = rec["dsp"], rec["portable"]
        paper = rec.get("paper")
        ref = (
            f"{paper['peak_sram_kb']} KB, {paper['step_ms']} ms = {paper['step_cycles'] / 1e6:.1f} M cycles"
            if paper
            else "-"
        )
        print(
            f"{rec['title']:34} {d['step_instructions'] / 1e6:10.1f} M {p['step_instructions'] / 1e6:14.1f} M "
            f"{d['forward_instructions'] / 1e6:10.1f} M {d['peak_sram_bytes'] / 1024:8.1f} KB "
            f"{d['flash_bytes'] / 1024:8.1f} KB {rec['host']['step_ms']:7.2f} ms  {ref}"
        )
    print(
        f"({r['steps']} steps each; instructions on QEMU -icount; host step: the same generated C built for "
        "this machine; all builds trained to equal parameters)"
    )
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain bench`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="training-step instructions, SRAM and flash of the benchmark models on the emulated M7",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated, from: " + ", ".join(bench_models()),
    )
    p.add_argument("--steps", type=int, default=2, help="training steps per build")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_bench)
    return p
