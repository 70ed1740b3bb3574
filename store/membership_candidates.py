"""The contacts an incremental compute re-evaluates: a temporary table filled from what moved since the last one.

Two kinds of contact can change segment between two computes on the feature cache (segments.incremental):
those whose features were rebuilt (the stale list, copied here before the refresh empties it) and those
whose features stayed the same but whose verdict moved with the as-of time or a shop statistic. The
second kind is found by comparing each rule compiled for the previous compute with the same rule
compiled for this one, row by row, in one scan of the feature cache; everybody else keeps the stored
verdict, which is exactly what evaluating them again would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    String,
    Table,
    exists,
    false,
    func,
    insert,
    or_,
    select,
)

from segmail.store.schema import feature_dirty, features


def create(conn: Connection) -> Table:
    """An empty temporary table of candidate keys (dropped first if an earlier call in this session left one)."""
    table = Table(
        "tmp_candidates",
        MetaData(),
        Column("email_key", String(320), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    table.drop(conn, checkfirst=True)
    table.create(conn)
    return table


def add_stale(conn: Connection, table: Table) -> int:
    """Copy the stale list (store.features refreshes these contacts and then empties it); how many.

    Called under the feature lock (store.feature_lock), before the refresh: no import adds to the list
    between this copy and the refresh that reads it."""
    done = conn.execute(
        insert(table).from_select(["email_key"], select(feature_dirty.c.email_key)),
        execution_options={"preserve_rowcount": True},
    )
    return int(done.rowcount or 0)


def same_condition(conn: Connection, a: ColumnElement[bool], b: ColumnElement[bool]) -> bool:
    """Whether two conditions are the same SQL with the same constants (then no row can tell them apart)."""
    try:
        literal = {"literal_binds": True}
        return str(a.compile(dialect=conn.dialect, compile_kwargs=literal)) == str(
            b.compile(dialect=conn.dialect, compile_kwargs=literal)
        )
    except Exception:  # a constant without a literal form: treat as different, the scan decides
        return False


def add_crossings(
    conn: Connection, table: Table, pairs: Sequence[tuple[ColumnElement[bool], ColumnElement[bool]]]
) -> int:
    """Add every cached contact for which some pair's two conditions disagree (a missing value is false,
    as in a segment's WHERE); how many were added that were not candidates already."""
    if not pairs:
        return 0
    f = features
    differs = [func.coalesce(now, false()) != func.coalesce(before, false()) for now, before in pairs]
    known = exists().where(table.c.email_key == f.c.email_key)
    rows = select(f.c.email_key).where(or_(*differs), ~known)
    done = conn.execute(
        insert(table).from_select(["email_key"], rows), execution_options={"preserve_rowcount": True}
    )
    return int(done.rowcount or 0)


def analyze(conn: Connection, table: Table) -> None:
    """PostgreSQL never analyses a temporary table by itself: without it, the plans that start from the
    candidates guess their size and may scan the memberships instead of probing them."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def keys_of(table: Table) -> Any:
    """The candidate keys as a subquery, for the staging and moving of memberships (store.memberships)."""
    return select(table.c.email_key)
