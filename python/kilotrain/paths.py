"""Where things are: the repository, the build tree, and the shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (this file is python/kilotrain/paths.py).
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Environment variable that overrides where large shared data (models, data sets) is found.
DATA_ENV = "KILOTRAIN_DATA"


class DataNotFound(FileNotFoundError):
    """A shared data file is missing; the message says where it was looked for."""


def build_dir() -> Path:
    """The build tree for generated code and host libraries (``build/`` at the repo root)."""
    d = Path(os.environ.get("KILOTRAIN_BUILD", REPO_ROOT / "build"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def compiled_dir() -> Path:
    """Where ``kilotrain compile`` puts the generated sources and manifest, and where the
    PlatformIO pre-build hook (tools/pio/model_sources.py) looks for them: ``<build>/compiled``.
    Not created here (its absence means: no compiled model)."""
    return Path(os.environ.get("KILOTRAIN_BUILD", REPO_ROOT / "build")) / "compiled"


def data_root() -> Path:
    """The folder holding shared data: ``$KILOTRAIN_DATA`` or ``../shared/data`` beside the repo."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


def data_file(relative: str) -> Path:
    """Path of one shared data file, e.g. ``mobilenet_v2_imagenet/mobilenet_v2_quantized_1x3x224x224.tflite``.

    Small files the tests need are committed under ``tests/data`` and are found there first.
    Raises :class:`DataNotFound` naming both places and the environment variable.
    """
    committed = REPO_ROOT / "tests" / "data" / relative
    if committed.exists():
        return committed
    shared = data_root() / relative
    if shared.exists():
        return shared
    raise DataNotFound(
        f"{relative} not found in {committed.parent} nor in {shared.parent}; set {DATA_ENV} to the folder that holds it"
    )


def source_fingerprint() -> str:
    """A digest of the package's and the firmware's sources (names and contents): caches of
    figures the code computes (the search's planner peaks) are keyed by it."""
    import hashlib

    h = hashlib.sha256()
    roots = (REPO_ROOT / "python" / "kilotrain", REPO_ROOT / "firmware", REPO_ROOT / "include")
    for root in roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".c", ".h", ".j2", ".S")):
            h.update(str(f.relative_to(REPO_ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()
