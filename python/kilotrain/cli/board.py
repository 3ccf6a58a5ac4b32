"""``kilotrain doctor``, ``kilotrain build`` and ``kilotrain qemu``: the toolchain and the board."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from kilotrain.device import doctor, toolchain
from kilotrain.device.boards import QemuBoard


def _doctor(args: argparse.Namespace) -> int:
    if args.fix:
        toolchain.ensure_scons_shim()
    checks = doctor.run_checks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok " if c.ok else "MISSING"
        print(f"{c.name:<{width}}  {mark:<7}  {c.detail}")
    missing = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(missing)} of {len(checks)} checks passed" + ("" if not missing else "; fixes above"))
    return 0 if not missing else 1


def _build(args: argparse.Namespace) -> int:
    for env_name in args.env:
        print(f"{env_name}: {toolchain.build(env_name)}")
    return 0


def _qemu(args: argparse.Namespace) -> int:
    elf = toolchain.program_path("qemu_m7") if args.no_build else toolchain.build("qemu_m7")
    with QemuBoard(elf, port=args.port or None) as board:
        info = board.device.info()
        echo = bytes(range(256)) * 4
        echoed = board.device.echo(echo) == echo
    if args.json:
        print(json.dumps({**asdict(info), "echo_ok": echoed, "port": board.port}))
    else:
        print(
            f"kilotrain firmware {info.firmware_version} (protocol {info.protocol_version}) on {info.board}, "
            f"QEMU {board.port}/tcp"
        )
        print(
            f"  SRAM  {info.sram_bytes // 1024} KB, static use {info.static_ram_bytes} B "
            f"(stack {info.stack_bytes} B, high-water {info.stack_high_water_bytes} B)"
        )
        print(
            f"  flash {info.flash_bytes // 1024} KB; counter {info.counter_hz} Hz, "
            f"{info.instructions_per_tick} instructions/tick; max frame payload {info.max_payload} B"
        )
        print(f"  INFO round trip ok; 1 KiB ECHO {'ok' if echoed else 'MISMATCH'}")
    return 0 if echoed else 1


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check toolchain, QEMU and PlatformIO packages; print versions and fixes")
    p.add_argument("--fix", action="store_true", help="install the project-local PlatformIO SCons shim first")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("build", help="build PlatformIO environments offline")
    p.add_argument("env", nargs="*", default=["native", "qemu_m7", "disco_bm"])
    p.set_defaults(func=_build)

    p = sub.add_parser("qemu", help="build qemu_m7, boot it in QEMU and do an INFO round trip over the serial link")
    p.add_argument("--port", type=int, default=0, help="loopback TCP port for the UART (default: a free one)")
    p.add_argument("--no-build", action="store_true", help="boot the existing ELF without rebuilding")
    p.add_argument("--json", action="store_true", help="print the INFO answer as JSON")
    p.set_defaults(func=_qemu)
