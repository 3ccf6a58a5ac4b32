"""``kilotrain plan``: will this model train with this scheme on the board? Prints the all-in peak
SRAM of the training image by part, its flash, where the arena peaks, and whether it fits; nothing
is built (docs/memory.md).

    kilotrain plan MODEL --scheme SCHEME [--input-size R] [--dataset NAME]
                   [--board qemu_m7|disco_bm] [--no-pack] [--json] [--plot out.png]

MODEL is a ``.tflite`` path or a zoo name, as in ``kilotrain train``; ``--dataset`` sizes a zoo
model's classifier for that data set (as ``train`` does; 10 classes without it). Frozen
convolutions count as packed (``kilotrain compile``'s default) unless ``--no-pack``, or unless
only the unpacked image fits the board's flash. Exit status 1 when the image would not fit the
board, with the breakdown and what to drop.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kilotrain.data.datasets import dataset_arg
from kilotrain.device.memory import BOARDS
from kilotrain.jobs.plan import PlanJob, plot_occupancy, run_plan
from kilotrain.model.load import ZOO
from kilotrain.training.scheme import PRESETS


def _plan(args: argparse.Namespace) -> int:
    job = PlanJob(args.model, args.scheme, args.input_size, args.dataset, args.board, pack=not args.no_pack)
    r = run_plan(job)
    if args.plot:
        print(f"arena occupancy plot: {plot_occupancy(r, Path(args.plot))}")
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "occupancy"}))
        return 0 if r["fits"] else 1
    kb = 1024
    print(
        f"{r['model']} {tuple(r['input_shape'])}, scheme {r['scheme']} on {r['board']}: "
        f"peak SRAM {r['peak_sram_bytes']:,} B "
        f"({r['peak_sram_bytes'] / kb:.1f} KB of {r['board_sram_bytes'] / kb:.0f}), "
        f"flash {r['flash_bytes']:,} B ({r['flash_bytes'] / kb:.0f} KB of {r['board_flash_bytes'] / kb:.0f}; "
        f"{r['packed_layers']} packed layers)"
    )
    for k, v in r["breakdown"].items():
        print(f"  {k.replace('_', ' '):18s} {v:9,d} B")
        if k == "arena":
            print(f"    at its peak, {r['peak_step']}:")
            for part, n in r["arena_at_peak"].items():
                print(f"      {part.replace('_', ' '):18s} {n:9,d} B")
    print("fits" if r["fits"] else f"does not fit: {r['does_not_fit']}")
    return 0 if r["fits"] else 1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain plan`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "plan",
        help="will it fit? all-in peak SRAM and flash of the training image, by part",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .tflite file or " + " | ".join("zoo:" + z for z in ZOO))
    p.add_argument("--scheme", default="last-layer", help=" | ".join(PRESETS) + " | a .json file")
    p.add_argument("--input-size", type=int, default=None, help="zoo models: input resolution")
    p.add_argument(
        "--dataset",
        type=dataset_arg,
        metavar="DATASET",
        default=None,
        help="zoo models: one output per class of this data set",
    )
    p.add_argument("--board", choices=BOARDS, default="qemu_m7")
    p.add_argument("--no-pack", action="store_true", help="keep every frozen filter as int8 (as compile --no-pack)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="PNG", default=None, help="write the arena occupancy over the schedule")
    p.set_defaults(func=_plan)
    return p
