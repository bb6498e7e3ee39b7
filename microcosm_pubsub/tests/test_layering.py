"""The package's layering, read from its source with `ast`: who imports whom, and where the graph is searched."""
from __future__ import annotations

import ast
import importlib
import sys
import unittest
from collections.abc import Collection, Iterator
from importlib.metadata import entry_points
from pathlib import Path

from hamcrest import assert_that, empty, equal_to, is_

from microcosm_pubsub import OLD_IMPORT_PATHS


PACKAGE = Path(__file__).resolve().parent.parent
NAME = PACKAGE.name
WIRE = (f"{NAME}.wire",)
# The data path's folders, from the wire up
CORE = tuple(f"{NAME}.{folder}" for folder in (
    "wire", "graph", "schemas", "produce", "consume", "runtime", "middleware", "aws", "effects", "contracts",
))
# What stands on the core: the operator's command line, services' test toolkit, the demo
EDGE = tuple(f"{NAME}.{folder}" for folder in ("cli", "testing", "demo"))
# Kept for the old API besides its import paths: whatever is new in these folders is compatibility code too
COMPAT_FOLDERS = tuple(f"{NAME}.{folder}" for folder in ("chain", "handlers", "matchers", "conventions", "metrics"))
# They build the graph and start consuming, so handing one component to another is their job
COMPOSITION_ROOTS = frozenset(
    f"{NAME}.runtime.{name}" for name in ("daemon", "daemon_graph", "startup", "lambda_handler")
)
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
FUNCTIONS = (*DEFS, ast.Lambda)


def within(module: str, packages: Collection[str]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def kind(module: str) -> str:
    if within(module, CORE):
        return "core"
    if within(module, EDGE):
        return "edge"
    if module in OLD_IMPORT_PATHS or within(module, COMPAT_FOLDERS):
        return "compatibility"
    return "top level"


def module_paths() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "tests" not in parts:
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def sources() -> dict[str, str]:
    return {name: path.read_text(encoding="utf-8") for name, path in module_paths().items()}


def imported(source: str, name: str, modules: Collection[str]) -> set[str]:
    """The package's modules that `source` (module `name`) imports anywhere: at the top, in functions, for types."""
    package = name if is_package(name, modules) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            candidates = submodules + ([base] if len(submodules) < len(node.names) else [])
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def is_package(name: str, modules: Collection[str]) -> bool:
    return any(module.startswith(f"{name}.") for module in modules)


def import_graph() -> dict[str, set[str]]:
    texts = sources()
    return {name: imported(text, name, texts) for name, text in texts.items()}


def reached(graph: dict[str, set[str]], sources: Collection[str], allowed: Collection[str]) -> list[str]:
    """`module -> target (kind)` for each import from a module within `sources` of one not within `allowed`."""
    return sorted(
        f"{module} -> {target} ({kind(target)})"
        for module, targets in graph.items() if within(module, sources)
        for target in targets if not within(target, allowed)
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of more than one module that reach each other through their imports."""
    reach = {module: reachable(graph, module) for module in graph}
    groups = {
        frozenset({module, *(other for other in reach[module] if module in reach.get(other, ()))})
        for module in graph if module in reach[module]
    }
    return sorted(sorted(group) for group in groups)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules `start` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


# AWS clients are built at first use, so that a graph that never calls AWS needs no region or credentials
FIRST_USE = frozenset({"sns_client", "sqs_client", "s3_client"})


def core_bindings() -> dict[str, str]:
    """The graph's names whose factory lives in the core, with the factory as `module:attribute` (clients aside)."""
    return {
        point.name: point.value for point in entry_points(group="microcosm.factories")
        if within(point.module, CORE) and point.name not in FIRST_USE
    }


def enclosing(parents: dict[ast.AST, ast.AST], node: ast.AST) -> ast.AST | None:
    """The innermost function (or lambda) around `node`; None at module level."""
    parent = parents.get(node)
    while parent is not None and not isinstance(parent, FUNCTIONS):
        parent = parents.get(parent)
    return parent


def is_graph(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "graph") or (
        isinstance(node, ast.Attribute) and node.attr in ("graph", "_graph"))


def lookups(tree: ast.Module, names: Collection[str]) -> Iterator[tuple[ast.AST, str]]:
    """`graph.<name>`, `self.graph.<name>` and `getattr(graph, NAME)` for the given names, with the node."""
    constants = {
        target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and is_graph(node.value):
            name = node.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and is_graph(node.args[0])):
            key = node.args[1]
            name = str(key.value) if isinstance(key, ast.Constant) else constants.get(getattr(key, "id", ""))
        if name in names:
            yield node, str(name)


def run_time_lookups(texts: dict[str, str], bindings: dict[str, str]) -> list[str]:
    """Where a core module looks a core component up in the graph outside the graph's building.

    Building is: a binding's factory (registered, or `@binding`), a constructor (`__init__`), a
    composition root, or a function called only from those. A property, a lambda or a method that
    runs per message does not build anything: the component should be handed over at construction.
    """
    factories = {tuple(value.split(":")) for value in bindings.values()}
    trees = {name: ast.parse(text) for name, text in texts.items()}
    parents: dict[ast.AST, ast.AST] = {}
    owner: dict[ast.AST, str] = {}
    for module, tree in trees.items():
        for node in ast.walk(tree):
            owner[node] = module
            for child in ast.iter_child_nodes(node):
                parents[child] = node
    callers: dict[str, list[ast.AST | None]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if callee:
                    callers.setdefault(callee, []).append(enclosing(parents, node))

    def building(function: ast.AST | None, helpers: set[ast.AST]) -> bool:
        if function is None or owner[function] in COMPOSITION_ROOTS or function in helpers:
            return True
        if not isinstance(function, DEFS):
            return False
        decorators = {getattr(getattr(item, "func", item), "id", None) for item in function.decorator_list}
        return function.name == "__init__" or "binding" in decorators or (owner[function], function.name) in factories

    functions = [node for tree in trees.values() for node in ast.walk(tree) if isinstance(node, DEFS)]
    helpers: set[ast.AST] = set()
    grown = True
    while grown:
        grown = False
        for function in functions:
            sites = callers.get(getattr(function, "name", ""), [])
            if function not in helpers and sites and all(building(site, helpers) for site in sites):
                helpers.add(function)
                grown = True
    found = sorted(
        (module, getattr(node, "lineno", 0), getattr(enclosing(parents, node), "name", "lambda"), name)
        for module, tree in trees.items() if within(module, CORE)
        for node, name in lookups(tree, bindings) if not building(enclosing(parents, node), helpers)
    )
    return [f"{module}:{line} {function}: graph.{name}" for module, line, function, name in found]


def alias_of(tree: ast.Module) -> tuple[str | None, list[str]]:
    """The module a thin module (`sys.modules[__name__] = module`) names, and its statements beyond the alias."""
    imported_as: dict[str, str] = {}
    target = None
    extra = []
    for index, statement in enumerate(tree.body):
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and index == 0:
            continue
        if isinstance(statement, ast.Import) and [alias.name for alias in statement.names] == ["sys"]:
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            if [alias.name for alias in statement.names] == ["*"]:
                continue
            if len(statement.names) == 1:
                alias = statement.names[0]
                imported_as[alias.asname or alias.name] = f"{statement.module}.{alias.name}"
                continue
        if (isinstance(statement, ast.Assign) and ast.unparse(statement.targets[0]) == "sys.modules[__name__]"
                and isinstance(statement.value, ast.Name) and target is None):
            target = imported_as.pop(statement.value.id, None)
            continue
        extra.append(ast.unparse(statement).splitlines()[0])
    return target, extra + [f"import of {name}" for name in imported_as.values()]


def thin_modules() -> dict[str, ast.Module]:
    """The package's modules that alias another under their own name."""
    return {
        name: tree for name, tree in ((name, ast.parse(text)) for name, text in sources().items())
        if "sys.modules[__name__]" in ast.unparse(tree)
    }


class ImportsTestCase(unittest.TestCase):

    def test_wire_imports_nothing_else_of_the_package(self) -> None:
        """`wire/` stands alone: plain records and rules, no other module of the package."""
        assert_that(reached(import_graph(), WIRE, WIRE), is_(empty()))

    def test_core_imports_only_the_core(self) -> None:
        """The core folders import only each other: not the edge (cli, testing, demo), the old API or the top level."""
        assert_that(reached(import_graph(), CORE, CORE), is_(empty()))

    def test_no_import_circles(self) -> None:
        """No modules of the package import each other, directly or through others, type-only imports counted."""
        assert_that(circles(import_graph()), is_(empty()))

    def test_type_only_and_local_imports_count(self) -> None:
        """An import under `if TYPE_CHECKING:` or inside a function is an import (so the checks above can fail)."""
        source = (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from microcosm_pubsub.consume import consumer\n"
            "def f():\n    from microcosm_pubsub.runtime.daemon import ConsumerDaemon\n"
        )
        modules = {"microcosm_pubsub.wire.x", "microcosm_pubsub.consume.consumer", "microcosm_pubsub.runtime.daemon"}
        assert_that(
            imported(source, "microcosm_pubsub.wire.x", modules),
            is_(equal_to({"microcosm_pubsub.consume.consumer", "microcosm_pubsub.runtime.daemon"})),
        )

    def test_circles_are_found(self) -> None:
        """The circle finder sees a circle of three (so the circle check can fail)."""
        assert_that(circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}), is_([["a", "b", "c"]]))


class GraphLookupsTestCase(unittest.TestCase):

    def test_core_components_meet_only_while_the_graph_is_built(self) -> None:
        """No core module looks another core component up in the graph once built (per message, lazily)."""
        assert_that(run_time_lookups(sources(), core_bindings()), is_(empty()))

    def test_run_time_lookups_are_found(self) -> None:
        """A look-up in a method, a property or a lambda is found; one in `__init__` or its helper is not."""
        source = (
            "class A:\n"
            "    def __init__(self, graph):\n"
            "        self.graph = graph\n        self.b = graph.b\n        self.c = helper(graph)\n"
            "        self.later = lambda: graph.b\n"
            "    def handle(self):\n        return self.graph.b\n"
            "    @property\n    def client(self):\n        return getattr(self.graph, NAME)\n"
            "NAME = 'b'\n"
            "def helper(graph):\n    return graph.b\n"
        )
        found = run_time_lookups({f"{NAME}.consume.a": source}, {"b": f"{NAME}.consume.a:A"})
        assert_that([line.split(" ", 1)[1] for line in found], is_(equal_to(
            ["lambda: graph.b", "handle: graph.b", "client: graph.b"],
        )))


class OldImportPathsTestCase(unittest.TestCase):

    def test_each_old_import_path_imports(self) -> None:
        """Every module of the old package is importable under its old name."""
        failures = []
        for name in OLD_IMPORT_PATHS:
            try:
                importlib.import_module(name)
            except ImportError as error:
                failures.append(f"{name}: {error}")
        assert_that(failures, is_(empty()))

    def test_thin_modules_are_only_their_alias(self) -> None:
        """An aliasing module is an old import path, holds nothing but its alias, and is the module it names."""
        problems = []
        for name, tree in thin_modules().items():
            target, extra = alias_of(tree)
            if name not in OLD_IMPORT_PATHS:
                problems.append(f"{name}: not an old import path")
            if target is None or extra:
                problems.append(f"{name}: {extra or 'no alias of a module it imports'}")
            elif importlib.import_module(name) is not sys.modules[target]:
                problems.append(f"{name}: not the module {target}")
        assert_that(problems, is_(empty()))
