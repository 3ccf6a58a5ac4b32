"""``kilotrain profile``: where a training step's instructions go, op by op, on the emulated M7.

    kilotrain profile MODEL [--scheme S] [--input-size R] [--dataset NAME] [--lr LR]
                      [--steps 3] [--portable] [--top 25] [--out profile.json] [--json]

Builds the training image with the profiling flag (``-DKT_PROFILE``, off in every other build),
runs the steps inside QEMU and prints the regions sorted by instructions per step: each kernel
call of the forward pass and of backward (input gradients, weight updates), the loss and the
scale policy, then the totals by phase and by kernel. ``--portable`` profiles the portable C
(``-DKT_USE_DSP=0``) instead of the DSP fast paths; ``--out`` writes the whole profile as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kilotrain.cli.compile import add_spec_arguments, spec_from_args
from kilotrain.data.datasets import dataset_arg
from kilotrain.jobs.profile import ProfileJob, run_profile


def _profile(args: argparse.Namespace) -> int:
    job = ProfileJob(spec_from_args(args), steps=args.steps, dsp=not args.portable, seed=args.seed)
    r = run_profile(job, progress=not args.json)
    if args.out:
        Path(args.out).write_text(json.dumps(r, indent=1) + "\n")
    if args.json:
        print(json.dumps(r))
        return 0
    total = r["instructions_per_step"]
    path = "DSP fast paths" if r["dsp"] else "portable C"
    print(
        f"{Path(r['model']).name} @{r['input_size'][0]}, {r['steps']} steps ({path}): {total:,} instructions per step"
    )
    print(f"  {'#':>4} {'instructions':>12} {'share':>6}  {'phase':10} {'op':>4} {'kind':18} kernel")
    for row in r["entries"][: args.top]:
        print(
            f"  {row['index']:>4} {row['instructions']:>12,} {100 * row['share']:5.1f}%  {row['phase']:10} "
            f"{row['op']:>4} {row['kind']:18} {row['kernel']}"
        )
    rest = len(r["entries"]) - args.top
    if rest > 0:
        print(f"  ... {rest} more regions (--top N, or --out FILE for all)")
    print("  by phase:  " + ", ".join(f"{k} {v:,}" for k, v in r["by_phase"].items()))
    print("  by kernel: " + ", ".join(f"{k} {v:,}" for k, v in list(r["by_kernel"].items())[:8]))
    if args.out:
        print(f"  profile written to {args.out}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain profile`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "profile",
        help="instructions per op of a training step on the emulated M7, sorted by cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_arguments(p, model_required=True, positional=True)
    p.add_argument(
        "--dataset",
        type=dataset_arg,
        metavar="DATASET",
        default=None,
        help="frames to train on (default: random inputs)",
    )
    p.add_argument("--steps", type=int, default=3, help="training steps to average over")
    p.add_argument("--seed", type=int, default=0, help="which frames")
    p.add_argument("--portable", action="store_true", help="profile the portable C (-DKT_USE_DSP=0)")
    p.add_argument("--top", type=int, default=25, help="regions to print")
    p.add_argument("--out", help="write the whole profile here as JSON")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(func=_profile)
    return p
