"""Lint, format and type checks run with the tests: ruff (lint + format) over the package, the
tests and examples/, mypy over python/kilotrain and examples/ (configuration in pyproject.toml),
clang-format over firmware/ and include/ (.clang-format)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    exe = BIN / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run tools/setup (it installs kilotrain's dev extras)")
    return found


def _run(*cmd: str) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}"


def test_ruff_lint_is_clean() -> None:
    _run(_tool("ruff"), "check", "python/kilotrain", "tests/python", "examples")


def test_ruff_format_is_clean() -> None:
    _run(_tool("ruff"), "format", "--check", "python/kilotrain", "tests/python", "examples")


def test_mypy_is_clean() -> None:
    _run(_tool("mypy"), "--cache-dir", str(ROOT / "build" / "mypy_cache"))


def test_c_is_clang_format_clean() -> None:
    files = subprocess.run(
        ["git", "ls-files", "firmware/*.[ch]", "include/*.h"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert files
    _run(_tool("clang-format"), "--dry-run", "--Werror", *files)
