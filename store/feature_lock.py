"""Keep the feature cache and its stale list consistent while imports and computes overlap.

On PostgreSQL each statement of a READ COMMITTED transaction sees what has committed by then, so an
import committing in the middle of a compute's cache refresh could have its `feature_dirty` flags
deleted by that refresh without its rows having been read (or, before the first compute, write no
flags at all because the cache did not exist yet when it looked). A transaction-scoped advisory lock
closes that window: every writer of contacts, orders, events or the stale list holds it shared (many
imports run together), the cache refresh holds it exclusively (it waits for the imports in flight to
commit; imports that start meanwhile wait for it). SQLite needs nothing: it already lets one writer at
a time in, and a compute writes from its first statement.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

FEATURE_LOCK = 0x66656174  # "feat" in ASCII; distinct from the leadership and run-number locks


def writing(conn: Connection) -> None:
    """Called by anything that changes what features are built from, before it writes."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock_shared(FEATURE_LOCK)))


def refreshing(conn: Connection) -> None:
    """Called by the feature cache's refresh, before it reads the stale list; held until commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(FEATURE_LOCK)))
