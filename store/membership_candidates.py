"""The contacts an incremental compute re-evaluates: a temporary table filled from what moved since the last one.

Two kinds of contact can change segment between two computes on the feature cache (segments.incremental):
those whose features were rebuilt (the stale list, copied here before the refresh empties it) and those
whose features stayed the same but whose verdict moved with the as-of time or a shop statistic. The
second kind is found by comparing each rule compiled for the previous compute with the same rule
compiled for this one, row by row, in one scan of the feature cache; everybody else keeps the stored
verdict, which is exactly what evaluating them again would give.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    BinaryExpression,
    BindParameter,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    MetaData,
    String,
    Table,
    and_,
    exists,
    false,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.sql import operators

from segmail.store.schema import feature_dirty, features
from segmail.store.upsert import insert_ignore


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


def add_keys(conn: Connection, table: Table, keys: Collection[str]) -> None:
    """Add these contacts (those whose prediction scores were made again, segments.predictive)."""
    insert_ignore(conn, table, [{"email_key": k} for k in sorted(keys)])


def add_crossings(
    conn: Connection,
    table: Table,
    pairs: Sequence[tuple[ColumnElement[bool], ColumnElement[bool]]],
    source: FromClause | None = None,
) -> int:
    """Add every cached contact for which some pair's two conditions disagree (a missing value is false,
    as in a segment's WHERE); how many were added that were not candidates already. `source` is what the
    conditions read when more than the features (the prediction scores joined to them).

    Each pair is checked only on the rows inside its moving ranges (`moving_ranges`), when known: one
    scan of cheap range tests, the two conditions evaluated only where they can differ."""
    terms = []
    for now, before in pairs:
        differs = func.coalesce(now, false()) != func.coalesce(before, false())
        ranges = moving_ranges(conn, now, before)
        if ranges is None:
            terms.append(differs)
        elif ranges:
            terms.append(and_(or_(*[column.between(low, high) for column, low, high in ranges]), differs))
    if not terms:
        return 0
    f = features
    known = exists().where(table.c.email_key == f.c.email_key)
    rows = select(f.c.email_key).select_from(f if source is None else source).where(or_(*terms), ~known)
    done = conn.execute(
        insert(table).from_select(["email_key"], rows), execution_options={"preserve_rowcount": True}
    )
    return int(done.rowcount or 0)


def analyze(conn: Connection, table: Table) -> None:
    """PostgreSQL never analyses a temporary table by itself: without it, the plans that start from the
    candidates guess their size and may scan the memberships instead of probing them."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def feature_rows(conn: Connection, table: Table, source: Table) -> Table:
    """A temporary copy of the candidates' rows of the feature cache `source`, for the segments' rules to
    read: one join, then each rule scans a few thousand rows (PostgreSQL otherwise plans a hash join over
    the whole cache for every segment)."""
    copy = Table(
        "tmp_candidate_features",
        MetaData(),
        *[Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in source.columns],
        prefixes=["TEMPORARY"],
    )
    copy.drop(conn, checkfirst=True)
    copy.create(conn)
    rows = select(source).where(source.c.email_key.in_(select(table.c.email_key)))
    conn.execute(insert(copy).from_select([c.name for c in source.columns], rows))
    analyze(conn, copy)
    return copy


def count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def keys_of(table: Table) -> Any:
    """The candidate keys as a subquery, for the staging and moving of memberships (store.memberships)."""
    return select(table.c.email_key)


_COMPARISONS = frozenset({operators.lt, operators.le, operators.gt, operators.ge, operators.eq, operators.ne})


class _Moving(Exception):
    """A constant that differs between the two conditions somewhere a range on one column cannot bound."""


def moving_ranges(
    conn: Connection, now: ColumnElement[bool], before: ColumnElement[bool]
) -> list[tuple[ColumnElement[Any], Any, Any]] | None:
    """Where two compilations of one rule can disagree, as ranges of feature columns; None when not known.

    The two must be the same SQL but for bound constants (the same rule at another T or with other
    statistics), and every constant that differs must be the bound of an atom `column <op> constant` on
    the feature cache. The condition is then the same function of the atoms on both sides, an atom
    differs only for a row whose column lies between its two bounds (a missing value makes it false on
    both), so rows outside every range get the same verdict from both: the ranges hold every row where
    the two disagree."""
    if str(now.compile(dialect=conn.dialect)) != str(before.compile(dialect=conn.dialect)):
        return None  # another shape (e.g. a statistic became missing and a comparison folded to false)
    found: list[tuple[ColumnElement[Any], Any, Any]] = []
    try:
        _walk(now, before, found)
    except _Moving:
        return None
    return found


def _walk(a: Any, b: Any, found: list[tuple[ColumnElement[Any], Any, Any]]) -> None:
    if type(a) is not type(b):
        raise _Moving
    if isinstance(a, BindParameter):
        if a.value != b.value:
            raise _Moving
        return
    if isinstance(a, BinaryExpression) and a.operator in _COMPARISONS and _bound_on_features(a, b):
        if a.right.value != b.right.value:
            low, high = sorted((a.right.value, b.right.value))
            found.append((a.left, low, high))
        return
    ours, theirs = list(a.get_children()), list(b.get_children())
    if len(ours) != len(theirs):
        raise _Moving
    for x, y in zip(ours, theirs, strict=True):
        _walk(x, y, found)


def _bound_on_features(a: BinaryExpression[Any], b: BinaryExpression[Any]) -> bool:
    """`column <op> constant` on a feature cache column, the same column and operator on both sides."""
    return (
        a.operator is b.operator
        and isinstance(a.left, Column)
        and a.left is b.left
        and a.left.table is features
        and isinstance(a.right, BindParameter)
        and isinstance(b.right, BindParameter)
        and not a.right.expanding
        and isinstance(a.right.value, int | float)
        and isinstance(b.right.value, int | float)
    )
