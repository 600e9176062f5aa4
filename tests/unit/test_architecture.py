"""The layering ARCHITECTURE.md draws, checked on the source (AST): no cycles, engine free of pytest, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parents[2] / "pytest_savedmodel"
#: The pytest layer: the only modules that may import pytest (config.py re-exports settings for old imports).
PYTEST_LAYER = {"pytest_savedmodel.plugin", "pytest_savedmodel.items", "pytest_savedmodel.fixtures",
                "pytest_savedmodel.markers", "pytest_savedmodel.config"}


def _name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, *, top_only: bool) -> set[str]:
    """Package modules imported by ``path``: at module level and under TYPE_CHECKING (``top_only``), or anywhere."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes: list[ast.AST] = []
    if top_only:
        for node in tree.body:
            nodes.append(node)
            if isinstance(node, ast.If):  # if TYPE_CHECKING: ...
                nodes.extend(node.body)
    else:
        nodes = list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


MODULES = {_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _graph(*, top_only: bool) -> dict[str, set[str]]:
    return {m: {i for i in _imports(p, top_only=top_only) if i in MODULES and i != m and not m.startswith(i + ".")}
            for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                found.append([*stack[stack.index(n):], n])
            elif n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_no_import_cycle_counting_type_checking_imports() -> None:
    assert _cycles(_graph(top_only=True)) == []


def test_no_import_cycle_through_lazy_imports_in_the_engine() -> None:
    """Function-level (lazy) imports too, outside the package's lazy re-export in __init__."""
    graph = {m: deps for m, deps in _graph(top_only=False).items() if m != "pytest_savedmodel"}
    assert _cycles(graph) == []


def test_engine_modules_never_import_pytest_or_the_pytest_layer() -> None:
    problems = []
    for m, p in MODULES.items():
        if m in PYTEST_LAYER or m == "pytest_savedmodel":
            continue
        bad = {i for i in _imports(p, top_only=False) if i.split(".")[0] in ("pytest", "_pytest") or i in PYTEST_LAYER}
        if bad:
            problems.append(f"{m}: {sorted(bad)}")
    assert problems == []


def test_no_module_over_400_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_no_module_reaches_into_another_modules_private_names() -> None:
    """``from pytest_savedmodel.x import _y`` is allowed only for modules named with a leading underscore."""
    problems = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pytest_savedmodel"):
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"
                           and f"{node.module}.{a.name}" not in MODULES]
                if private and not node.module.rsplit(".", 1)[-1].startswith("_"):
                    problems.append(f"{m}: from {node.module} import {private}")
    assert problems == []


def test_every_registered_path_has_a_provider_in_its_own_module() -> None:
    from pytest_savedmodel.runners.registry import PATHS, provider

    for entry in PATHS:
        p = provider(entry.name)
        assert p.key == entry.name and entry.module.endswith("." + entry.name.replace("-", "_")), entry
        if entry.option is not None:
            assert p.option == entry.option.key, entry
