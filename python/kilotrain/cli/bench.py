"""``kilotrain bench``: the benchmark models' training step on the emulated Cortex-M7, DSP fast
paths and portable C, beside the paper's figures (docs/benchmarks.md).

    kilotrain bench [--models mbv2,proxyless,person_detect] [--steps 2] [--json] [--require-torch]

For each model: instructions per forward pass and per training step (DSP and portable), the
all-in peak SRAM and flash of the image, the same generated step's time on this machine (the
native build), and TTE's published peak SRAM and step time (its cycles at 216 MHz) for the same
model and scheme. All builds must train to the same parameters.

The host step is set against PyTorch on the CPU measured in the same run: the same architecture
and trained layers in float32, one thread, batch 1, SGD, the median of at least 20 steps after
warm-up, in a child process whose peak RSS is PyTorch's alone; the ratios are PyTorch's step time
and peak RSS over the host's. PyTorch is optional (pip install 'kilotrain[torch]'): without it the
torch figures are null and one line says so, unless --require-torch makes that an error.

With --cmsis-nn DIR (or $KILOTRAIN_CMSIS_NN), a checkout of Arm's CMSIS-NN, each model's forward
also runs through CMSIS-NN's s8 kernels (same layer shapes and quantisation, same compiler flags,
same emulator and counter), reported beside kilotrain's forward.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from kilotrain.jobs.bench import DEFAULT_MODELS, bench_models, run_bench
from kilotrain.jobs.cmsis_nn import CMSIS_NN_ENV, default_checkout


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _bench(args: argparse.Namespace) -> int:
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    r = run_bench(
        models, steps=args.steps, progress=not args.json, require_torch=args.require_torch, cmsis_nn=args.cmsis_nn
    )
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
    _print_cmsis_nn(r)
    if r["torch_version"] is None:
        print(f"PyTorch: not measured ({r.get('torch_missing', 'no model measured')})")
        return 0
    print()
    print(
        f"{'model':34} {'host step':>10} {'host RSS':>10} {'PyTorch step':>13} {'PyTorch RSS':>12} "
        f"{'host speed-up':>14} {'memory ratio':>13}"
    )
    for rec in r["models"].values():
        h, t = rec["host"], rec["torch"]
        print(
            f"{rec['title']:34} {h['step_ms']:7.2f} ms {h['peak_rss_bytes'] / 2**20:7.1f} MB "
            f"{t['step_ms']:10.2f} ms {t['peak_rss_bytes'] / 2**20:9.1f} MB "
            f"{_times(rec['host_speedup_vs_torch']):>14} {_times(rec['host_memory_ratio_vs_torch']):>13}"
        )
    print(
        f"(PyTorch {r['torch_version']} on the CPU, one thread, batch 1, same trained layers: median of "
        "its timed steps after warm-up, peak RSS of its own process; ratios are PyTorch's over the host's)"
    )
    return 0


def _print_cmsis_nn(r: dict[str, Any]) -> None:
    """The forward beside CMSIS-NN's, when it was measured."""
    recs = [rec for rec in r["models"].values() if "cmsis_nn" in rec]
    if not recs:
        return
    print()
    print(f"{'model':34} {'forward':>10} {'CMSIS-NN':>10} {'ratio':>7}  CMSIS-NN by kind; not timed")
    for rec in recs:
        c = rec["cmsis_nn"]
        kinds = ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in c["by_kind"].items() if v)
        ours = rec["dsp"]["forward_instructions"]
        print(
            f"{rec['title']:34} {ours / 1e6:8.1f} M {c['forward_instructions'] / 1e6:8.1f} M "
            f"{_times(rec['forward_speedup_vs_cmsis_nn']):>7}  {kinds}; {', '.join(c['not_timed']) or 'none'}"
        )
    print(
        f"(CMSIS-NN {recs[0]['cmsis_nn']['revision'] or '(no git revision)'}: the same layer shapes and quantisation "
        "through its s8 wrappers, built with the same flags, on the same emulator; ratio is its count over ours)"
    )


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
    p.add_argument("--steps", type=int, default=2, help="training steps per build (PyTorch: at least 20 timed steps)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--require-torch",
        action="store_true",
        help="fail when PyTorch is not installed (by default its figures and the ratios are then null)",
    )
    p.add_argument(
        "--cmsis-nn",
        metavar="DIR",
        default=default_checkout(),
        help=f"a CMSIS-NN checkout: also run each model's forward through CMSIS-NN on the emulated M7 "
        f"(default ${CMSIS_NN_ENV})",
    )
    p.set_defaults(func=_bench)
    return p
