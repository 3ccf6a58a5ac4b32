"""``kilotrain compile``: generate the training firmware for a model and a scheme into the build
tree (build/compiled/: kt_train.c + manifest.json), where a plain ``pio run -e <board>`` builds it.

    kilotrain compile MODEL --scheme SCHEME [--input-size R] [--dataset NAME] [--lr LR]
                      [--rounding stochastic|nearest] [--board qemu_m7|disco_bm|native]
                      [--no-pack] [--json]
    kilotrain compile --clear          # back to the model-less image

Compiling again replaces what was compiled before. A scheme that does not fit the board fails
here, with the breakdown (as ``kilotrain plan``). Frozen convolutions run from packed filters
(faster, about twice their flash) unless ``--no-pack``, or unless the packed image would not fit
the board's flash and the unpacked one would.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kilotrain.data.datasets import dataset_arg
from kilotrain.jobs.compile import COMPILE_BOARDS, CompileJob, ModelSpec, clear, run_compile
from kilotrain.model.load import ZOO
from kilotrain.paths import compiled_dir
from kilotrain.training.plan import ROUNDINGS
from kilotrain.training.scheme import PRESETS


def _compile(args: argparse.Namespace) -> int:
    if args.clear:
        print(f"removed {compiled_dir()}" if clear() else f"nothing compiled in {compiled_dir()}")
        return 0
    if args.model is None:
        print("kilotrain compile: error: MODEL is required (or --clear)", file=sys.stderr)
        return 2
    job = CompileJob(**vars(spec_from_args(args)), board=args.board, pack=not args.no_pack)
    m = run_compile(job)
    if args.json:
        print(json.dumps(m))
        return 0
    p = m["plan"]
    print(
        f"{m['model_name']} {tuple(m['input']['shape'])}, scheme {m['scheme']['name']}, lr {m['lr']} "
        f"for {m['board']}: peak SRAM {p['peak_sram_bytes']:,} B, flash <= {p['flash_bytes']:,} B, "
        f"{m['packed_layers']} packed layers"
    )
    print(f"  wrote {compiled_dir()}/kt_train.c and manifest.json (model {m['model_digest'][:16]}…)")
    upload = f"; upload: pio run -e {m['board']} -t upload" if m["board"] == "disco_bm" else ""
    print(f"  build it: pio run -e {m['board']}{upload}")
    return 0


def add_spec_arguments(p: argparse.ArgumentParser, model_required: bool, positional: bool = False) -> None:
    """The options naming a compiled model (:class:`ModelSpec`), shared by compile and stream."""
    what = "a .tflite file or " + " | ".join("zoo:" + z for z in ZOO)
    if positional:
        p.add_argument("model", nargs=None if model_required else "?", help=what)
    else:
        p.add_argument("--model", required=model_required, help=what + " (default: the compiled manifest's)")
    p.add_argument("--scheme", default="last-layer", help=" | ".join(PRESETS) + " | a .json file")
    p.add_argument("--input-size", type=int, default=None, help="zoo models: input resolution")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate in real units (QAS), compiled in")
    p.add_argument("--rounding", choices=ROUNDINGS, default="stochastic")


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The :class:`ModelSpec` of parsed :func:`add_spec_arguments` options."""
    return ModelSpec(
        model=args.model,
        scheme=args.scheme,
        input_size=args.input_size,
        dataset=args.dataset,  # compile: the class names; stream: the frame source's
        lr=args.lr,
        rounding=args.rounding,
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain compile`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "compile",
        help="generate the training firmware for a board build (build/compiled/, read by pio run)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_arguments(p, model_required=False, positional=True)
    p.add_argument(
        "--dataset",
        type=dataset_arg,
        metavar="DATASET",
        default=None,
        help="class names (and a zoo model's class count)",
    )
    p.add_argument("--board", choices=COMPILE_BOARDS, default="qemu_m7")
    p.add_argument(
        "--no-pack",
        action="store_true",
        help="keep every frozen filter as int8 (packed filters run faster but take more flash; "
        "by default they are used where the board's flash holds them)",
    )
    p.add_argument("--clear", action="store_true", help="remove the compiled model")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=_compile)
    return p
