"""The package's import structure: no circles among its modules, and the core never reaches the edge."""
from __future__ import annotations

import ast
import unittest
from pathlib import Path

from hamcrest import assert_that, empty, is_


PACKAGE = Path(__file__).resolve().parent.parent
NAME = PACKAGE.name
# The data path: producing, receiving, deciding, settling
CORE = ("producer", "consumer", "dispatcher", "runner", "envelope", "message", "received", "result", "deadletter")
# Kept for old services or tests, at the edge: the core must not depend on them
EDGE = ("chain", "handlers", "sentry", "matchers", "testing")


def module_names() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "tests" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imported(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """This package's modules that `path` imports at run time (type-checking-only imports left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            candidates = submodules + ([base] if len(submodules) < len(node.names) else [])
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and candidate.startswith(NAME):
                found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imported(path, name, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in order:
            continue
        work = [(root, iter(sorted(graph[root])))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in order:
                    order[child] = low[child] = len(order)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], order[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


class LayeringTestCase(unittest.TestCase):

    def test_no_import_circles(self) -> None:
        """No two modules of the package import each other, directly or through others."""
        assert_that(circles(import_graph()), is_(empty()))

    def test_circles_are_found(self) -> None:
        """The circle finder sees a circle of three (so the test above can fail)."""
        assert_that(circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}), is_([["a", "b", "c"]]))

    def test_core_does_not_import_the_edge(self) -> None:
        """The data path's modules reach none of the modules kept for old services or tests."""
        graph = import_graph()
        edge = tuple(f"{NAME}.{name}" for name in EDGE)
        reached = {
            (module, target)
            for module in (f"{NAME}.{name}" for name in CORE)
            for target in graph.get(module, set())
            if target.startswith(edge)
        }
        assert_that(sorted(reached), is_(empty()))
