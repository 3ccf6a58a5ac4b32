"""``kilotrain convert``: a float PyTorch model with trained weights to a kilotrain int8 model
file, checked against the float model (docs/custom-models.md).

    kilotrain convert zoo:NAME --weights CKPT.pt --dataset NAME --out MODEL.ktm
                      [--input-size R] [--calib N] [--json]
    kilotrain convert zoo:NAME --train EPOCHS --dataset NAME --out MODEL.ktm ...

``--train EPOCHS`` trains the twin on the data set's training split first (Adam, seeded; e.g. a
source task such as ``mnist5k:0-4`` for a transfer-learning study) and prints its float test
accuracy.

The architecture is the zoo's PyTorch twin (kilotrain.model.zoo_torch); the weights a state dict
(or a checkpoint holding one under ``state_dict`` or ``model``) trained on that twin; the
activation ranges come from N training images of the data set. Prints how often the int8
model's top-1 class is the float model's on those images. The .ktm goes wherever a .tflite goes
(plan, train, compile, infer, stream). Needs the torch extra.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from kilotrain.data.datasets import dataset_arg
from kilotrain.jobs.convert import ConvertJob, run_convert
from kilotrain.model.zoo_torch import ZOO_MODULES


def _convert(args: argparse.Namespace) -> int:
    job = ConvertJob(
        args.source, args.out, args.dataset, args.weights, args.input_size, args.calib, args.seed, args.train
    )
    r = run_convert(job)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['source']} ({_weights(r)}) -> {r['out']}: {len(r['ops'])} ops, input {tuple(r['input_shape'])}")
    print(
        f"  int8 top-1 = float top-1 on {r['top1_agreement']:.1%} of {r['calibration_images']} "
        f"{r['dataset']} calibration images"
    )
    return 0


def _weights(r: dict[str, Any]) -> str:
    if r["weights"]:
        return "weights " + r["weights"]
    if "train_epochs" in r:
        return (
            f"trained {r['train_epochs']} epochs on {r['dataset']}: float test accuracy {r['float_test_accuracy']:.1%}"
        )
    return "initial weights"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain convert`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "convert",
        help="a float PyTorch model (a zoo architecture + trained weights) to an int8 .ktm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="zoo:NAME, one of: " + ", ".join("zoo:" + z for z in ZOO_MODULES))
    p.add_argument("--weights", help="PyTorch state dict or checkpoint (.pt) for that architecture")
    p.add_argument(
        "--dataset", required=True, type=dataset_arg, metavar="DATASET", help="where the calibration images come from"
    )
    p.add_argument("--out", required=True, help="the .ktm to write")
    p.add_argument("--input-size", type=int, help="input height = width (default: the zoo's)")
    p.add_argument("--calib", type=int, default=256, help="calibration images (default 256)")
    p.add_argument(
        "--train", type=int, default=0, metavar="EPOCHS", help="train on the data set first (instead of --weights)"
    )
    p.add_argument("--seed", type=int, default=0, help="split, initial weights and training order (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_convert)
    return p
