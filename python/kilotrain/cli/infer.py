"""``kilotrain infer``: one frame through an int8 model; prints the int8 output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.jobs.infer import run_inference
from kilotrain.model.ops import ENGINES


def _infer(args: argparse.Namespace) -> int:
    r = run_inference(args.model, args.image, args.engine)
    if args.json:
        print(json.dumps(r))
        return 0
    flat = np.asarray(r["output"])
    shown = ", ".join(str(int(v)) for v in flat[:16]) + (", ..." if flat.size > 16 else "")
    print(f"{args.model.name} [{args.engine}] output {r['shape']} int8: [{shown}]")
    if flat.size > 2:
        top = np.argsort(-flat.astype(np.int32), kind="stable")[:5]
        print("  top-5 indices: " + ", ".join(str(int(i)) for i in top))
    if args.engine == "qemu":
        print(
            f"  {r['instructions']:,} instructions; peak SRAM {r['peak_sram_bytes']:,} B "
            f"(static {r['static_sram_bytes']:,} incl. arena {r['arena_bytes']:,}, "
            f"stack {r['stack_high_water_bytes']:,}); flash {r['flash_bytes']:,} B"
        )
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("infer", help="run one frame through an int8 TFLite model and print the int8 output")
    p.add_argument("model", type=Path, help="an int8 .tflite model")
    p.add_argument("--image", required=True, help="PNG/BMP/JPEG (converted by the documented rule) or .npy int8 tensor")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="golden",
        help="golden = numpy model, c = the C kernels on the host, qemu = the firmware on the emulated M7",
    )
    p.add_argument("--json", action="store_true", help='print {"output": [...], "shape": [...], ...}')
    p.set_defaults(func=_infer)
