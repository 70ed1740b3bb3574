"""Per-contact features and repurchase gaps, built in SQL from contacts, orders and events.

The persistent `features`/`order_gaps` tables are a cache over all stored data, refreshed only for
contacts listed in `feature_dirty` (the importers add them). When data newer than the as-of time
is stored (a back-dated compute), a point-in-time copy is built in temporary tables instead, so a
rule never sees an order or event after T.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    FromClause,
    MetaData,
    Select,
    Subquery,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from segmail.connector.records import EXCLUDED_STATUSES
from segmail.store import feature_lock
from segmail.store.currency import reporting_currency
from segmail.store.db import get_meta, set_meta
from segmail.store.schema import STAT_INDEXES, contacts, events, feature_dirty, features, order_gaps, orders
from segmail.store.writer import FINGERPRINT_KEY, LATEST_KEY

_FINGERPRINT_VERSION = 2  # 2: money features count the reporting currency only


class concat_agg(GenericFunction[str]):
    """`concat_agg(value, *order_by)`: concatenation in order of the given columns.

    PostgreSQL gets `string_agg(value, '' ORDER BY ...)`; SQLite (no ORDER BY in aggregates
    before 3.44) gets `group_concat`, fed in (email_key, created_at) index order by the plan.
    The order matters: the cache must be byte-identical however it was built.
    """

    inherit_cache = True
    name = "concat_agg"


@compiles(concat_agg, "sqlite")
def _concat_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    value = next(iter(element.clauses))
    return f"group_concat({compiler.process(value, **kw)}, '')"


@compiles(concat_agg, "postgresql")
def _concat_pg(element: Any, compiler: Any, **kw: Any) -> str:
    value, *order = list(element.clauses)
    by = ", ".join(compiler.process(c, **kw) for c in order)
    return f"string_agg({compiler.process(value, **kw)}, ''{' ORDER BY ' + by if by else ''})"


@dataclass(frozen=True, kw_only=True)
class FeatureSource:
    """The tables rules read: the cache, or point-in-time temporary copies."""

    features: Table
    gaps: Table
    point_in_time: bool
    refreshed: int  # contacts whose features were (re)built in this call
    rebuilt: bool = False  # the whole cache was built anew (no cache yet, or another fingerprint)


def _temp_like(conn: Connection, table: Table, name: str) -> Table:
    temp = Table(
        name,
        MetaData(),
        *[Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns],
        prefixes=["TEMPORARY"],
    )
    temp.drop(conn, checkfirst=True)
    temp.create(conn)
    return temp


def prepare(
    conn: Connection,
    *,
    as_of_us: int,
    paid_statuses: Sequence[str],
    currency: str | None = None,
    consume: bool = False,
) -> FeatureSource:
    """Return features valid at as_of: the refreshed cache, or a point-in-time copy.

    `currency` is `[shop] currency`; money features add up orders in the reporting currency only
    (see store.currency), so a change of it rebuilds the cache. The stale list is emptied only when
    `consume` (a compute): it is also the list of whom the next compute must evaluate again
    (segments.incremental), so a preview, an explain or an export refreshes those rows and keeps it.
    """
    feature_lock.refreshing(conn)  # no import commits between reading the stale list and clearing it
    money = reporting_currency(conn, currency)
    if conn.dialect.name == "postgresql":
        # the default 4 MB spills every million-row sort and hash aggregate to disk
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    latest = get_meta(conn, LATEST_KEY)
    if latest is not None and latest > as_of_us:
        f = _temp_like(conn, features, "tmp_features")
        g = _temp_like(conn, order_gaps, "tmp_order_gaps")
        n = _build(conn, f, g, paid_statuses, money, upto=as_of_us, dirty_only=False)
        return FeatureSource(features=f, gaps=g, point_in_time=True, refreshed=n)
    fingerprint = {"version": _FINGERPRINT_VERSION, "paid_statuses": sorted(paid_statuses), "currency": money}
    if get_meta(conn, FINGERPRINT_KEY) != fingerprint:
        for table in (features, order_gaps, feature_dirty):
            conn.execute(delete(table))
        if conn.dialect.name == "postgresql":  # fresh statistics after bulk imports: good plans
            conn.exec_driver_sql("ANALYZE contacts, orders, events")
        with _value_indexes_after(conn):
            n = _build(conn, features, order_gaps, paid_statuses, money, upto=None, dirty_only=False)
        set_meta(conn, FINGERPRINT_KEY, fingerprint)
        set_meta(conn, BUILD_KEY, secrets.token_hex(8))  # whoever rebuilt it: no compute starts from before
        return FeatureSource(
            features=features, gaps=order_gaps, point_in_time=False, refreshed=n, rebuilt=True
        )
    dirty = select(feature_dirty.c.email_key)
    if conn.dialect.name == "postgresql":  # the dirty set's size decides between index and hash plans
        conn.exec_driver_sql("ANALYZE feature_dirty")
    conn.execute(delete(features).where(features.c.email_key.in_(dirty)))
    conn.execute(delete(order_gaps).where(order_gaps.c.email_key.in_(dirty)))
    n = _build(conn, features, order_gaps, paid_statuses, money, upto=None, dirty_only=True)
    if consume:
        conn.execute(delete(feature_dirty))
    return FeatureSource(features=features, gaps=order_gaps, point_in_time=False, refreshed=n)


@contextmanager
def _value_indexes_after(conn: Connection) -> Iterator[None]:
    """On SQLite, drop the statistics' value indexes for a whole rebuild and make them after: one sort
    instead of a million inserts at random places. (PostgreSQL keeps them: dropping an index would lock
    readers of the cache out until the compute commits.)"""
    if conn.dialect.name != "sqlite":
        yield
        return
    stat = [i for t in (features, order_gaps) for i in t.indexes if i.name in STAT_INDEXES]
    for index in stat:
        index.drop(conn, checkfirst=True)
    yield
    for index in stat:
        index.create(conn)


def any_stale(conn: Connection) -> bool:
    """Whether some contact's cached features wait for a refresh (imports, erasures and retention list them)."""
    return conn.execute(select(feature_dirty.c.email_key).limit(1)).first() is not None


BUILD_KEY = "features_build"  # a random token per whole rebuild of the cache


def cache_fingerprint(conn: Connection) -> Any:
    """What the feature cache was last built with; it moves whenever the whole cache is rebuilt, by any
    evaluation (imports made while no cache existed flag nobody stale: no compute may start from before)."""
    return [get_meta(conn, FINGERPRINT_KEY), get_meta(conn, BUILD_KEY)]


def _build(
    conn: Connection,
    target: Table,
    gaps: Table,
    paid: Sequence[str],
    money: str | None,
    *,
    upto: int | None,
    dirty_only: bool,
) -> int:
    """Insert feature rows into `target` and repurchase gaps into `gaps`; return the contacts built."""
    scope = _Scope.of(paid, upto=upto, dirty_only=dirty_only)
    rows = _feature_rows(_order_totals(scope, money), _last_engagement(scope), scope)
    conn.execute(insert(target).from_select([col.name for col in target.columns], rows))
    built = select(func.count()).select_from(target)
    if dirty_only:
        built = built.where(target.c.email_key.in_(_dirty()))
    refreshed = int(conn.execute(built).scalar_one())
    _insert_gaps(conn, target, gaps, scope)
    return refreshed


def _dirty() -> Select[tuple[str]]:
    return select(feature_dirty.c.email_key)


@dataclass(frozen=True)
class _Scope:
    """Which orders, events and contacts a build reads: paid orders up to T, of stale contacts only."""

    paid_orders: list[ColumnElement[bool]]
    events: list[ColumnElement[bool]]
    contacts: list[ColumnElement[bool]]

    @classmethod
    def of(cls, paid: Sequence[str], *, upto: int | None, dirty_only: bool) -> _Scope:
        o, e, c = orders, events, contacts
        paid_where: list[ColumnElement[bool]] = [o.c.status.in_(list(paid))]
        event_where: list[ColumnElement[bool]] = []
        contact_where: list[ColumnElement[bool]] = [c.c.status.not_in(EXCLUDED_STATUSES)]
        if upto is not None:
            paid_where.append(o.c.created_at <= upto)
            event_where.append(e.c.at <= upto)
        if dirty_only:
            paid_where.append(o.c.email_key.in_(_dirty()))
            event_where.append(e.c.email_key.in_(_dirty()))
            contact_where.append(c.c.email_key.in_(_dirty()))
        return cls(paid_orders=paid_where, events=event_where, contacts=contact_where)


def _order_totals(scope: _Scope, money: str | None) -> Subquery:
    """Per contact: paid orders, net spend in the reporting currency, first and last order, categories."""
    o = orders
    # an order in another currency counts as an order, never as money (store.currency)
    counted: ColumnElement[bool] = literal(True) if money is None else o.c.currency == money
    return (
        select(
            o.c.email_key,
            func.count().label("n"),
            func.sum(case((counted, o.c.total_e4 - o.c.refunded_e4), else_=0)).label("spent"),
            func.min(o.c.created_at).label("first_at"),
            func.max(o.c.created_at).label("last_at"),
            concat_agg(o.c.categories, o.c.created_at, o.c.order_id).label("cats"),
            func.sum(case((counted, 1), else_=0)).label("money_n"),
        )
        .where(and_(*scope.paid_orders))
        .group_by(o.c.email_key)
        .subquery("oagg")
    )


def _last_engagement(scope: _Scope) -> Subquery:
    """Per contact: the last open and the last click."""
    e = events
    return (
        select(
            e.c.email_key,
            func.max(case((e.c.type == "open", e.c.at))).label("open_at"),
            func.max(case((e.c.type == "click", e.c.at))).label("click_at"),
        )
        .where(and_(True, *scope.events))
        .group_by(e.c.email_key)
        .subquery("eagg")
    )


def _feature_rows(oagg: Subquery, eagg: Subquery, scope: _Scope) -> Select[Any]:
    """One row per contact in scope, in the column order of the features table."""
    c = contacts
    last_engaged = case(
        (eagg.c.open_at.is_(None), eagg.c.click_at),
        (eagg.c.click_at.is_(None), eagg.c.open_at),
        (eagg.c.open_at > eagg.c.click_at, eagg.c.open_at),
        else_=eagg.c.click_at,
    )
    return (
        select(
            c.c.email_key,
            c.c.status,
            c.c.country,
            c.c.language,
            c.c.timezone,
            c.c.opted_in_at,
            func.coalesce(oagg.c.n, 0),
            func.coalesce(oagg.c.spent, 0),
            oagg.c.first_at,
            oagg.c.last_at,
            eagg.c.open_at,
            eagg.c.click_at,
            last_engaged,
            func.coalesce(oagg.c.cats, literal("")),
            func.coalesce(oagg.c.money_n, 0),
        )
        .select_from(
            c.outerjoin(oagg, oagg.c.email_key == c.c.email_key).outerjoin(
                eagg, eagg.c.email_key == c.c.email_key
            )
        )
        .where(and_(*scope.contacts))
    )


def _insert_gaps(conn: Connection, target: Table, gaps: Table, scope: _Scope) -> None:
    """The gap between consecutive paid orders of each contact just built (median_repurchase_days)."""
    o = orders
    # ordered like the orders key, so the window needs no sort
    order = (o.c.created_at, o.c.source, o.c.order_id)
    gap = (o.c.created_at - func.lag(o.c.created_at).over(partition_by=o.c.email_key, order_by=order)).label(
        "gap_us"
    )
    population = o.c.email_key.in_(select(target.c.email_key))
    windowed = select(o.c.email_key, gap).where(and_(*scope.paid_orders, population)).subquery("w")
    conn.execute(
        insert(gaps).from_select(
            ["email_key", "gap_us"],
            select(windowed.c.email_key, windowed.c.gap_us).where(windowed.c.gap_us.is_not(None)),
        )
    )


def values_for(
    conn: Connection,
    source: Table,
    columns: Sequence[ColumnElement[Any]],
    keys: Sequence[str],
    rows: FromClause | None = None,
) -> dict[str, tuple[Any, ...]]:
    """Per contact in `keys` that is in the population, the value of each expression over its feature row
    (and what `rows` joins to it: the prediction scores)."""
    query = (
        select(source.c.email_key, *columns)
        .select_from(source if rows is None else rows)
        .where(source.c.email_key.in_(keys))
    )
    return {row[0]: tuple(row[1:]) for row in conn.execute(query)}
