"""A report's reads: one read transaction, or several queries at once on connections of their own.

On PostgreSQL a report raises `work_mem` for its own transactions only (`SET LOCAL`): it hashes joins and
groups of a million rows, which at the server's default of 4 MB spill to disk in dozens of batches (or
lead the planner to loop over an index instead); 128 MB keeps them in memory. SQLite needs nothing.

`concurrently` runs a report's independent queries at the same time, each on its own connection, so the
database works on them on several cores (SQLite's driver releases the GIL while a statement runs). On
PostgreSQL every connection reads the snapshot of the first (`pg_export_snapshot`), so the results agree
exactly as one transaction's would. On SQLite (WAL) each reads the snapshot of its own start: a sync that
commits in those milliseconds can show in some figures and not others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import Connection, text

from segmail.store.db import Store

REPORT_WORK_MEM: Final = "128MB"
WORKERS: Final = 2  # SQLite: each connection may hold up to its page cache ([store] cache_mib) in memory
_SNAPSHOT = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def _analytic(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


@contextmanager
def reading(store: Store) -> Iterator[Connection]:
    with store.engine.begin() as conn:
        _analytic(conn)
        yield conn


def concurrently(store: Store, tasks: Sequence[Callable[[Connection], Any]]) -> list[Any]:
    """Each task's result, in order; every task runs in a read transaction of its own connection."""
    if store.dialect != "postgresql":
        return _pool(tasks, lambda task: _sqlite(store, task))
    with store.engine.connect() as lead:
        lead = lead.execution_options(isolation_level="REPEATABLE READ")
        with lead.begin():
            snapshot = str(lead.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            if not _SNAPSHOT.fullmatch(snapshot):
                raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
            return _pool(tasks, lambda task: _postgresql(store, snapshot, task))


def _pool(
    tasks: Sequence[Callable[[Connection], Any]], run: Callable[[Callable[[Connection], Any]], Any]
) -> list[Any]:
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(tasks))) as pool:
        return list(pool.map(run, tasks))


def _sqlite(store: Store, task: Callable[[Connection], Any]) -> Any:
    with reading(store) as conn:
        return task(conn)


def _postgresql(store: Store, snapshot: str, task: Callable[[Connection], Any]) -> Any:
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))  # the transaction's first statement
            _analytic(conn)
            return task(conn)
