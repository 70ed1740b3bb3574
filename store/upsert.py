"""Dialect-aware bulk upserts keyed by natural keys (SQLite and PostgreSQL share the syntax).

SQLite: the statement is compiled once per batch and run with the driver's executemany
(SQLAlchemy's per-row parameter processing was the largest cost of a million-row import).
PostgreSQL: the batch is COPYed into a temporary staging table and merged with one
INSERT ... SELECT ... ON CONFLICT, about ten times faster than row-by-row executemany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, or_, select
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_SQLITE_NAMED = sqlite.dialect(paramstyle="named")


def _execute_many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    # named placeholders (":name"), so the row mappings go to sqlite3 as they are
    compiled = stmt.compile(dialect=_SQLITE_NAMED, column_keys=list(rows[0]))
    assert not compiled.positional
    conn.exec_driver_sql(str(compiled), list(rows))


def _stage(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> Table:
    """COPY rows into a session-local staging table shaped like `table` (emptied at commit)."""
    columns = list(rows[0])
    stage = Table(f"stage_{table.name}", MetaData(), *[Column(c, table.c[c].type) for c in columns])
    dbapi: Any = conn.connection.dbapi_connection  # the psycopg connection inside this transaction
    with dbapi.cursor() as cur:
        cur.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage.name} (LIKE {table.name}) ON COMMIT DELETE ROWS"
        )
        cur.execute(f"TRUNCATE {stage.name}")
        with cur.copy(f"COPY {stage.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row[c] for c in columns))
    return stage


# Bookkeeping columns: they alone changing does not make a row different (re-imports change nothing).
BOOKKEEPING = frozenset({"updated_at", "mc_seen_at"})


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, or update the non-key columns of the row with the same natural key when they differ."""
    if not rows:
        return
    stmt = _merge(conn, table, rows)
    columns = [c.name for c in table.columns if c.name not in keys and c.name in rows[0]]
    if columns:
        changed = [table.c[c].is_distinct_from(stmt.excluded[c]) for c in columns if c not in BOOKKEEPING]
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in columns},
            where=or_(*changed) if changed else None,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    _run(conn, stmt, rows)


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows whose key is not there yet; existing rows stay as they are."""
    if rows:
        _run(conn, _merge(conn, table, rows).on_conflict_do_nothing(), rows)


def _merge(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> Any:
    """INSERT into `table`: from a staging table on PostgreSQL, from bound rows on SQLite."""
    stmt = _insert(conn, table)
    if conn.dialect.name == "postgresql":
        stage = _stage(conn, table, rows)
        stmt = stmt.from_select(list(rows[0]), select(*stage.c))
    return stmt


def _run(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(stmt)  # rows are already staged
    else:
        _execute_many(conn, stmt, rows)
