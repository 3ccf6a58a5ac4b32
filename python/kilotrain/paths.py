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


def imported_modules(module: str) -> list[Path]:
    """The source files of the kilotrain ``module`` and of every kilotrain module it imports,
    transitively, read from the import statements (those inside functions too), with each
    package's ``__init__.py``: the code that can change what ``module`` computes."""
    import ast

    package = REPO_ROOT / "python"

    def source(name: str) -> Path | None:
        base = package.joinpath(*name.split("."))
        for f in (base.with_suffix(".py"), base / "__init__.py"):
            if f.is_file():
                return f
        return None

    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        f = source(name)
        if name in seen or f is None:
            continue
        seen[name] = f
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages it lives in
        ours = lambda name: name.split(".")[0] == "kilotrain"  # noqa: E731
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names if ours(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and ours(node.module):
                todo += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return sorted(seen.values())


def source_fingerprint(module: str) -> str:
    """A digest of the sources (names and contents) that can change what ``module`` computes:
    the firmware's, the package's templates and C, and the Python of ``module`` and of what it
    imports (:func:`imported_modules`). Caches of figures the code computes are keyed by it (the
    search's planner peaks by ``kilotrain.jobs.plan``'s: an edit of the search keeps them)."""
    import hashlib

    h = hashlib.sha256()
    pkg = REPO_ROOT / "python" / "kilotrain"
    files = [p for root in (pkg, REPO_ROOT / "firmware", REPO_ROOT / "include") for p in root.rglob("*") if p.is_file()]
    files = [p for p in files if p.suffix in (".c", ".h", ".j2", ".S")] + imported_modules(module)
    for f in sorted(files):
        h.update(str(f.relative_to(REPO_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()
