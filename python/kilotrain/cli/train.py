"""``kilotrain train``: train a model on a data set with the integer training step (or its float
reference), report loss / accuracy before and after on the test split and the trained
parameters' SHA-256.

    kilotrain train MODEL --dataset NAME --scheme SCHEME --steps N --seed S
                    [--engine golden|c|qemu] [--lr LR] [--mode int8|int8-noqas|fp32]
                    [--rounding stochastic|nearest] [--json]

MODEL is a ``.tflite`` path or a zoo name: ``zoo:tiny_cnn``, ``zoo:mbv2-w0.35``,
``zoo:proxyless-w0.3`` (``--input-size`` sets a zoo model's resolution; its class count follows
the data set). ``--mode fp32`` trains the float reference of the same graph and layers
(:mod:`kilotrain.training.float_reference`); ``int8-noqas`` is the integer step without QAS.
``--rounding`` picks the int8 weight update's rounding (stochastic by default, or to nearest).
Steps walk the training split in a seeded order, reshuffled every epoch.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kilotrain.data.datasets import DATASETS
from kilotrain.extras import MissingExtra
from kilotrain.jobs.engines import MODES
from kilotrain.jobs.train import TrainJob, run_training
from kilotrain.model.load import ZOO
from kilotrain.model.ops import ENGINES
from kilotrain.training.plan import ROUNDINGS
from kilotrain.training.scheme import PRESETS


def _train(args: argparse.Namespace) -> int:
    job = TrainJob(
        model=args.model,
        dataset=args.dataset,
        scheme=args.scheme,
        steps=args.steps,
        seed=args.seed,
        lr=args.lr,
        engine=args.engine,
        mode=args.mode,
        input_size=args.input_size,
        limit=args.limit,
        new_head=args.new_head,
        rounding=args.rounding,
    )
    try:
        r = run_training(job, progress=not args.json)
    except (ValueError, FileNotFoundError, MissingExtra) as e:
        print(f"kilotrain train: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r))
        return 0
    rounding = "" if r["rounding"] is None else ", " + r["rounding"] + " rounding"
    print(
        f"{r['model']} on {r['dataset']} ({r['train_size']} train / {r['test_size']} test), scheme {r['scheme']}, "
        f"{r['mode']}{rounding} ({r['engine']}), {r['steps']} steps, lr {r['lr']}, seed {r['seed']}"
    )
    print(
        f"  test loss {r['test_loss_before']:.4f} -> {r['test_loss_after']:.4f}   "
        f"accuracy {100 * r['test_acc_before']:.1f}% -> {100 * r['test_acc_after']:.1f}%"
    )
    print(
        f"  train loss (last epoch) {r['train_loss_last_epoch']}, gradient saturations {r['gradient_saturations']}, "
        f"training memory {r['memory']['total']} B, {r['seconds']} s"
    )
    if "device" in r:
        d = r["device"]
        print(
            f"  on the device: {d['instructions_per_step_mean']:,} instructions/step (mean), peak SRAM "
            f"{d['peak_sram_bytes']:,} B (static {d['static_sram_bytes']:,} incl. arena {d['arena_bytes']:,}, "
            f"stack {d.get('stack_high_water_bytes', 0):,}), flash {d['flash_bytes']:,} B"
        )
    if r["params_sha256"]:
        print(f"  params_sha256 {r['params_sha256']}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain train`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a model on a data set (golden integer step or float reference)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .tflite file or " + " | ".join("zoo:" + z for z in ZOO))
    p.add_argument("--dataset", required=True, help=" | ".join(DATASETS) + " | NAME:A-B (classes A..B)")
    p.add_argument("--scheme", default="last-layer", help=" | ".join(PRESETS) + " | a .json file")
    p.add_argument("--steps", type=int, default=100, help="training steps (batch 1)")
    p.add_argument("--seed", type=int, default=0, help="split and order seed")
    p.add_argument("--engine", choices=ENGINES, default="golden")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate in real units (QAS)")
    p.add_argument("--mode", choices=MODES, default="int8", help="int8 (QAS), int8-noqas, or fp32 (float reference)")
    p.add_argument(
        "--rounding", choices=ROUNDINGS, default="stochastic", help="int8 weight update rounding (default stochastic)"
    )
    p.add_argument("--input-size", type=int, default=None, help="zoo models: input resolution")
    p.add_argument("--limit", type=int, default=None, help="use at most this many images of the data set")
    p.add_argument(
        "--new-head",
        type=int,
        default=None,
        metavar="N",
        help="replace the classifier by a fresh N-way one (N >= the data set's classes): transfer learning",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_train)
    return p
