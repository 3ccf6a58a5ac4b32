"""`pio run -e disco_bm -t upload` hands the built ELF to Debian's OpenOCD with the STM32F746G-DISCO
ST-LINK board config. No board here: a stand-in `openocd` first on the PATH records its arguments."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from kilotrain.device import doctor, toolchain


@pytest.mark.qemu  # needs arm-none-eabi-gcc
def test_upload_hands_the_elf_to_openocd(tmp_path: Path) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "openocd-args.txt"
    bin_dir.mkdir()
    fake = bin_dir / "openocd"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    build = tmp_path / "pio"
    toolchain.pio(
        "run",
        "-e",
        "disco_bm",
        "-t",
        "upload",
        extra_env={
            "PLATFORMIO_BUILD_DIR": str(build),
            "KILOTRAIN_MODEL_DIR": "-",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        },
    )
    elf = build / "disco_bm" / "firmware.elf"
    assert elf.exists()
    args = log.read_text().splitlines()
    assert args == ["-f", "board/stm32f746g-disco.cfg", "-c", f"program {{{elf.resolve()}}} verify reset exit"]


def test_doctor_reports_openocd() -> None:
    check = next(c for c in doctor.run_checks() if "OpenOCD" in c.name)
    assert check.ok == (toolchain.shutil.which("openocd") is not None)
