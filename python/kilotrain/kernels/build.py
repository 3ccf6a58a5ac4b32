"""Host build of the C kernels: every ``firmware/kernels/*.c`` compiled with the host gcc into one
shared library, loaded with ctypes.

The library lands in ``paths.build_dir() / "host"`` with a hash of the sources, headers and
compiler flags in its file name, so it is rebuilt exactly when one of them changes and a stale
library is never loaded. Building is atomic (compile to a temporary name, then rename), so two
test processes building at once do not see a half-written file.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from kilotrain import paths
from kilotrain.contract import STATUS

#: Compiler flags of the host build (the firmware build uses the same warnings). The native
#: program's builder (tools/pio/platform-native) optimises the same way: -O3 for this machine's
#: vector units, which the host paths (KT_HOST_SIMD) are laid out for.
CFLAGS = ("-std=c99", "-O3", "-march=native", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror")

KERNEL_DIR = paths.REPO_ROOT / "firmware" / "kernels"
INCLUDE_DIR = paths.REPO_ROOT / "include"


class HostBuildError(RuntimeError):
    """The host library could not be built (no compiler, or the C does not compile)."""


def _sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def _digest(sources: list[Path], cc: str, defines: tuple[str, ...] = ()) -> str:
    h = hashlib.sha256()
    h.update(" ".join((cc, *CFLAGS, *defines)).encode())
    for f in sources + sorted(INCLUDE_DIR.glob("*.h")) + sorted(KERNEL_DIR.rglob("*.h")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def library_path() -> Path:
    """Path of the (possibly not yet built) library for the current sources."""
    cc = os.environ.get("CC", "gcc")
    return paths.build_dir() / "host" / f"libkt_kernels-{_digest(_sources(), cc)}.so"


def build(extra_sources: tuple[Path, ...] = (), name: str = "kt_kernels", defines: tuple[str, ...] = ()) -> Path:
    """Compile the kernels (plus ``extra_sources``, e.g. a generated kt_train.c, into
    lib<name>-<hash>.so, with ``-D`` of each of ``defines``) if the sources changed since the last
    build; return the library path."""
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise HostBuildError(f"host C compiler {cc!r} not found on PATH: install gcc (or set CC) to build the kernels")
    sources = _sources()
    if not sources:
        raise HostBuildError(f"no C sources in {KERNEL_DIR}")
    sources += [Path(p) for p in extra_sources]
    lib = paths.build_dir() / "host" / f"lib{name}-{_digest(sources, cc, defines)}.so"
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=lib.stem + ".", suffix=".tmp", dir=lib.parent)
    os.close(fd)
    cmd = [cc, *CFLAGS, *(f"-D{d}" for d in defines), f"-I{INCLUDE_DIR}", "-o", tmp, *map(str, sources)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HostBuildError(f"compiling the kernels failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in lib.parent.glob(f"lib{name}-*.so"):  # superseded builds
        if old != lib:
            old.unlink(missing_ok=True)
    return lib


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """Build if needed and load the kernel library (once per process)."""
    return ctypes.CDLL(str(build()))


@lru_cache(maxsize=1)
def load_portable() -> ctypes.CDLL:
    """The kernel library built with ``-DKT_HOST_SIMD=0``: the portable loops the M7's portable
    build runs, without the host paths (the tests compare the two)."""
    return ctypes.CDLL(str(build(name="kt_kernels_portable", defines=("KT_HOST_SIMD=0",))))


class KernelError(ValueError):
    """A C kernel returned a non-OK status (an argument outside its documented range)."""


def call(name: str, argtypes: list[Any], *args: Any) -> None:
    """Call kernel ``name`` of the host library (its ctypes signature ``argtypes`` is set on first
    use); a non-OK status raises :class:`KernelError` naming the kernel and the status."""
    f = getattr(load(), name)
    if f.argtypes is None:
        f.restype = ctypes.c_int32
        f.argtypes = argtypes
    status = f(*args)
    if status != 0:
        raise KernelError(f"{name} returned {STATUS.get(status, status)}")
