"""Shared pytest fixtures: firmware builds (once per session) and boards to talk to."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def _need(command: str) -> None:
    if shutil.which(command) is None:
        pytest.skip(f"{command} is not installed (tools/setup installs it)")


@pytest.fixture(scope="session")
def native_program() -> Path:
    from kilotrain.device import toolchain

    return toolchain.build("native")


@pytest.fixture(scope="session")
def qemu_elf() -> Path:
    from kilotrain.device import toolchain

    _need("arm-none-eabi-gcc")
    _need("qemu-system-arm")
    return toolchain.build("qemu_m7")
