"""Structure rules, checked from the source text alone.

In shared/, worker/ and webhooks/: no module over 400 lines, no function
over 60, no `assert` as a runtime check, at most five modules directly in
shared/. Across the project's packages: no import cycle.

Small modules with one job, short functions, and packages that never import
each other in a circle keep the code readable piece by piece: a cycle means
neither module can be understood, tested or loaded without the other, and the
import order then decides which one sees a half-initialised partner. The
checks read the AST instead of importing anything, so they see every edge
regardless of import order, run no import-time side effects, and take well
under a second.

Import edges counted: module-level statements (also inside module-level
`if`/`try`/`with` and class bodies, which run at import), not imports inside
functions (they run later, once everything is loaded) nor under
`if TYPE_CHECKING:` (never run). Importing `a.b.c` runs `a/__init__` and
`a/b/__init__` too, so those are edges as well, except for packages that
enclose the importer (already loaded before it starts). `from a import b`
where `b` is a module is an edge to `a.b`.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZED_PACKAGES = ("shared", "worker", "webhooks")
PROJECT_PACKAGES = ("shared", "worker", "webhooks", "cli", "simulator")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_SHARED_TOP_LEVEL_MODULES = 5


@dataclass(frozen=True)
class SourceModule:
    """One module of the tree: its dotted name, its path for messages, its text."""

    name: str
    path: str
    is_package: bool
    text: str


Edges = dict[str, dict[str, int]]  # importer -> {imported: line of the import}


# --- reading the tree ---------------------------------------------------------


def discover(root: Path, packages: tuple[str, ...]) -> dict[str, SourceModule]:
    """Every .py file under the given top-level packages, by dotted module name."""
    modules: dict[str, SourceModule] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            modules[name] = SourceModule(name, str(relative), is_package, path.read_text())
    return modules


# --- sizes --------------------------------------------------------------------


def line_count(text: str) -> int:
    return len(text.splitlines())


def function_sizes(tree: ast.AST) -> Iterator[tuple[str, int, int]]:
    """(qualified name, first line, length in lines) of every function and method,
    nested ones included; the length runs from `def` to the last line of the body."""

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                end = child.end_lineno or child.lineno
                yield name, child.lineno, end - child.lineno + 1
                yield from visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(tree, "")


def oversized_modules(modules: Mapping[str, SourceModule], limit: int) -> list[str]:
    return [
        f"{m.path}: {line_count(m.text)} lines (limit {limit})"
        for m in modules.values()
        if line_count(m.text) > limit
    ]


def oversized_functions(modules: Mapping[str, SourceModule], limit: int) -> list[str]:
    found = []
    for module in modules.values():
        for name, line, length in function_sizes(ast.parse(module.text)):
            if length > limit:
                found.append(f"{module.path}:{line} {name}: {length} lines (limit {limit})")
    return found


def runtime_asserts(modules: Mapping[str, SourceModule]) -> list[str]:
    """`assert` statements: `python -O` strips them, so they cannot guard anything."""
    return [
        f"{m.path}:{node.lineno}: assert used as a runtime check (raise explicitly instead)"
        for m in modules.values()
        for node in ast.walk(ast.parse(m.text))
        if isinstance(node, ast.Assert)
    ]


# --- import edges -------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported."""

    def walk(statements: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
        for statement in statements:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                yield statement
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            elif isinstance(statement, ast.If) and _is_type_checking(statement.test):
                yield from walk(statement.orelse)
            else:
                for field in ("body", "orelse", "finalbody"):
                    yield from walk(getattr(statement, field, []))
                for handler in getattr(statement, "handlers", []):
                    yield from walk(handler.body)
                for case in getattr(statement, "cases", []):
                    yield from walk(case.body)

    yield from walk(tree.body)


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _enclosing_packages(module: SourceModule) -> set[str]:
    """Packages already loaded before this module's code starts running."""
    enclosing = set(_prefixes(module.name)[:-1])
    if module.is_package:
        enclosing.add(module.name)
    return enclosing


def _absolute(module: SourceModule, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def module_edges(module: SourceModule, known: Mapping[str, SourceModule]) -> dict[str, int]:
    """The project modules this module runs at import, each with the line importing it."""
    enclosing = _enclosing_packages(module)
    edges: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target in known and target != module.name:
            edges.setdefault(target, line)

    for node in import_time_imports(ast.parse(module.text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                for prefix in _prefixes(alias.name):
                    if prefix not in enclosing:
                        add(prefix, node.lineno)
            continue
        source = _absolute(module, node)
        for prefix in _prefixes(source)[:-1]:
            if prefix not in enclosing:
                add(prefix, node.lineno)
        submodules = [f"{source}.{alias.name}" for alias in node.names]
        takes_names = any(name not in known for name in submodules)
        if source not in enclosing or takes_names:
            add(source, node.lineno)
        for name in submodules:
            add(name, node.lineno)
    return edges


def import_graph(modules: Mapping[str, SourceModule]) -> Edges:
    return {name: module_edges(module, modules) for name, module in modules.items()}


# --- cycles -------------------------------------------------------------------


def strongly_connected(graph: Edges) -> list[list[str]]:
    """Tarjan's components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, {}):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(components)


def shortest_cycle(graph: Edges, start: str, within: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph.get(node, {})):
            if target not in within:
                continue
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in previous:
                previous[target] = node
                queue.append(target)
    return [start]


def import_cycles(modules: Mapping[str, SourceModule]) -> list[str]:
    graph = import_graph(modules)
    found = []
    for component in strongly_connected(graph):
        cycle = shortest_cycle(graph, component[0], set(component))
        steps = " -> ".join(
            f"{name} ({modules[name].path}:{graph[name][nxt]})"
            for name, nxt in zip(cycle, cycle[1:], strict=False)
        )
        found.append(
            f"import cycle among {len(component)} modules {component}; e.g. {steps} -> {cycle[-1]}"
        )
    return found


# --- the rules on this tree ---------------------------------------------------


def _report(problems: list[str]) -> str:
    return "\n".join(["", *problems])


def test_no_module_over_the_size_limit() -> None:
    problems = oversized_modules(discover(ROOT, SIZED_PACKAGES), MAX_MODULE_LINES)
    assert not problems, _report(problems)


def test_no_function_over_the_size_limit() -> None:
    problems = oversized_functions(discover(ROOT, SIZED_PACKAGES), MAX_FUNCTION_LINES)
    assert not problems, _report(problems)


def test_no_assert_as_a_runtime_check() -> None:
    problems = runtime_asserts(discover(ROOT, SIZED_PACKAGES))
    assert not problems, _report(problems)


def test_no_import_cycles() -> None:
    problems = import_cycles(discover(ROOT, PROJECT_PACKAGES))
    assert not problems, _report(problems)


def test_shared_keeps_a_small_top_level() -> None:
    top = sorted(p.name for p in (ROOT / "shared").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_SHARED_TOP_LEVEL_MODULES, (
        f"shared/ holds {len(top)} top-level modules (limit "
        f"{MAX_SHARED_TOP_LEVEL_MODULES}): {top}; give them a package"
    )


# --- the checks themselves, on small made-up trees ----------------------------


def _tree(**sources: str) -> dict[str, SourceModule]:
    """Modules from keyword arguments: `a__init__` is package `a`, `a__x` is `a.x`."""
    modules = {}
    for key, text in sources.items():
        parts = key.split("__")
        is_package = parts[-1] == "init"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = SourceModule(name, f"{key}.py", is_package, text)
    return modules


def test_a_cycle_between_two_modules_is_found_with_its_lines() -> None:
    modules = _tree(a__init="", a__x="import os\nfrom a import y\n", a__y="import a.x\n")
    [problem] = import_cycles(modules)
    assert "2 modules ['a.x', 'a.y']" in problem
    assert "a.x (a__x.py:2) -> a.y (a__y.py:1) -> a.x" in problem


def test_imports_inside_functions_and_type_checking_do_not_count() -> None:
    modules = _tree(
        a__init="",
        a__x="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a.y\n",
        a__y="def f():\n    from a import x\n",
    )
    assert import_cycles(modules) == []


def test_module_level_conditionals_and_class_bodies_count() -> None:
    modules = _tree(
        a__init="",
        a__x="try:\n    from a.y import f\nexcept ImportError:\n    pass\n",
        a__y="class C:\n    from a import x\n",
    )
    assert len(import_cycles(modules)) == 1


def test_importing_a_package_runs_its_init() -> None:
    modules = _tree(
        a__init="from a import x\n",
        a__x="",
        b__init="",
        b__y="import a\n",
    )
    modules["a.x"] = SourceModule("a.x", "a/x.py", False, "from b import y\n")
    assert module_edges(modules["a.x"], modules) == {"b": 1, "b.y": 1}
    assert module_edges(modules["b.y"], modules) == {"a": 1}
    [problem] = import_cycles(modules)
    assert "['a', 'a.x', 'b.y']" in problem
    modules["a"] = SourceModule("a", "a/__init__.py", True, "")
    assert import_cycles(modules) == []


def test_an_enclosing_package_counts_only_when_names_come_from_its_init() -> None:
    modules = _tree(a__init="from a import x\n", a__x="from a import y\n", a__y="")
    assert module_edges(modules["a.x"], modules) == {"a.y": 1}
    assert import_cycles(modules) == []
    modules["a.x"] = SourceModule("a.x", "a/x.py", False, "from a import y, helper\n")
    assert module_edges(modules["a.x"], modules) == {"a": 1, "a.y": 1}
    assert len(import_cycles(modules)) == 1


def test_relative_imports_resolve_against_the_package() -> None:
    modules = _tree(a__init="", a__b__init="", a__b__x="from . import y\nfrom ..c import z\n")
    modules.update(_tree(a__b__y="", a__c__init="", a__c__z=""))
    assert module_edges(modules["a.b.x"], modules) == {"a.b.y": 1, "a.c": 2, "a.c.z": 2}


def test_asserts_are_found_with_their_line() -> None:
    modules = _tree(a__x="def f(x):\n    if x:\n        assert x > 1\n")
    assert runtime_asserts(modules) == [
        "a__x.py:3: assert used as a runtime check (raise explicitly instead)"
    ]


def test_sizes_name_file_function_and_length() -> None:
    body = "".join(f"        x = {i}\n" for i in range(60))
    modules = _tree(a__x=f"class K:\n    def m(self):\n{body}")
    assert oversized_functions(modules, 60) == ["a__x.py:2 K.m: 61 lines (limit 60)"]
    assert oversized_functions(modules, 61) == []
    assert oversized_modules(modules, 61) == ["a__x.py: 62 lines (limit 61)"]
    assert oversized_modules(modules, 62) == []
