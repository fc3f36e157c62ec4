"""The import structure holds: no import cycle between stridegraph's modules (counting
imports inside functions, which would only hide one; imports under ``if TYPE_CHECKING:``
do not run and are left out), and no upward import: ``db`` never imports ``domain`` or
``graph``, ``domain`` never imports ``graph`` or strawberry."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stridegraph"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(path: Path) -> set[str]:
    """Every module name ``path`` imports when it runs (modules of ``from x import y``
    too, where ``y`` is one)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return names


GRAPH = {
    name: {
        m for m in imported(path) if m in MODULES and m != name and MODULES[m].name != "__init__.py"
    }
    for name, path in MODULES.items()
}


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            strong(v)
    return found


def test_there_is_no_import_cycle() -> None:
    assert cycles() == []


REFUSED = {
    "stridegraph.db.": ("stridegraph.domain", "stridegraph.graph", "strawberry"),
    "stridegraph.domain.": ("stridegraph.graph", "strawberry", "stridegraph.app"),
}


def upward(name: str, targets: set[str]) -> list[str]:
    return sorted(
        target
        for layer, refused in REFUSED.items()
        if name.startswith(layer)
        for target in targets
        if target.startswith(refused)
    )


def test_no_layer_imports_upward() -> None:
    wrong = {name: upward(name, imported(path)) for name, path in MODULES.items()}
    assert {name: targets for name, targets in wrong.items() if targets} == {}


def test_the_checks_can_fail() -> None:
    """The detector sees a cycle and an upward import when there is one."""
    GRAPH["stridegraph.db.models"].add("stridegraph.db.users")
    try:
        assert any({"stridegraph.db.models", "stridegraph.db.users"} <= set(c) for c in cycles())
    finally:
        GRAPH["stridegraph.db.models"].discard("stridegraph.db.users")
    assert upward("stridegraph.db.users", {"stridegraph.domain.errors"}) == [
        "stridegraph.domain.errors"
    ]
    assert upward("stridegraph.domain.users", {"strawberry.types"}) == ["strawberry.types"]
    assert upward("stridegraph.graph.users.types", {"stridegraph.domain.errors"}) == []


def private_imports(path: Path) -> list[str]:
    """Names starting with ``_`` that ``path`` imports from another stridegraph module."""
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stridegraph")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_no_private_name_crosses_modules() -> None:
    found = {name: private_imports(path) for name, path in MODULES.items()}
    assert {name: names for name, names in found.items() if names} == {}
