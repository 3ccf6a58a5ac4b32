"""``kilotrain stream``: train, evaluate or run a board's model on frames sent over its serial port.

    kilotrain stream (--port DEVICE [--baud B] | --qemu) [--model MODEL --scheme S [--lr LR] ...]
                     (--dataset lfw|digits|mnist5k | --folder DIR | --camera N [--label K])
                     [--train | --eval | --infer] [--frames N] [--eval-frames N] [--seed S]
                     [--lr-shift K] [--checkpoint-every N] [--fresh] [--report run.json]
                     [--plot run.png] [--json]

The device must run the model the host expects: ``--model``/``--scheme`` (with the ``--lr``,
``--rounding``, ``--input-size`` and ``--dataset`` it was compiled with), or by default what
``kilotrain compile`` last wrote. ``--qemu`` builds that image and boots the emulated board.
``--train`` restarts the device from the flashed parameters, reports held-out accuracy before and
after, and trains on N frames; ``--checkpoint-every N`` has the device write its training state
into its checkpoint store every N steps and at the end (a reset restores the newest). A device
that already holds a checkpoint is left alone unless ``--fresh`` erases it. ``--eval`` and
``--infer`` use the parameters as they are (a restored checkpoint's).
``--folder DIR`` holds one sub-folder of PNG/JPEG/BMP images per class. ``kilotrain verify
run.json`` replays a report through the golden model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kilotrain.cli.compile import add_spec_arguments, spec_from_args
from kilotrain.data.datasets import dataset_arg
from kilotrain.jobs.stream import StreamJob, plot_report, run_stream


def _stream(args: argparse.Namespace) -> int:
    job = StreamJob(
        port=args.port,
        qemu=args.qemu,
        baud=args.baud,
        spec=spec_from_args(args) if args.model is not None else None,
        dataset=args.dataset,
        folder=args.folder,
        camera=args.camera,
        label=args.label,
        mode=args.mode,
        frames=args.frames,
        eval_frames=args.eval_frames,
        seed=args.seed,
        lr_shift=args.lr_shift,
        report=Path(args.report) if args.report else None,
        timeout=args.timeout,
        fresh=args.fresh,
        checkpoint_every=args.checkpoint_every,
    )
    r = run_stream(job, progress=not args.json)
    if args.plot:
        plot_report(r, Path(args.plot))
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "records"}))
        return 0
    d, s = r["device"], r["summary"]
    src = r["source"].get("name") or r["source"].get("path") or f"camera {r['source'].get('index')}"
    print(
        f"{r['model_name']} on {d['board']} ({r['link']['port']}), scheme {r['spec']['scheme']['name']}, "
        f"{r['mode']} on {src}: {len(r['records'])} frames in {r['seconds']} s"
    )
    for key, title in (
        ("eval_before", "held-out accuracy before"),
        ("eval_after", "held-out accuracy after"),
        ("eval", "held-out accuracy"),
    ):
        if key in s:
            e = s[key]
            print(f"  {title:25s} {100 * e['accuracy']:5.1f}% ({e['correct']}/{e['frames']}), loss {e['loss']:.4f}")
    if "train" in s:
        t = s["train"]
        print(
            f"  trained {t['steps']} steps on the device: loss {t['loss_first_20']} (first 20) -> "
            f"{t['loss_last_20']} (last 20), running accuracy {100 * t['running_accuracy']:.1f}%"
        )
    if "checkpoints" in s:
        c, n = s["checkpoints"][-1], len(s["checkpoints"])
        print(f"  {n} checkpoints written; the last: #{c['seq']} at step {c['steps']}, slot {c['slot']}")
    if "infer" in s:
        print(f"  predictions: {', '.join(f'{k} x{v}' for k, v in s['infer']['predicted'].items())}")
    ins = ""
    if s.get("instructions_per_step_mean"):
        ins += f", {s['instructions_per_step_mean']:,} instructions per training step (mean)"
    if s.get("instructions_per_inference_mean"):
        ins += f", {s['instructions_per_inference_mean']:,} per inference"
    print(f"  peak SRAM {s['peak_sram_bytes']:,} B{ins}")
    print(f"  params_sha256 {r['params_sha256']}")
    if args.report:
        print(f"  report {args.report}; check it with: kilotrain verify {args.report}")
    if args.plot:
        print(f"  plot {args.plot}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain stream`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "stream",
        help="train / evaluate / infer on a board over its serial port, with a report to verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    link = p.add_mutually_exclusive_group(required=True)
    link.add_argument("--port", help="the board's serial device, e.g. /dev/ttyACM0 (or a QEMU pty)")
    link.add_argument("--qemu", action="store_true", help="build the image and boot it on the emulated Cortex-M7")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for each answer")
    add_spec_arguments(p, model_required=False)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--dataset", type=dataset_arg, metavar="DATASET", help="a packaged data set (its training and held-out split)"
    )
    src.add_argument("--folder", help="DIR/<class>/<image>: one sub-folder of PNG/JPEG/BMP images per class")
    src.add_argument("--camera", type=int, help="OpenCV camera index (the camera extra)")
    p.add_argument(
        "--label", type=int, default=None, help="--camera: the label of every frame (else the digit typed last)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train", dest="mode", action="store_const", const="train", help="train (the default)")
    mode.add_argument("--eval", dest="mode", action="store_const", const="eval", help="held-out accuracy only")
    mode.add_argument("--infer", dest="mode", action="store_const", const="infer", help="predictions and logits")
    p.set_defaults(mode="train")
    p.add_argument("--frames", type=int, default=None, help="training (or inference) frames; --train: 100")
    p.add_argument("--eval-frames", type=int, default=None, help="held-out frames per evaluation (default: all)")
    p.add_argument("--seed", type=int, default=0, help="split and order of the frames")
    p.add_argument("--lr-shift", type=int, default=0, help="train at the compiled lr * 2^K (SET_LR)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="--train: write a checkpoint on the device after every N steps and at the end (restored at boot)",
    )
    p.add_argument("--fresh", action="store_true", help="--train on a device that holds a checkpoint: erase it first")
    p.add_argument("--report", help="write the run's report here (and its frames beside it)")
    p.add_argument("--plot", help="loss and accuracy over the steps, as a PNG")
    p.add_argument("--json", action="store_true", help="print the report (without its records) as JSON")
    p.set_defaults(func=_stream)
    return p
