"""The house reads top-down: connector → store → segments → sending → reports → jobs → ui, and SQL lives in store/.

Every module of the packages is parsed with `ast` (nothing is imported) and each import is checked:
- a module imports only its own layer or layers to its left (LAYERS); the tools `sandbox/` and
  `bench/` may import anything, and only the demo and the CLI's `sandbox` command import them;
- the web workspace `ui/` is the top layer, above jobs/: it reads through the jobs the CLI runs, and
  only the CLI (jobs/cli/, the program's entry: `segmail ui`, `[ui] listen` in `segmail run`) imports it;
  nothing imports the test suite;
- only store/ imports SQLAlchemy (or APScheduler's SQLAlchemy job store) at run time; an import
  inside `if TYPE_CHECKING:` is an annotation of a handle a store function takes, not SQL; only
  store/ imports the table definitions (store.schema).
Exceptions are listed below, each with its reason; the test fails when one is no longer needed.
Import cycles are checked in tests/test_import_cycles.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = (
    "connector",
    "store",
    "segments",
    "sending",
    "reports",
    "jobs",
    "ui",
)  # each may import those to its left
TOOLS = ("sandbox", "bench")  # stand-ins and benchmarks: may import anything
TOOL_USERS = ("jobs.demo", "jobs.cli")  # the demo and `segmail sandbox serve` start the sandboxes
UI_USERS = ("jobs.cli",)  # the CLI is the program's entry: it serves the workspace
SQL_MODULES = ("sqlalchemy", "apscheduler.jobstores.sqlalchemy")
TABLES = "store.schema"
IMPORT_ROOT = "segmail"

# Module → imported module, allowed with a reason (ARCHITECTURE.md: rules are compiled to SQL).
SQL_BY_DESIGN = {
    # the rule language compiles to one SQLAlchemy boolean expression the database evaluates
    ("segments.rules", "sqlalchemy"),
    # config load compiles every rule against the feature table's columns, so a bad rule fails at start
    ("segments.config", TABLES),
}

# Left to the helpers restructuring these seams at the same time (issue 11); the lead empties this
# list once their branches are merged.
PENDING: set[tuple[str, str]] = set()  # none left: every exception moved into store/


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted name as written, resolved to the deepest module of ours where possible
    typing_only: bool  # inside `if TYPE_CHECKING:`


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _typing_only_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith("TYPE_CHECKING"):
            for inner in node.body:
                lines.update(n.lineno for n in ast.walk(inner) if hasattr(n, "lineno"))
    return lines


def _ours(name: str) -> str:
    """`segmail.store.x` and `store.x` are one module (the packages may be installed under one root)."""
    return name.removeprefix(IMPORT_ROOT + ".")


def imports_of(name: str, source: str, known: set[str]) -> Iterator[Import]:
    """Every import in the module, function-local ones too; `from p import m` names module p.m when it is one."""
    tree = ast.parse(source)
    typing_only = _typing_only_lines(tree)
    is_package = any(other.startswith(name + ".") for other in known)
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, _ours(alias.name), node.lineno in typing_only)
        elif isinstance(node, ast.ImportFrom):
            base = _ours(node.module or "")
            if node.level:  # relative: resolved against the importing package
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(name, full if full in known else base, node.lineno in typing_only)


def sources(root: Path = ROOT) -> dict[str, str]:
    return {
        module_name(path, root): path.read_text(encoding="utf-8")
        for package in (*LAYERS, *TOOLS)
        for path in sorted((root / package).rglob("*.py"))
    }


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def all_imports(modules: Mapping[str, str]) -> list[Import]:
    known = set(modules)
    return [imp for name, text in modules.items() for imp in imports_of(name, text, known)]


def layer_violations(imports: list[Import]) -> set[tuple[str, str]]:
    """(importer, imported) pairs that run back up the layers, reach a tool or reach the tests."""
    found = set()
    for imp in imports:
        src, dst = _top(imp.importer), _top(imp.imported)
        if dst == "tests":
            found.add((imp.importer, imp.imported))
        elif dst in TOOLS and src != dst and not any(_is(imp.importer, user) for user in TOOL_USERS):
            if src not in TOOLS:
                found.add((imp.importer, imp.imported))
        elif dst == "ui" and src != "ui" and any(_is(imp.importer, user) for user in UI_USERS):
            continue
        elif src in LAYERS and dst in LAYERS and LAYERS.index(dst) > LAYERS.index(src):
            found.add((imp.importer, imp.imported))
    return found


def sql_violations(imports: list[Import]) -> set[tuple[str, str]]:
    """(importer, imported) pairs of SQL outside store/: SQLAlchemy at run time, or the table definitions."""
    found = set()
    for imp in imports:
        if _top(imp.importer) not in LAYERS or _is(imp.importer, "store"):
            continue
        sql = any(_is(imp.imported, m) for m in SQL_MODULES) and not imp.typing_only
        if sql or _is(imp.imported, TABLES):
            found.add((imp.importer, imp.imported))
    return found


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports(sources())


def _explain(pairs: set[tuple[str, str]]) -> str:
    return "\n".join(f"  {a} imports {b}" for a, b in sorted(pairs))


def test_every_import_runs_down_the_layers(imports):
    found = layer_violations(imports)
    assert not found - PENDING, f"imports running back up the layers:\n{_explain(found - PENDING)}"


def test_sql_only_in_store(imports):
    found = sql_violations(imports)
    unexpected = found - SQL_BY_DESIGN - PENDING
    assert not unexpected, f"SQL outside store/ (move it into a store module):\n{_explain(unexpected)}"
    assert found >= SQL_BY_DESIGN, f"no longer needed, remove:\n{_explain(SQL_BY_DESIGN - found)}"


def test_pending_exceptions_are_still_needed(imports):
    found = layer_violations(imports) | sql_violations(imports)
    assert found >= PENDING, f"fixed, remove from PENDING:\n{_explain(PENDING - found)}"


# ---- the checks themselves can fail ------------------------------------------------------------------


def _imports(**modules: str) -> list[Import]:
    return all_imports({name.replace("__", "."): text for name, text in modules.items()})


def test_the_checks_see_what_they_must():
    imports = _imports(
        store__x="from jobs.cli import main\n",  # back up the layers
        segments__y="def f():\n    from sending import render\n",  # inside a function too
        sending__z="import sandbox.mailchimp\n",  # a tool, from a library layer
        jobs__cli="from sandbox.shopify import ShopifySandbox\n",  # the CLI may start a sandbox
        jobs__w="from sqlalchemy import select\nfrom store.schema import contacts\n",
        jobs__v="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sqlalchemy import Connection\n",
        bench__b="from tests.service_harness import KEY\nfrom jobs import cli\n",
        jobs__send="from ui.server import prepare\n",  # only the CLI may serve the workspace
        jobs__cli__ui="from ui.server import prepare\n",
        ui__app="from jobs.status import status_report\nfrom sqlalchemy import select\n",
    )
    assert layer_violations(imports) == {
        ("store.x", "jobs.cli"),
        ("segments.y", "sending"),
        ("sending.z", "sandbox.mailchimp"),
        ("bench.b", "tests.service_harness"),
        ("jobs.send", "ui.server"),
    }
    assert sql_violations(imports) == {
        ("jobs.w", "sqlalchemy"),
        ("jobs.w", "store.schema"),
        ("ui.app", "sqlalchemy"),
    }
