"""The package's architecture, checked from the source: every import in python/kilotrain (module
level, inside functions and under ``TYPE_CHECKING`` alike) goes one way down the layers of
docs/architecture.md, no module takes part in an import cycle, and few modules stay flat."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[3] / "python" / "kilotrain"

#: The role subpackages, lowest first: a module may import its own layer and the layers before it.
LAYERS = ("model", "reference", "kernels", "data", "training", "codegen", "device", "jobs", "cli")
#: Flat modules every layer may use; they import nothing of kilotrain's but each other.
BASE = ("__init__", "paths", "contract", "extras")
#: Flat modules at the very top (entry points).
TOP = ("__main__",)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute kilotrain module) of every import in the file, wherever it is."""
    me = _module_name(path)
    package = me if _is_package(path) else me.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "kilotrain"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "kilotrain":
                continue
            for a in node.names:  # `from kilotrain.x import y` may name a submodule y
                sub = f"{mod}.{a.name}"
                out.append((node.lineno, sub if _exists(sub) else mod))
    return out


def _exists(module: str) -> bool:
    p = PKG.parent.joinpath(*module.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_module_sits_in_a_known_layer() -> None:
    for f in _files():
        layer = _layer(_module_name(f))
        assert layer in LAYERS + BASE + TOP, (
            f"{f.relative_to(PKG)}: not in a layer of {LAYERS} nor a flat module {BASE + TOP}"
        )


def test_imports_go_one_way() -> None:
    bad = []
    for f in _files():
        me = _layer(_module_name(f))
        for line, mod in _imports(f):
            it = _layer(mod)
            if me in TOP or (it in BASE and (me not in BASE or it in BASE)):
                continue
            if me in BASE or it in TOP or LAYERS.index(it) > LAYERS.index(me):
                bad.append(f"{f.relative_to(PKG)}:{line} ({me}) imports {mod} ({it})")
    assert not bad, "imports against the layer order " + " -> ".join(LAYERS) + ":\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for f in _files():
        me = _module_name(f)
        graph.setdefault(me, set())
        for _, mod in _imports(f):
            # importing a.b.c runs a/__init__ and a/b/__init__ too, but a package's __init__ importing
            # its own submodules is not a cycle through the submodule: only the named module counts
            if mod != me:
                graph[me].add(mod)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_few_flat_modules() -> None:
    flat = sorted(p.name for p in PKG.glob("*.py"))
    assert len(flat) <= 6, f"{len(flat)} modules at the package's top: {flat}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


@pytest.mark.parametrize(
    "graph,expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert [c for c in _strongly_connected(graph) if len(c) > 1] == expected
