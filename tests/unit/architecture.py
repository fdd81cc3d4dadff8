"""Pure logic behind test_architecture.py: parse sources, build import graphs, find cycles.

Nothing here touches the file system except `load_tree`; everything else works on strings and
dicts, so the checker itself can be tested on small synthetic trees.

Vocabulary:
- a *module* is named like Python names it: `pkg/sub/mod.py` is `pkg.sub.mod`, `pkg/__init__.py`
  is `pkg`;
- an *import* is one imported name of one import statement anywhere in the file (top level,
  inside functions, under `if TYPE_CHECKING:`, in `try:`), made absolute: `from . import x` in
  `pkg/mod.py` is `pkg.x`, `from a.b import c` is `a.b.c`;
- an import *resolves* to the longest known module that prefixes it: `a.b.c` is the module
  `a.b.c` when `a/b/c.py` (or `a/b/c/__init__.py`) exists, otherwise `a.b` (c is a name in it).
"""

from __future__ import annotations

import ast
import os
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path, PurePosixPath

# Directories never scanned: virtualenvs, caches, build output.
SKIPPED_DIRS = frozenset({"__pycache__", "build", "dist", "node_modules", "venv"})


@dataclass(frozen=True)
class Import:
    target: str  # absolute dotted name; starts with "." only for a relative import that escapes
    line: int


@dataclass(frozen=True)
class Function:
    qualname: str  # "Class.method", "outer.inner"
    line: int
    length: int  # end_lineno - lineno + 1 of the def (decorators excluded)


@dataclass(frozen=True)
class Module:
    name: str  # "pkg.sub.mod"; "pkg" for pkg/__init__.py
    path: str  # "pkg/sub/mod.py", relative to the repository root
    lines: int
    imports: tuple[Import, ...]
    functions: tuple[Function, ...]

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


@dataclass(frozen=True)
class Evidence:
    path: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


# graph[a][b] = the import statements that make a depend on b (at least one).
Graph = dict[str, dict[str, list[Evidence]]]


def module_name(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_module(path: str, source: str) -> Module:
    """Parse one file; raises SyntaxError when it does not parse."""
    tree = ast.parse(source, filename=path)
    name = module_name(path)
    is_package = PurePosixPath(path).name == "__init__.py"
    return Module(
        name=name,
        path=path,
        lines=len(source.splitlines()),
        imports=tuple(_imports(tree, name, is_package)),
        functions=tuple(_functions(tree.body, "")),
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[Import]:
    found = sorted(  # every statement, however deeply nested, in source order
        (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    return [imp for node in found for imp in _imported(node, module, is_package)]


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[Import]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield Import(alias.name, node.lineno)
        return
    base = _absolute_base(node, module, is_package)
    for alias in node.names:
        if alias.name == "*" or base.endswith("."):
            yield Import(base, node.lineno)
        else:
            yield Import(f"{base}.{alias.name}" if base else alias.name, node.lineno)


def _absolute_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 >= len(package):  # escapes the top-level package: keep it visibly relative
        return "." * node.level + (node.module or "")
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _functions(body: Iterable[ast.stmt], prefix: str) -> Iterator[Function]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            qualname = prefix + node.name
            end = node.end_lineno if node.end_lineno is not None else node.lineno
            yield Function(qualname, node.lineno, end - node.lineno + 1)
            yield from _functions(node.body, qualname + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node.body, prefix + node.name + ".")
        else:  # functions defined under if/try/with/for/match still count
            yield from _functions(_nested_statements(node), prefix)


def _nested_statements(node: ast.stmt) -> Iterator[ast.stmt]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            yield child
        elif isinstance(child, ast.ExceptHandler | ast.match_case):
            yield from child.body


def parse_sources(sources: Mapping[str, str]) -> list[Module]:
    """Parse {relative path: source}; for synthetic trees in tests."""
    return [parse_module(path, text) for path, text in sorted(sources.items())]


def _skipped(directory: str) -> bool:
    return directory in SKIPPED_DIRS or directory.startswith(".") or directory.endswith(".egg-info")


def load_tree(root: Path, excluded: Collection[str]) -> tuple[list[Module], list[str]]:
    """Every .py file under root except those under the top-level directories `excluded`.

    Returns the parsed modules and one message per file that does not parse.
    """
    files: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        top = Path(directory) == root
        subdirs[:] = [d for d in subdirs if not _skipped(d) and not (top and d in excluded)]
        files += [Path(directory, n) for n in names if n.endswith(".py")]
    modules: list[Module] = []
    errors: list[str] = []
    for file in sorted(files):
        rel = file.relative_to(root).as_posix()
        try:
            modules.append(parse_module(rel, file.read_text(encoding="utf-8")))
        except (SyntaxError, UnicodeDecodeError) as exc:
            errors.append(f"{rel}: does not parse: {exc}")
    return modules, errors


def first_party_packages(root: Path, excluded: Collection[str]) -> set[str]:
    """Top-level directories of the repository that hold an __init__.py."""
    return {
        d.name
        for d in root.iterdir()
        if d.is_dir() and d.name not in excluded and (d / "__init__.py").is_file()
    }


def resolve(target: str, known: Collection[str]) -> str | None:
    """The longest known module prefixing `target`, or None when there is none."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def module_graph(modules: Iterable[Module], packages: Collection[str]) -> Graph:
    """Edges between first-party modules (those whose top-level package is in `packages`)."""
    mine = [m for m in modules if m.package in packages]
    known = {m.name for m in mine}
    graph: Graph = {m.name: {} for m in mine}
    for m in mine:
        for imp in m.imports:
            target = resolve(imp.target, known)
            if target is not None and target != m.name:
                graph[m.name].setdefault(target, []).append(Evidence(m.path, imp.line, imp.target))
    return graph


def package_graph(modules: Iterable[Module], packages: Collection[str]) -> Graph:
    """Edges between top-level first-party packages: A -> B when any module of A imports B."""
    graph: Graph = {p: {} for p in packages}
    for m in modules:
        if m.package not in packages:
            continue
        for imp in m.imports:
            target = imp.target.split(".")[0]
            if target in packages and target != m.package:
                graph[m.package].setdefault(target, []).append(
                    Evidence(m.path, imp.line, imp.target)
                )
    return graph


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; each component sorted, components in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    successors = {n: sorted(set(vs)) for n, vs in graph.items()}
    for vs in list(successors.values()):
        for v in vs:
            successors.setdefault(v, [])
    for start in sorted(successors):
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(successors[node]):
                work.append((node, i + 1))
                nxt = successors[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(components)


def _shortest_path(
    graph: Mapping[str, Iterable[str]], start: str, goal: str, within: set[str]
) -> list[str]:
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for nxt in sorted(graph.get(node, ())):
            if nxt in within and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    path = [goal]
    while (before := previous[path[-1]]) is not None:
        path.append(before)
    return path[::-1]


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Cycles (first node repeated at the end) such that every edge lying on some cycle is on one.

    Breaking every reported cycle therefore leaves the graph acyclic, and each edge that has to
    go is shown with its evidence. Self-edges are ignored.
    """
    cycles: list[list[str]] = []
    for component in strongly_connected_components(graph):
        if len(component) < 2:
            continue
        members = set(component)
        covered: set[tuple[str, str]] = set()
        for u in component:
            for v in sorted(set(graph.get(u, ()))):
                if v not in members or v == u or (u, v) in covered:
                    continue
                cycle = [u, *_shortest_path(graph, v, u, members)]
                covered.update(pairwise(cycle))
                cycles.append(cycle)
    return cycles


def describe_cycles(kind: str, graph: Graph) -> list[str]:
    """'package cycle: a -> b -> a (a/x.py:3 imports b.y; b/z.py:9 imports a)'."""
    messages = []
    for cycle in find_cycles(graph):
        steps = []
        for u, v in pairwise(cycle):
            evidence = graph[u][v]
            more = f" (+{len(evidence) - 1} more)" if len(evidence) > 1 else ""
            steps.append(f"{evidence[0]}{more}")
        messages.append(f"{kind} cycle: {' -> '.join(cycle)} ({'; '.join(steps)})")
    return messages


def import_violations(
    modules: Iterable[Module], within: Collection[str], allowed: Callable[[str], bool]
) -> list[str]:
    """Each import statement, in a module of a top-level package in `within`, of something not
    `allowed`: 'pkg/m.py:3 imports x.y, x.z'."""
    violations = []
    for m in modules:
        if m.package not in within:
            continue
        by_line: dict[int, list[str]] = {}
        for imp in m.imports:
            if not allowed(imp.target):
                by_line.setdefault(imp.line, []).append(imp.target)
        violations += [f"{m.path}:{n} imports {', '.join(ts)}" for n, ts in by_line.items()]
    return violations


def size_violations(
    modules: Iterable[Module],
    max_module_lines: int,
    max_function_lines: int,
    allowed: Mapping[str, str],
) -> list[str]:
    """Modules and functions that are too long, and allow-list entries that no longer apply."""
    violations = []
    still_long: set[str] = set()
    for m in modules:
        if m.lines > max_module_lines:
            violations.append(f"{m.path}: {m.lines} lines (limit {max_module_lines}): split it")
        for f in m.functions:
            key = f"{m.path}::{f.qualname}"
            if f.length <= max_function_lines:
                continue
            still_long.add(key)
            if key not in allowed:
                violations.append(
                    f"{key} (line {f.line}): {f.length} lines (limit {max_function_lines}): "
                    "split it, or argue for it in LONG_ALLOWED"
                )
    violations += [
        f"LONG_ALLOWED[{key!r}] is stale: no such function over the limit any more; remove it"
        for key in sorted(set(allowed) - still_long)
    ]
    return violations
