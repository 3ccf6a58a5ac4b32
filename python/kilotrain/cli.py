"""The ``kilotrain`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Callable

from . import __version__


def _cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor

    return doctor.main(fix=args.fix)


def _cmd_build(args: argparse.Namespace) -> int:
    from . import toolchain

    for env_name in args.env:
        program = toolchain.build(env_name)
        print(f"{env_name}: {program}")
    return 0


def _cmd_qemu(args: argparse.Namespace) -> int:
    from . import toolchain
    from .qemu import QemuBoard

    elf = toolchain.build("qemu_m7") if not args.no_build else toolchain.REPO_ROOT / ".pio/build/qemu_m7/firmware.elf"
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
    return parser


def main(argv: list[str] | None = None) -> int:
    from .toolchain import ToolError

    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ToolError, ValueError, FileNotFoundError) as exc:
        print(f"kilotrain: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
