"""One import root: what pyproject installs, what the wheel holds, and stores written by 0.1 keep working.

segmail installs as the single package `segmail`, mapped from the repository's top-level folders
(pyproject.toml [tool.setuptools.package-dir]). These tests keep the mapping honest: every package
folder is installed, nothing imports the old bare names, the wheel ships the templates, catalogs and
sandbox specs but not the benchmarks or tests, and a store created by version 0.1 (whose scheduler
jobs name `jobs.send:send_job`) still loads its jobs.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import create_engine, text

import segmail.jobs.send
import segmail.jobs.service
from segmail.store.db import SCHEMA_VERSION, open_store, set_meta
from segmail.store.job_table import JOBS_TABLE, rooted

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
OLD_ROOTS = {"connector", "store", "segments", "sending", "reports", "jobs", "sandbox", "ui"}
# made by segmail 0.1 (bare `jobs.*` modules, schema v5): a sync job and one send job
OLD_STORE = ROOT / "tests" / "data" / "store-0.1.0.db"


def package_folders() -> set[str]:
    """Every folder under a mapped one that is a Python package, as its `segmail.` name."""
    found = set()
    for name, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([name, *rel.parts]))
    return found


def test_every_package_folder_is_installed_and_nothing_else():
    assert set(SETUPTOOLS["packages"]) == package_folders()
    assert "bench" not in SETUPTOOLS["package-dir"] and "tests" not in SETUPTOOLS["package-dir"]
    assert PYPROJECT["project"]["scripts"]["segmail"] == "segmail.jobs.cli:main"


def test_no_module_imports_a_bare_name():
    """`import jobs.x` works from a checkout but not from an installed wheel; ruff bans it in the
    packages, and this covers tests/ and bench/ too, which ruff's per-file ignores leave out."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if {".venv", "build"} & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in OLD_ROOTS
            ]
    assert offenders == []


@pytest.mark.slow
def test_the_wheel_ships_templates_catalogs_and_specs_but_not_benchmarks_or_tests(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("segmail-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"segmail"}
    for expected in (
        "segmail/py.typed",
        "segmail/jobs/cli.py" if (ROOT / "jobs" / "cli.py").exists() else "segmail/jobs/cli/__init__.py",
        "segmail/templates/base.html",
        "segmail/templates/vip_early_access.html",
        "segmail/templates/locale/de/LC_MESSAGES/messages.po",
        "segmail/templates/locale/uz/LC_MESSAGES/messages.po",
        "segmail/sandbox/specs/mailchimp-marketing.json",
        "segmail/ui/pages/base.html",
        "segmail/ui/static/app.css",
        "segmail/ui/static/htmx.min.js",
        "segmail/ui/static/htmx.LICENSE.txt",  # the vendored script's licence ships beside it
    ):
        assert expected in names, expected
    assert not [n for n in names if "/bench/" in n or "/tests/" in n or n.startswith(("bench/", "tests/"))]
    shipped = {n.removeprefix("segmail/templates/") for n in names if n.startswith("segmail/templates/")}
    on_disk = {p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*.html")}
    assert on_disk <= shipped
    pages = {n.removeprefix("segmail/ui/") for n in names if n.startswith("segmail/ui/")}
    assert {p.relative_to(ROOT / "ui").as_posix() for p in (ROOT / "ui").rglob("*") if p.is_file() and
            "__pycache__" not in p.parts} <= pages  # fmt: skip


def test_old_job_references_are_rooted_and_others_kept():
    assert rooted("jobs.send:send_job") == "segmail.jobs.send:send_job"
    assert rooted("jobs.service:sync_job") == "segmail.jobs.service:sync_job"
    assert rooted("segmail.jobs.send:send_job") == "segmail.jobs.send:send_job"
    assert rooted("mypackage.tasks:run") == "mypackage.tasks:run"


def _loaded_jobs(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
        return {job.id: job.func for job in store.get_all_jobs()}
    finally:
        engine.dispose()


def test_a_store_made_by_0_1_keeps_its_scheduled_jobs(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(OLD_STORE, path)
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.connect() as conn:
        refs = conn.execute(text(f"SELECT count(*) FROM {JOBS_TABLE}")).scalar_one()
        assert (
            conn.execute(text("SELECT value FROM segmail_meta WHERE key = 'schema_version'")).scalar_one()
            == "5"
        )
    engine.dispose()
    assert refs == 2
    opened = open_store(url)  # runs the migrations
    opened.dispose()
    jobs = _loaded_jobs(url)
    assert jobs == {
        "segmail.sync": segmail.jobs.service.sync_job,
        "send:vip_early:2030-01-02T09:00:00+00:00": segmail.jobs.send.send_job,
    }
    again = open_store(url)  # at the current version: nothing left to rewrite
    again.dispose()
    assert _loaded_jobs(url) == jobs


@pytest.mark.postgres
def test_a_postgresql_store_at_v5_keeps_its_scheduled_jobs(request):
    """The same rewrite on PostgreSQL: 0.1's job rows (taken from the SQLite file) in a v5 store."""
    url = request.getfixturevalue("pg_database")
    # the database is shared by the session: start from an empty schema, whatever ran before
    fresh = create_engine(url, isolation_level="AUTOCOMMIT")
    with fresh.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    fresh.dispose()
    old = create_engine(f"sqlite:///{OLD_STORE}")
    with old.connect() as conn:
        rows = conn.execute(text(f"SELECT id, next_run_time, job_state FROM {JOBS_TABLE}")).all()
    old.dispose()
    store = open_store(url)
    SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE).start(None, "default")  # creates the table
    with store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {JOBS_TABLE}"))
        for job_id, next_run, state in rows:
            conn.execute(
                text(f"INSERT INTO {JOBS_TABLE} (id, next_run_time, job_state) VALUES (:i, :n, :s)"),
                {"i": job_id, "n": next_run, "s": state},
            )
        set_meta(conn, "schema_version", 5)
    store.dispose()
    assert SCHEMA_VERSION == 11  # v5 → v6 (the job rewrite) → v7 → … → v11
    open_store(url).dispose()
    assert _loaded_jobs(url) == {
        "segmail.sync": segmail.jobs.service.sync_job,
        "send:vip_early:2030-01-02T09:00:00+00:00": segmail.jobs.send.send_job,
    }
