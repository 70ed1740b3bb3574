"""The house reads top-down: connector → store → segments → sending → reports → jobs, no import back up, no cycles.

Read from the source with `ast` (every import, also those inside functions or under TYPE_CHECKING:
a lazy import that closes a loop is still a loop in the design). An optional `segmail.` import root
is understood, so the check survives the move to one package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from apscheduler.util import ref_to_obj

ROOT = Path(__file__).resolve().parents[1]
LAYERS = (
    "connector",
    "store",
    "segments",
    "sending",
    "reports",
    "jobs",
    "ui",
)  # each may import only those before it
ENTRY = "jobs.cli"  # the program's entry serves the workspace (ui/, the top layer): its one way up

Graph = Mapping[str, set[str]]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_module(name: str, known: set[str]) -> str | None:
    """The module of ours `name` denotes (a module, or the package holding an imported name)."""
    name = name.removeprefix("segmail.")
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = ROOT, packages: Iterable[str] = LAYERS) -> dict[str, set[str]]:
    files = {_module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        names: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [f"{node.module}.{a.name}" for a in node.names]  # `from pkg import module`
        deps = {_project_module(n, known) for n in names}
        graph[module] = {d for d in deps if d is not None and d != module}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def upward_imports(graph: Graph) -> list[str]:
    """`a -> b` for every import of a layer above a's own."""
    rank = {pkg: n for n, pkg in enumerate(LAYERS)}
    return sorted(
        f"{a} -> {b}"
        for a, deps in graph.items()
        for b in deps
        if rank[b.split(".")[0]] > rank[a.split(".")[0]]
        and not (b.split(".")[0] == "ui" and (a == ENTRY or a.startswith(ENTRY + ".")))
    )


def test_the_checks_can_fail():
    graph = {
        "jobs.send": {"jobs.service", "ui.app"},
        "jobs.service": {"jobs.send"},
        "store.unsent": {"sending.unsent"},
        "jobs.cli.ui": {"ui.server"},
    }
    assert cycles(graph) == [["jobs.send", "jobs.service"]]
    assert upward_imports(graph) == ["jobs.send -> ui.app", "store.unsent -> sending.unsent"]


def test_the_graph_sees_imports_inside_functions_and_the_segmail_root(tmp_path):
    for pkg, source in {
        "store": "def f():\n    from segmail.jobs.send import x\n",
        "jobs": "import store.a\n",
    }.items():
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        (tmp_path / pkg / ("a.py" if pkg == "store" else "b.py")).write_text(source)
    (tmp_path / "jobs" / "send.py").write_text("")
    graph = import_graph(tmp_path, ("store", "jobs"))
    assert graph["store.a"] == {"jobs.send"} and graph["jobs.b"] == {"store.a"}


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_layer_imports_one_above_it():
    """In particular store/ and sending/ never import jobs/, and store/ never imports sending/."""
    assert upward_imports(import_graph()) == []


@pytest.mark.parametrize("ref", ["segmail.jobs.send:send_job", "segmail.jobs.service:sync_job"])
def test_the_job_paths_stored_schedules_name_still_resolve(ref):
    """APScheduler keeps each job as the import path of its function: a store written by an earlier
    version names these, so they stay importable even if the code behind them moves."""
    assert callable(ref_to_obj(ref))


def test_the_migration_keeps_the_reason_codes_it_wrote():
    from segmail.sending.unsent import BUCKET_FAILED, CAMPAIGN_REMOVED
    from segmail.store.unsent import V4_BUCKET_FAILED, V4_CAMPAIGN_REMOVED

    assert (V4_BUCKET_FAILED, V4_CAMPAIGN_REMOVED) == (BUCKET_FAILED, CAMPAIGN_REMOVED)
