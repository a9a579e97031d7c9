"""The house: imports point one way and every module stays small enough to read.

Reads the package's source as text (nothing is imported), builds the module
graph, counting imports deferred into functions too, and fails on any cycle
or on a module over 600 lines. A package ``__init__`` re-exporting its own
children is not a cycle of ideas and is left out.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_soilspec"
MAX_LINES = 600


def _modules():
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        out[name] = (path, is_pkg)
    return out


def _imports(path, name, is_pkg, known):
    base = name if is_pkg else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{parent}.{node.module}" if node.module else parent
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and not t.startswith(name + "."):
                found.add(t)
    return found


def _cycle_from(graph, start):
    """A path start -> ... -> start, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_no_import_cycles():
    modules = _modules()
    graph = {m: _imports(p, m, pkg, set(modules)) for m, (p, pkg) in modules.items()}
    cycles = [c for m in sorted(graph) if (c := _cycle_from(graph, m))]
    assert not cycles, "import cycle(s): " + "; ".join(" -> ".join(c) for c in cycles[:3])


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_is_small_enough_to_read(name):
    path, _ = _modules()[name]
    n = sum(1 for _ in path.open(encoding="utf-8"))
    assert n <= MAX_LINES, f"{name} has {n} lines; split it by idea (limit {MAX_LINES})"


def test_the_graph_sees_a_cycle(tmp_path, monkeypatch):
    # The check itself must be able to fail.
    pkg = tmp_path / "sklearn_soilspec"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from .a import f\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    modules = _modules()
    graph = {m: _imports(p, m, k, set(modules)) for m, (p, k) in modules.items()}
    assert _cycle_from(graph, "sklearn_soilspec.a") == [
        "sklearn_soilspec.a", "sklearn_soilspec.b", "sklearn_soilspec.a"]
