"""A report's read transaction.

On PostgreSQL it raises `work_mem` for its own transaction only (`SET LOCAL`): a report hashes joins and
groups of a million rows, which at the server's default of 4 MB spill to disk in dozens of batches (or
lead the planner to loop over an index instead); 128 MB keeps them in memory. SQLite needs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import Connection, text

from segmail.store.db import Store

REPORT_WORK_MEM: Final = "128MB"


@contextmanager
def reading(store: Store) -> Iterator[Connection]:
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        yield conn
