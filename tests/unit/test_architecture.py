"""The rooms stay apart: no import cycles, names modules import no app, internals in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "agents", "online_models")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Every project module -> the project modules it imports (anywhere in the file)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(f"{target}."):
                    deps.add(target)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or None.

    >>> find_cycle({"a": {"b"}, "b": {"a"}})
    ['a', 'b', 'a']
    >>> find_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_imports__no_cycle_between_project_modules() -> None:
    graph = import_graph()
    assert len(graph) > 30  # the walk found the project
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_imports__a_cycle_is_found() -> None:
    graph = import_graph()
    graph["streams.settings"] = {*graph["streams.settings"], "streams.app"}
    assert find_cycle(graph) is not None


@pytest.mark.parametrize("module", ["streams.topics", "streams.records", "streams.settings",
                                    "streams.storage.schema", "streams.storage.database_sink"])
def test_imports__module_reaches_no_app(module: str) -> None:
    graph = import_graph()
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(graph.get(current, ()))
    assert "streams.app" not in seen


def test_imports__online_models_is_pure() -> None:
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("online_models"):
            assert not {d for d in deps if not d.startswith("online_models")}, name
