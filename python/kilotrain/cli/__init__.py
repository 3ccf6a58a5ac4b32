"""The ``kilotrain`` command line: argument parsing and printing only; every command calls one
library function (``kilotrain.jobs`` or ``kilotrain.device``) and prints what it returns."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable

from kilotrain import __version__
from kilotrain.cli import bench, board, compile, convert, infer, plan, profile, search, stream, study, train, verify
from kilotrain.device.link import DeviceError, DeviceTimeout
from kilotrain.device.toolchain import ToolError
from kilotrain.device.train_client import CheckpointMismatch, StepFailed
from kilotrain.extras import MissingExtra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kilotrain", description="On-device int8 training for microcontrollers.")
    parser.add_argument("--version", action="version", version=f"kilotrain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    bench.add_parser(sub)
    board.add_parsers(sub)
    compile.add_parser(sub)
    convert.add_parser(sub)
    infer.add_parser(sub)
    plan.add_parser(sub)
    profile.add_parser(sub)
    search.add_parser(sub)
    stream.add_parser(sub)
    study.add_parser(sub)
    train.add_parser(sub)
    verify.add_parser(sub)
    return parser


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM: unwind like Ctrl-C, so every ``finally`` runs (boards stop, ports close)."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        return func(args)
    except (
        ToolError,
        ValueError,
        FileNotFoundError,
        MissingExtra,
        DeviceError,
        DeviceTimeout,
        StepFailed,
        CheckpointMismatch,
    ) as exc:
        print(f"kilotrain: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kilotrain: interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
