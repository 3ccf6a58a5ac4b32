"""The source fingerprint that keys caches of computed figures (the search's planner peaks):
it follows a module's imports, so an edit of what the module runs changes it and an edit of
code it never imports does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from kilotrain import paths
from kilotrain.jobs.plan import image_budget


def _package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        f = root / "python" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    (root / "firmware").mkdir(exist_ok=True)
    (root / "include").mkdir(exist_ok=True)


def test_the_fingerprint_follows_imports_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    _package(
        tmp_path,
        {
            "kilotrain/__init__.py": "",
            "kilotrain/top.py": "from kilotrain.sub import leaf\n",
            "kilotrain/sub/__init__.py": "",
            "kilotrain/sub/leaf.py": "def f():\n    import kilotrain.lazy\n",
            "kilotrain/lazy.py": "X = 1\n",
            "kilotrain/other.py": "import kilotrain.top\n",
            "kilotrain/t.j2": "{{ x }}\n",
        },
    )
    names = {str(f.relative_to(tmp_path / "python")) for f in paths.imported_modules("kilotrain.top")}
    assert names == {
        "kilotrain/__init__.py",
        "kilotrain/top.py",
        "kilotrain/sub/__init__.py",
        "kilotrain/sub/leaf.py",
        "kilotrain/lazy.py",
    }
    before = paths.source_fingerprint("kilotrain.top")
    (tmp_path / "python/kilotrain/other.py").write_text("import kilotrain.top  # edited\n")
    assert paths.source_fingerprint("kilotrain.top") == before
    for edited in ("kilotrain/lazy.py", "kilotrain/t.j2"):
        (tmp_path / "python" / edited).write_text("Y = 2\n")
        assert paths.source_fingerprint("kilotrain.top") != before, edited
        before = paths.source_fingerprint("kilotrain.top")
    (tmp_path / "firmware" / "k.c").write_text("int k;\n")
    assert paths.source_fingerprint("kilotrain.top") != before


def test_the_planner_peaks_survive_an_edit_of_the_search() -> None:
    planner = {str(f.relative_to(paths.REPO_ROOT / "python")) for f in paths.imported_modules(image_budget.__module__)}
    assert {"kilotrain/jobs/plan.py", "kilotrain/training/plan.py", "kilotrain/codegen/train.py"} <= planner
    assert {"kilotrain/training/search.py", "kilotrain/jobs/search.py", "kilotrain/jobs/study.py"}.isdisjoint(planner)
    assert not [f for f in planner if f.startswith("kilotrain/cli/")]
