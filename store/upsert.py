"""Dialect-aware bulk upserts keyed by natural keys (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, or update every non-key column of the row with the same natural key."""
    if not rows:
        return
    stmt = _insert(conn, table)
    updates = {
        c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys and c.name in rows[0]
    }
    stmt = (
        stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
        if updates
        else (stmt.on_conflict_do_nothing(index_elements=list(keys)))
    )
    conn.execute(stmt, list(rows))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows whose key is not there yet; existing rows stay as they are."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))
