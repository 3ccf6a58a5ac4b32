"""``kilotrain doctor``: is everything kilotrain needs here? Versions, and the fix for what is not."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass

from kilotrain.device import toolchain
from kilotrain.paths import REPO_ROOT


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # version when ok, the exact fix when not


def _package(name: str) -> Check:
    try:
        return Check(f"python: {name}", True, importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return Check(f"python: {name}", False, f"{sys.executable} -m pip install -e '{REPO_ROOT}[dev]'")


def _newlib() -> Check:
    try:
        out = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=nano.specs"], capture_output=True, text=True)
        path = out.stdout.strip()
    except FileNotFoundError:
        path = ""
    ok = path.startswith("/")
    return Check("newlib-nano (nano.specs)", ok, path if ok else toolchain.APT_FIX)


def run_checks() -> list[Check]:
    checks = [Check("python", sys.version_info >= (3, 10), sys.version.split()[0])]
    for tool in toolchain.TOOLS:
        v = toolchain.version(tool)
        checks.append(Check(tool.name, v is not None, v or tool.fix))
    checks.append(_newlib())
    for pkg in ("numpy", "jinja2", "pyserial", "platformio", "scons", "tflite"):
        checks.append(_package(pkg))
    shim = toolchain.scons_shim_installed()
    checks.append(
        Check(
            "PlatformIO offline SCons shim",
            shim,
            str(toolchain.CORE_DIR) if shim else "kilotrain doctor --fix  (or tools/setup)",
        )
    )
    for platform in ("platform-native", "platform-cortexm", "tool-scons"):
        d = REPO_ROOT / "tools" / "pio" / platform
        checks.append(
            Check(f"local package {platform}", d.is_dir(), str(d) if d.is_dir() else "restore tools/pio from git")
        )
    return checks
