"""The ``kilotrain`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from kilotrain import __version__


def _cmd_doctor(args: argparse.Namespace) -> int:
    from kilotrain.device import doctor

    return doctor.main(fix=args.fix)


def _cmd_build(args: argparse.Namespace) -> int:
    from kilotrain.device import toolchain

    for env_name in args.env:
        program = toolchain.build(env_name)
        print(f"{env_name}: {program}")
    return 0


def _cmd_qemu(args: argparse.Namespace) -> int:
    from kilotrain.device import toolchain
    from kilotrain.device.boards import QemuBoard

    elf = toolchain.program_path("qemu_m7") if args.no_build else toolchain.build("qemu_m7")
    with QemuBoard(elf, port=args.port or None) as board:
        info = board.device.info()
        echo = bytes(range(256)) * 4
        echoed = board.device.echo(echo) == echo
    if args.json:
        print(json.dumps({**asdict(info), "echo_ok": echoed, "port": board.port}))
    else:
        print(f"kilotrain firmware {info.firmware_version} (protocol {info.protocol_version}) on {info.board}, "
              f"QEMU {board.port}/tcp")
        print(f"  SRAM  {info.sram_bytes // 1024} KB, static use {info.static_ram_bytes} B "
              f"(stack {info.stack_bytes} B, high-water {info.stack_high_water_bytes} B)")
        print(f"  flash {info.flash_bytes // 1024} KB; counter {info.counter_hz} Hz, "
              f"{info.instructions_per_tick} instructions/tick; max frame payload {info.max_payload} B")
        print(f"  INFO round trip ok; 1 KiB ECHO {'ok' if echoed else 'MISMATCH'}")
    return 0 if echoed else 1


def _cmd_infer(args: argparse.Namespace) -> int:
    import numpy as np

    from kilotrain.data import images
    from kilotrain.model.tflite import load_tflite
    from kilotrain.reference import executor

    graph = load_tflite(args.model)
    x = images.load_input(args.image, graph.input)
    result: dict[str, object] = {"engine": args.engine, "model": str(args.model)}
    if args.engine == "golden":
        y = np.asarray(executor.run(graph, x))
    elif args.engine == "c":
        from kilotrain.kernels import forward as ckernels

        y = np.asarray(executor.run(graph, x, ckernels))
    else:
        from kilotrain.device.boards import QemuBoard
        from kilotrain.device.firmware import ModelClient, build_with_model

        image = build_with_model(graph, args.model.name)
        with QemuBoard(image.elf) as board:
            r = ModelClient(board.device).invoke(x)
        if r.status != 0:
            raise ValueError(f"the firmware's forward pass returned status {r.status}")
        y = r.output.reshape(graph.output.shape)
        result.update(
            instructions=r.instructions,
            arena_bytes=image.generated.plan.arena_size,
            static_sram_bytes=image.static_sram_bytes,
            stack_high_water_bytes=r.stack_high_water,
            peak_sram_bytes=image.static_sram_bytes + r.stack_high_water,
            flash_bytes=image.flash_bytes,
        )
    result.update(output=y.reshape(-1).astype(int).tolist(), shape=list(y.shape))
    if args.json:
        print(json.dumps(result))
    else:
        flat = y.reshape(-1)
        shown = ", ".join(str(int(v)) for v in flat[:16]) + (", ..." if flat.size > 16 else "")
        print(f"{args.model.name} [{args.engine}] output {list(y.shape)} int8: [{shown}]")
        if flat.size > 2:
            top = np.argsort(-flat.astype(np.int32), kind="stable")[:5]
            print("  top-5 indices: " + ", ".join(str(int(i)) for i in top))
        if args.engine == "qemu":
            print(f"  {result['instructions']:,} instructions; peak SRAM {result['peak_sram_bytes']:,} B "
                  f"(static {result['static_sram_bytes']:,} incl. arena {result['arena_bytes']:,}, "
                  f"stack {result['stack_high_water_bytes']:,}); flash {result['flash_bytes']:,} B")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kilotrain", description="On-device int8 training for microcontrollers.")
    parser.add_argument("--version", action="version", version=f"kilotrain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check toolchain, QEMU and PlatformIO packages; print versions and fixes")
    p.add_argument("--fix", action="store_true", help="install the project-local PlatformIO SCons shim first")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("build", help="build PlatformIO environments offline")
    p.add_argument("env", nargs="*", default=["native", "qemu_m7", "disco_bm"])
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("qemu", help="build qemu_m7, boot it in QEMU and do an INFO round trip over the serial link")
    p.add_argument("--port", type=int, default=0, help="loopback TCP port for the UART (default: a free one)")
    p.add_argument("--no-build", action="store_true", help="boot the existing ELF without rebuilding")
    p.add_argument("--json", action="store_true", help="print the INFO answer as JSON")
    p.set_defaults(func=_cmd_qemu)

    p = sub.add_parser("infer", help="run one frame through an int8 TFLite model and print the int8 output")
    p.add_argument("model", type=Path, help="an int8 .tflite model")
    p.add_argument("--image", required=True, help="PNG/BMP/JPEG (converted by the documented rule) or .npy int8 tensor")
    p.add_argument("--engine", choices=("golden", "c", "qemu"), default="golden",
                   help="golden = numpy model, c = the C kernels on the host, qemu = the firmware on the emulated M7")
    p.add_argument("--json", action="store_true", help='print {"output": [...], "shape": [...], ...}')
    p.set_defaults(func=_cmd_infer)

    from kilotrain.cli.train import add_train_parser

    add_train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from kilotrain.device.toolchain import ToolError

    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ToolError, ValueError, FileNotFoundError) as exc:
        print(f"kilotrain: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
