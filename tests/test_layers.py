"""The layers of `streamgraph`, checked from the source.

A module imports only from its own layer or below, and no two modules import each other, not
even inside a function: the import graph, read with `ast` (function-level imports included,
imports under `if TYPE_CHECKING:` left out, relative imports resolved), has no cycle and no
edge that goes up. Every module has a layer (`LAYERS`), so a new module without one fails here.

An import names one module: `from package import name` the submodule `name` when there is one,
else the package; `import a.b` the module `a.b`. The packages above it, which Python runs first,
are not counted (every module would depend on `streamgraph/__init__.py`, the public surface).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent

# Lowest first. The design's order is settings/errors -> graph -> core -> serving -> engines ->
# wire/gateway -> commands/cli; here `wire/` sits BELOW `engines/`, on purpose: it holds what the
# Kafka engine and the gateway share (the record codec, producers, reply topics, the requester
# of the engine's test harness), it imports neither of them (only errors, core and
# serving), and the Kafka engine imports it throughout, so above the engines it cannot be; the
# gateway stays above both. README.md's "Layout" states the same order.
LAYERS: Sequence[tuple[str, tuple[str, ...]]] = (
    # the environment, the exception family, and what needs only them: event loop and GC
    # tuning, the local development broker, how every Kafka client connects (connection/)
    (
        "settings",
        (
            "streamgraph.settings",
            "streamgraph.errors",
            "streamgraph.loops",
            "streamgraph.gc_tuning",
            "streamgraph.broker",
            "streamgraph.connection",
        ),
    ),
    ("graph", ("streamgraph.graph",)),  # declaration only, pure data
    ("core", ("streamgraph.core",)),  # step semantics shared by every engine
    ("serving", ("streamgraph.serving",)),  # model servers, routers, model runners, LLMs
    ("wire", ("streamgraph.wire",)),  # what the Kafka engine and the gateway share
    ("engines", ("streamgraph.engines",)),  # the in-process engine, the Kafka engine
    # the HTTP gateway, and the HTTP client that calls one
    ("gateway", ("streamgraph.gateway", "streamgraph.client")),
    # ServingFunction and what it does that needs every layer below (to_mock_server, deploy),
    # ready-made functions (the hub), naming a function for another process and finding it
    # there, the test harness over both engines
    (
        "function",
        (
            "streamgraph.function",
            "streamgraph.hub",
            "streamgraph.deploy",
            "streamgraph.locate",
            "streamgraph.reference",
            "streamgraph.run_records",
            "streamgraph.testing",
        ),
    ),
    # Kubernetes manifests derived from a function's graph (`streamgraph manifests`)
    ("kubernetes", ("streamgraph.kubernetes",)),
    # the commands, and the public surface: `streamgraph` (its `__init__`) and `streamgraph.steps`
    (
        "commands",
        ("streamgraph.commands", "streamgraph.cli", "streamgraph.steps", "streamgraph"),
    ),
)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


# -- the import graph --------------------------------------------------------------------------
def modules_of(root: Path, package: str) -> dict[str, Path]:
    """Every module of `package` under `root` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, but those under `if TYPE_CHECKING:`."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """The imports of module `name` (at `path`) of modules in `modules`."""
    is_package = path.name == "__init__.py"
    for node in _import_nodes([ast.parse(path.read_text(), str(path))]):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                # a package's `.` is itself, a module's its package; each further dot one up
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            targets = [
                f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                for alias in node.names
            ]
        for target in targets:
            if target in modules and target != name:
                yield Import(name, target, node.lineno)


def import_graph(root: Path, package: str) -> dict[str, list[Import]]:
    """Each module's imports of the package's modules, one per imported module and line."""
    modules = modules_of(root, package)
    return {
        name: sorted(set(imports_of(name, path, modules)), key=str)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """The modules that import each other, directly or around a loop (Tarjan's strongly
    connected components of more than one module), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:  # recursion depth is bounded by the module count
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for edge in graph[module]:
            if edge.imported not in index:
                visit(edge.imported)
                low[module] = min(low[module], low[edge.imported])
            elif edge.imported in on_stack:
                low[module] = min(low[module], index[edge.imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


# -- layers ------------------------------------------------------------------------------------
def layer_of(module: str, layers: Sequence[tuple[str, Iterable[str]]], root: str) -> int | None:
    """The index of the layer whose longest prefix covers `module` (the root package covers
    only itself, so a new module never falls to it), or None."""
    best: tuple[int, int] | None = None
    for number, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            covers = module == prefix or (prefix != root and module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > best[0]):
                best = (len(prefix), number)
    return None if best is None else best[1]


def problems(root: Path, package: str, layers: Sequence[tuple[str, Iterable[str]]]) -> list[str]:
    """Every module without a layer, every cycle, every import of a higher layer."""
    graph = import_graph(root, package)
    found = [f"no layer: {name}" for name in graph if layer_of(name, layers, package) is None]
    for component in cycles(graph):
        members = set(component)
        inside = [str(e) for name in component for e in graph[name] if e.imported in members]
        found.append("\n    ".join([f"cycle: {' <-> '.join(component)}", *inside]))
    for edges in graph.values():
        for edge in edges:
            low = layer_of(edge.importer, layers, package)
            high = layer_of(edge.imported, layers, package)
            if low is not None and high is not None and high > low:
                found.append(
                    f"upward import: {edge} imports layer {layers[high][0]!r} "
                    f"from layer {layers[low][0]!r}"
                )
    return found


# -- the tests ---------------------------------------------------------------------------------
def test_streamgraph_keeps_its_layers() -> None:
    found = problems(SOURCE, "streamgraph", LAYERS)
    assert not found, "\n".join(found)


def test_the_graph_sees_the_package() -> None:
    """Not vacuous on the real source: many modules, and the imports that are known to exist."""
    graph = import_graph(SOURCE, "streamgraph")
    assert len(graph) > 100
    edges = {(e.importer, e.imported) for edges in graph.values() for e in edges}
    assert ("streamgraph.engines.in_process", "streamgraph.core.compile") in edges
    assert ("streamgraph.cli", "streamgraph.commands.run") in edges
    # inside a method (ServingFunction.to_mock_server) counts; under TYPE_CHECKING does not
    assert ("streamgraph.function", "streamgraph.engines.in_process") in edges
    assert ("streamgraph.core.preparer_registry", "streamgraph.graph.flow") not in edges


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_reports_upward_imports_cycles_and_unmapped_modules(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/low/__init__.py": "",
            # upward, inside a function; the TYPE_CHECKING import of `high` does not count
            "fake/low/base.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from fake.high import top\n"
                "def f():\n"
                "    from ..high.top import thing\n"
                "    return thing\n"
            ),
            "fake/low/fine.py": "from . import base\nimport fake.low.base\n",
            "fake/high/__init__.py": "from .top import thing\n",  # a package's `.` is itself
            "fake/high/top.py": "from .other import x\nthing = 1\n",
            "fake/high/other.py": "x = 1\ndef g():\n    from fake.high import top\n",
            "fake/extra.py": "",  # in no layer
        },
    )
    layers = [("low", ["fake.low", "fake"]), ("high", ["fake.high"])]
    found = problems(tmp_path, "fake", layers)
    assert found == [
        "no layer: fake.extra",
        "cycle: fake.high.other <-> fake.high.top\n"
        "    fake.high.other -> fake.high.top (line 3)\n"
        "    fake.high.top -> fake.high.other (line 1)",
        "upward import: fake.low.base -> fake.high.top (line 5) imports layer 'high' "
        "from layer 'low'",
    ]
    # the imports that break no rule are seen too
    graph = import_graph(tmp_path, "fake")
    assert [str(e) for e in graph["fake.low.fine"]] == [
        "fake.low.fine -> fake.low.base (line 1)",
        "fake.low.fine -> fake.low.base (line 2)",
    ]
    assert [str(e) for e in graph["fake.high"]] == ["fake.high -> fake.high.top (line 1)"]
