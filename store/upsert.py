"""Dialect-aware bulk upserts keyed by natural keys (SQLite and PostgreSQL share the syntax).

Statements are compiled once per batch and run with the driver's executemany: SQLAlchemy's
per-row parameter processing was the largest cost of a million-row import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_SQLITE_NAMED = sqlite.dialect(paramstyle="named")


def _execute_many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    # Named placeholders on both drivers (sqlite3 ":name", psycopg "%(name)s"), so the row
    # mappings go to the driver as they are.
    dialect = _SQLITE_NAMED if conn.dialect.name == "sqlite" else conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    assert not compiled.positional
    conn.exec_driver_sql(str(compiled), list(rows))


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, or update every non-key column of the row with the same natural key."""
    if not rows:
        return
    stmt = _insert(conn, table)
    updates = {
        c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys and c.name in rows[0]
    }
    if updates:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    _execute_many(conn, stmt, rows)


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows whose key is not there yet; existing rows stay as they are."""
    if rows:
        _execute_many(conn, _insert(conn, table).on_conflict_do_nothing(), rows)
