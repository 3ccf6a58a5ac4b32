"""Find and run the build tools: PlatformIO (from this venv, offline, project-local core),
arm-none-eabi-gcc and qemu-system-arm (Debian packages). Every failure is one line that names
the fix."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kilotrain.paths import REPO_ROOT

APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
APT_FIX = f"apt-get install -y --no-install-recommends {APT_PACKAGES}  (or run tools/setup)"
CLANG_FIX = "apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev  (or run tools/setup)"
CORE_DIR = REPO_ROOT / ".pio" / "core"
SCONS_SHIM = REPO_ROOT / "tools" / "pio" / "tool-scons"


class ToolError(RuntimeError):
    """A tool is missing or failed; the message is one line naming the fix."""


@dataclass(frozen=True)
class Tool:
    name: str
    command: str
    version_args: tuple[str, ...]
    fix: str


TOOLS = (
    Tool("host C compiler", "gcc", ("--version",), "apt-get install -y gcc"),
    Tool("ARM compiler", "arm-none-eabi-gcc", ("--version",), APT_FIX),
    Tool("QEMU (Cortex-M)", "qemu-system-arm", ("--version",), APT_FIX),
    Tool("OpenOCD (board upload)", "openocd", ("--version",), APT_FIX),
    Tool("clang (libFuzzer + sanitizers)", "clang-14", ("--version",), CLANG_FIX),
)


def require(command: str) -> str:
    """Absolute path of ``command`` or ToolError naming the package that provides it."""
    path = shutil.which(command)
    if path:
        return path
    for tool in TOOLS:
        if tool.command == command:
            raise ToolError(f"{command} not found: {tool.fix}")
    raise ToolError(f"{command} not found")


def version(tool: Tool) -> str | None:
    """First line of ``tool --version``, or None when it is not installed."""
    path = shutil.which(tool.command)
    if not path:
        return None
    out = subprocess.run([path, *tool.version_args], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0]


#: Variables that select what a build contains; only :func:`pio`'s ``extra_env`` sets them.
BUILD_VARIABLES = ("KILOTRAIN_MODEL_DIR", "PLATFORMIO_BUILD_DIR", "PLATFORMIO_BUILD_FLAGS")


def pio_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running PlatformIO offline with the project-local core."""
    env = {k: v for k, v in os.environ.items() if k not in BUILD_VARIABLES}
    env.update(extra_env or {})
    env["PLATFORMIO_CORE_DIR"] = str(CORE_DIR)
    env["PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL"] = "3650"  # no 61 s upgrade check
    env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "No"
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def pio_command() -> list[str]:
    exe = Path(sys.executable).parent / "pio"
    if not exe.exists():
        raise ToolError("PlatformIO is not installed in this Python environment: pip install -e . (or run tools/setup)")
    return [str(exe)]


def scons_shim_installed() -> bool:
    return (CORE_DIR / "packages" / "tool-scons.pio-link").exists() or (
        CORE_DIR / "packages" / "tool-scons" / ".piopm"
    ).exists()


def ensure_scons_shim() -> None:
    """Install the offline tool-scons shim into the project's PlatformIO core (0.5 s, once)."""
    if scons_shim_installed():
        return
    out = subprocess.run(
        [*pio_command(), "pkg", "install", "-g", "-t", f"symlink://{SCONS_SHIM}"],
        cwd=REPO_ROOT,
        env=pio_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise ToolError(f"could not install the SCons shim: {out.stderr.strip().splitlines()[-1:]}")


def pio(
    *args: str, quiet: bool = True, extra_env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``pio ARGS`` in the repository; raise ToolError with the first error line on failure
    (unless not ``check``: the caller reads the result). ``extra_env`` sets build variables
    (BUILD_VARIABLES) for this run only."""
    # one PlatformIO run at a time per checkout: parallel test workers share the core, the
    # SCons shim and (for plain builds) the build tree
    lock_path = REPO_ROOT / ".pio" / "kilotrain.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_scons_shim()
        out = subprocess.run(
            [*pio_command(), *args],
            cwd=REPO_ROOT,
            env=pio_env(extra_env),
            capture_output=quiet,
            text=True,
            check=False,
        )
    if out.returncode != 0 and check:
        text = (out.stdout or "") + (out.stderr or "")
        lines = text.splitlines()
        errors = [ln for ln in lines if "error:" in ln or "overflowed" in ln or "***" in ln] or [
            ln for ln in lines if "error" in ln.lower()
        ]
        raise ToolError(f"pio {' '.join(args)} failed: {errors[0].strip() if errors else text.strip()[-300:]}")
    return out


def program_name(env_name: str) -> str:
    """The file a PlatformIO build of ``env_name`` produces: the host program or the board's ELF."""
    return "program" if env_name == "native" else "firmware.elf"


def program_path(env_name: str) -> Path:
    """Where :func:`build` puts an environment's program. kilotrain's own builds live in
    build/pio/plain, apart from .pio/build, so a `pio test` (which rebuilds .pio/build with
    test flags) never removes an image a running tool is using."""
    from kilotrain.paths import build_dir

    return build_dir() / "pio" / "plain" / env_name / program_name(env_name)


def build(env_name: str) -> Path:
    """Build one PlatformIO environment (without a model) and return its program."""
    if env_name != "native":
        require("arm-none-eabi-gcc")
    program = program_path(env_name)
    # "-": model-less even when `kilotrain compile` left a model in build/compiled
    pio("run", "-e", env_name, extra_env={"PLATFORMIO_BUILD_DIR": str(program.parents[1]), "KILOTRAIN_MODEL_DIR": "-"})
    if not program.exists():
        raise ToolError(f"the build of {env_name} produced no {program.name} in {program.parent}")
    return program
