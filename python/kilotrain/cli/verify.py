"""``kilotrain verify``: replay a ``kilotrain stream`` report through the golden model and compare
what the device answered and learned, bit for bit.

    kilotrain verify run.json [--json]

Prints OK, or the first differing answer and the first differing parameter tensor and channel
(exit 1). A report edited after the run, or whose frames file does not match, is refused in one
line (exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kilotrain.jobs.verify import run_verify


def _verify(args: argparse.Namespace) -> int:
    v = run_verify(Path(args.report), progress=not args.json)
    if args.json:
        print(json.dumps(v.as_dict()))
    elif v.ok:
        print(
            f"OK: {v.frames} frames replayed ({v.steps} training steps); the device's answers and parameters "
            f"equal the golden model's bit for bit (params_sha256 {v.params_sha256})"
        )
    else:
        print(f"DIFFERENT: {v.first_difference}")
    return 0 if v.ok else 1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain verify`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="replay a stream report through the golden model and compare bit for bit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("report", help="a report written by kilotrain stream --report")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)
    return p
