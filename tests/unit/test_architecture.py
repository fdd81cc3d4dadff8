"""Architecture rules, checked on the source itself (nothing is imported or run).

1. domain is pure: it imports only the standard library, PURE_DEPENDENCIES and itself.
2. No cycles between top-level first-party packages.
3. No cycles between first-party modules.
4. The query side (QUERY_SIDE) never imports the command side (COMMAND_SIDE).
5. No module over MAX_MODULE_LINES lines; no function over MAX_FUNCTION_LINES lines unless
   LONG_ALLOWED says why.

Every import statement counts, wherever it is: inside functions, under `if TYPE_CHECKING:`, in
`try:` blocks. A lazy import hides a dependency from the import-time machinery, not from the
design. (Imports by string, `importlib.import_module("x")`, are not seen.)

Each test collects every violation and shows them all. The first half of this file tests the
checker itself on small synthetic trees, so a reintroduced cycle is known to fail the build.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

from tests.unit.architecture import (
    Module,
    describe_cycles,
    find_cycles,
    first_party_packages,
    import_violations,
    load_tree,
    module_graph,
    package_graph,
    parse_module,
    parse_sources,
    size_violations,
)

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = frozenset({"tests"})  # top-level directories that are not first-party packages

# Third-party distributions domain may import; grow it only for pure, I/O-free libraries.
PURE_DEPENDENCIES = frozenset({"sortedcontainers"})
QUERY_SIDE = frozenset({"query_api", "projections", "streams"})
COMMAND_SIDE = "command_api"

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# "path::qualname" -> why this function may stay over MAX_FUNCTION_LINES. Argue each entry.
LONG_ALLOWED: dict[str, str] = {}


# The rules, as functions of parsed modules, shared by the real-tree and the synthetic tests.


def _is_pure(target: str) -> bool:
    top = target.split(".")[0]
    return top in sys.stdlib_module_names or top in PURE_DEPENDENCIES or top == "domain"


def domain_violations(modules: Iterable[Module]) -> list[str]:
    return import_violations(modules, {"domain"}, _is_pure)


def query_side_violations(modules: Iterable[Module]) -> list[str]:
    return import_violations(modules, QUERY_SIDE, lambda t: t.split(".")[0] != COMMAND_SIDE)


def package_cycles(modules: Iterable[Module], packages: Iterable[str]) -> list[str]:
    return describe_cycles("package", package_graph(modules, set(packages)))


def module_cycles(modules: Iterable[Module], packages: Iterable[str]) -> list[str]:
    return describe_cycles("module", module_graph(modules, set(packages)))


def sizes(modules: Iterable[Module], allowed: Mapping[str, str] = LONG_ALLOWED) -> list[str]:
    return size_violations(modules, MAX_MODULE_LINES, MAX_FUNCTION_LINES, allowed)


def _synthetic(sources: Mapping[str, str]) -> tuple[list[Module], set[str]]:
    """A tree of {path: source}, with an empty __init__.py for every package directory."""
    files = dict(sources)
    for path in sources:
        parts = path.split("/")[:-1]
        for end in range(1, len(parts) + 1):
            files.setdefault("/".join([*parts[:end], "__init__.py"]), "")
    packages = {path.split("/")[0] for path in files if "/" in path}
    return parse_sources(files), packages


# The checker, on synthetic trees.


def test_an_acyclic_graph_passes() -> None:
    modules, packages = _synthetic(
        {
            "a/x.py": "import b.y\nfrom c import z\n",
            "b/y.py": "from c.z import thing\n",
            "c/z.py": "import os\nimport sortedcontainers\nthing = 1\n",
        }
    )
    assert package_cycles(modules, packages) == []
    assert module_cycles(modules, packages) == []
    assert find_cycles({"a": ["b", "c"], "b": ["c"], "c": [], "d": ["d"]}) == []


def test_a_two_cycle_is_reported_with_its_evidence() -> None:
    modules, packages = _synthetic(
        {
            "projections/cli.py": "import os\n\nfrom streams.app import run\n",
            "streams/app.py": "from projections import cli\n\ndef run() -> None: ...\n",
        }
    )
    assert package_cycles(modules, packages) == [
        "package cycle: projections -> streams -> projections ("
        "projections/cli.py:3 imports streams.app.run; streams/app.py:1 imports projections.cli)"
    ]
    assert module_cycles(modules, packages) == [
        "module cycle: projections.cli -> streams.app -> projections.cli ("
        "projections/cli.py:3 imports streams.app.run; streams/app.py:1 imports projections.cli)"
    ]


def test_a_three_cycle_is_reported() -> None:
    modules, packages = _synthetic(
        {"a/m.py": "import b.m\n", "b/m.py": "import c.m\n", "c/m.py": "from a.m import f\n"}
    )
    [package] = package_cycles(modules, packages)
    assert package.startswith("package cycle: a -> b -> c -> a (a/m.py:1 imports b.m;")
    [module] = module_cycles(modules, packages)
    assert module.startswith("module cycle: a.m -> b.m -> c.m -> a.m (")
    assert find_cycles({"x": ["y"], "y": ["z"], "z": ["x"]}) == [["x", "y", "z", "x"]]


def test_a_cycle_hidden_by_an_import_inside_a_function_is_found() -> None:
    modules, packages = _synthetic(
        {
            "a/m.py": "import b.m\n",
            "b/m.py": "class K:\n    def f(self) -> None:\n        from a import m\n",
        }
    )
    assert package_cycles(modules, packages) == [
        "package cycle: a -> b -> a (a/m.py:1 imports b.m; b/m.py:3 imports a.m)"
    ]
    assert len(module_cycles(modules, packages)) == 1


def test_a_cycle_through_an_import_under_type_checking_is_found() -> None:
    modules, packages = _synthetic(
        {
            "a/m.py": "import b.m\n",
            "b/m.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from a.m import Thing\n"
                "else:\n"
                "    try:\n"
                "        import a\n"
                "    except ImportError:\n"
                "        pass\n"
            ),
        }
    )
    assert package_cycles(modules, packages) == [
        "package cycle: a -> b -> a (a/m.py:1 imports b.m; b/m.py:3 imports a.m.Thing (+1 more))"
    ]
    # b.m -> a.m (the TYPE_CHECKING import) closes the module cycle; b.m -> a does not.
    assert module_cycles(modules, packages) == [
        "module cycle: a.m -> b.m -> a.m (a/m.py:1 imports b.m; b/m.py:3 imports a.m.Thing)"
    ]


def test_every_edge_on_a_cycle_is_shown_not_just_one_cycle_per_component() -> None:
    graph = {"a": ["b"], "b": ["a", "c"], "c": ["b", "d"], "d": []}
    assert find_cycles(graph) == [["a", "b", "a"], ["b", "c", "b"]]


def test_a_package_init_importing_its_own_submodule_is_an_edge() -> None:
    modules, packages = _synthetic(
        {"p/__init__.py": "from p.sub import f\n", "p/sub.py": "from p import VERSION\n"}
    )
    assert package_cycles(modules, packages) == []  # within one package: no package edge
    assert module_cycles(modules, packages) == [
        "module cycle: p -> p.sub -> p (p/__init__.py:1 imports p.sub.f; "
        "p/sub.py:1 imports p.VERSION)"
    ]


def test_imports_resolve_to_modules() -> None:
    modules, packages = _synthetic(
        {
            "pkg/mod.py": "",
            "pkg/sub/deep.py": "from . import sibling\nfrom .. import mod\nfrom ...x import y\n",
            "pkg/sub/sibling.py": "",
            "user/m.py": (
                "import pkg.mod.name\n"  # a name in pkg.mod -> pkg.mod
                "from pkg import mod\n"  # a submodule -> pkg.mod
                "from pkg import helper\n"  # a name in pkg/__init__.py -> pkg
                "import pkg.sub\n"  # a package -> its __init__
                "from pkg.sub import *\n"
                "import json\n"  # not first-party -> no edge
            ),
        }
    )
    graph = module_graph(modules, packages)
    assert sorted(graph["user.m"]) == ["pkg", "pkg.mod", "pkg.sub"]
    assert [e.line for e in graph["user.m"]["pkg.mod"]] == [1, 2]
    assert sorted(graph["pkg.sub.deep"]) == ["pkg.mod", "pkg.sub.sibling"]
    deep = next(m for m in modules if m.name == "pkg.sub.deep")
    assert [i.target for i in deep.imports] == ["pkg.sub.sibling", "pkg.mod", "...x.y"]


def test_a_forbidden_import_in_domain_is_reported_wherever_it_is() -> None:
    modules, _ = _synthetic(
        {
            "domain/ok.py": (
                "from __future__ import annotations\n"
                "import collections.abc\n"
                "from sortedcontainers import SortedList\n"
                "from domain.events import Event\n"
                "from . import events\n"
            ),
            "domain/events.py": "",
            "domain/bad.py": (
                "from typing import TYPE_CHECKING\n"
                "import psycopg, json.decoder, redis\n"
                "if TYPE_CHECKING:\n"
                "    from eventstore.store import Store\n"
                "def f() -> None:\n"
                "    import pydantic\n"
                "    from ... import escape\n"
            ),
            "elsewhere/m.py": "import psycopg\n",  # only domain is held to this rule
        }
    )
    assert domain_violations(modules) == [
        "domain/bad.py:2 imports psycopg, redis",
        "domain/bad.py:4 imports eventstore.store.Store",
        "domain/bad.py:6 imports pydantic",
        "domain/bad.py:7 imports ...",  # a relative import escaping domain
    ]


def test_the_query_side_importing_the_command_side_is_reported() -> None:
    modules, _ = _synthetic(
        {
            "projections/api.py": "def f() -> None:\n    from command_api.handlers import h\n",
            "query_api/app.py": "import command_api\n",
            "streams/app.py": "import projections\n",
            "command_api/app.py": "import projections\n",  # the other way round is fine
        }
    )
    assert query_side_violations(modules) == [
        "projections/api.py:2 imports command_api.handlers.h",
        "query_api/app.py:1 imports command_api",
    ]


def test_sizes_are_measured_without_decorators_and_the_allow_list_is_kept_honest() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    source = (
        "@decorator\n@another\n"
        f"def exactly_at_the_limit() -> None:\n{body}\n"
        "class K:\n"
        f"    async def too_long(self) -> None:\n{body.replace('    ', '        ')}        pass\n"
        "if True:\n"
        f"    def nested_in_if() -> None:\n{body.replace('    ', '        ')}        pass\n"
    )
    module = parse_module("pkg/big.py", source)
    assert [(f.qualname, f.length) for f in module.functions] == [
        ("exactly_at_the_limit", MAX_FUNCTION_LINES),
        ("K.too_long", MAX_FUNCTION_LINES + 1),
        ("nested_in_if", MAX_FUNCTION_LINES + 1),
    ]
    at_limit = parse_module("pkg/ok.py", "x = 1\n" * MAX_MODULE_LINES)
    too_long = parse_module("pkg/long.py", "x = 1\n" * (MAX_MODULE_LINES + 1))
    allowed = {"pkg/big.py::K.too_long": "a reason", "pkg/gone.py::f": "no longer true"}
    found = sizes([module, at_limit, too_long], allowed)
    assert [v.split(" ")[0] for v in found] == [
        "pkg/big.py::nested_in_if",
        "pkg/long.py:",
        "LONG_ALLOWED['pkg/gone.py::f']",
    ]
    assert sizes([parse_module("pkg/small.py", "def f() -> None:\n    pass\n")]) == []


# The rules, on the repository.


@cache
def _repository() -> tuple[tuple[Module, ...], frozenset[str], tuple[str, ...]]:
    packages = first_party_packages(ROOT, NOT_SOURCE)
    modules, errors = load_tree(ROOT, NOT_SOURCE)
    assert "domain" in packages and modules, f"no first-party packages found under {ROOT}"
    return tuple(modules), frozenset(packages), tuple(errors)


def _check(rule: str, violations: Iterable[str]) -> None:
    found = list(violations)
    if found:
        pytest.fail(f"{rule}: {len(found)} violation(s)\n  " + "\n  ".join(found), pytrace=False)


def test_every_module_parses() -> None:
    _check("every module must parse", _repository()[2])


def test_domain_is_pure() -> None:
    rule = "domain may import only the standard library, PURE_DEPENDENCIES and domain itself"
    _check(rule, domain_violations(_repository()[0]))


def test_no_package_cycles() -> None:
    modules, packages, _ = _repository()
    rule = "top-level packages must not import each other in a cycle (break one edge of each)"
    _check(rule, package_cycles(modules, packages))


def test_no_module_cycles() -> None:
    modules, packages, _ = _repository()
    rule = "modules must not import each other in a cycle (lazy and TYPE_CHECKING imports count)"
    _check(rule, module_cycles(modules, packages))


def test_the_query_side_never_imports_the_command_side() -> None:
    rule = f"the query side ({', '.join(sorted(QUERY_SIDE))}) must not import {COMMAND_SIDE}"
    _check(rule, query_side_violations(_repository()[0]))


def test_modules_and_functions_stay_small() -> None:
    rule = f"modules stay under {MAX_MODULE_LINES} lines, functions under {MAX_FUNCTION_LINES}"
    _check(rule, sizes(_repository()[0]))
