"""The import graph of a package, read from its source with ``ast`` (nothing is imported):
every ``import``/``from ... import`` of one of its modules, inside functions too, relative
imports resolved, ``if TYPE_CHECKING:`` blocks left out (they never run). What the layout test
checks: cycles, imports that run up the layers, and imports of the package's public face."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``imported`` at ``line``."""

    importer: str
    imported: str
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` of the package at ``root``."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skip.update(id(n) for n in ast.walk(stmt))
    return skip


def edges(root: Path) -> list[Edge]:
    """Every import of one module of the package by another."""
    mods = modules(root)
    out: list[Edge] = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [
                    f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src for a in node.names
                ]
            for target in targets:
                if target in mods and target != name:
                    out.append(Edge(name, target, node.lineno))
    return out


def cycles(graph: Iterable[Edge]) -> list[list[str]]:
    """The import cycles (each as its modules, first repeated at the end), one per strongly
    connected part that has one."""
    adj: dict[str, set[str]] = {}
    for e in graph:
        adj.setdefault(e.importer, set()).add(e.imported)
        adj.setdefault(e.imported, set())
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        state[v] = 1
        stack.append(v)
        for w in sorted(adj[v]):
            if state.get(w) == 1:
                found.append([*stack[stack.index(w) :], w])
            elif w not in state:
                visit(w)
        stack.pop()
        state[v] = 2

    for v in sorted(adj):
        if v not in state:
            visit(v)
    return found


def room(module: str, package: str) -> str:
    """The top-level room of a module: its subpackage (``sources`` for
    ``lungsegdb_cli.sources.http.transfer``), or the loose module's own name."""
    rest = module[len(package) + 1 :] if module != package else "__init__"
    return rest.split(".")[0]


def upward(
    graph: Iterable[Edge],
    package: str,
    layers: list[set[str]],
    allowed: Mapping[str, set[str]] | None = None,
) -> list[Edge]:
    """The imports that do not run down the ``layers`` (top first; rooms in one layer may not
    import each other unless ``allowed`` says so). An import within one room is always fine."""
    level = {r: i for i, rooms in enumerate(layers) for r in rooms}
    bad: list[Edge] = []
    for e in graph:
        a, b = room(e.importer, package), room(e.imported, package)
        if a == b or b in (allowed or {}).get(a, set()):
            continue
        if a not in level or b not in level or level[a] >= level[b]:
            bad.append(e)
    return bad
