"""Evaluating segments in the database: desired memberships, their diff, preview and explain."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, exists, func, insert, literal, select

from segments.config import SegmentDef
from segments.rules import FEATURES, Compiled, Compiler, Kind
from store import features as feature_store
from store.codec import MONEY_SCALE, US_PER_DAY, from_us, to_us
from store.runs import last_run
from store.schema import contacts, memberships


class ShopStats:
    """Shop-level statistics over the population, computed lazily once per evaluation."""

    def __init__(self, conn: Connection, source: feature_store.FeatureSource) -> None:
        self._conn = conn
        self._src = source
        self._median: tuple[Fraction | None] | None = None
        self._thresholds: dict[Fraction, Fraction | None] = {}

    def median_repurchase_days(self) -> Fraction | None:
        if self._median is None:
            g = self._src.gaps  # holds the population's gaps only (see store.features)
            n = int(self._conn.execute(select(func.count()).select_from(g)).scalar_one())
            if n == 0:
                self._median = (None,)
            else:
                middle = (
                    self._conn.execute(
                        select(g.c.gap_us).order_by(g.c.gap_us).offset((n - 1) // 2).limit(2 - n % 2)
                    )
                    .scalars()
                    .all()
                )
                self._median = (Fraction(sum(int(v) for v in middle), len(middle) * US_PER_DAY),)
        return self._median[0]

    def top_spenders_threshold(self, percent: Fraction) -> Fraction | None:
        if percent not in self._thresholds:
            f = self._src.features
            # buyers with money in the reporting currency: an order in another currency moves nothing
            spenders = f.c.money_orders_count >= 1
            buyers = int(self._conn.execute(select(func.count()).where(spenders)).scalar_one())
            k = math.ceil(percent / 100 * buyers)
            value = None
            if k > 0:
                spent = self._conn.execute(
                    select(f.c.total_spent_e4)
                    .where(spenders)
                    .order_by(f.c.total_spent_e4.desc())
                    .offset(k - 1)
                    .limit(1)
                ).scalar_one()
                value = Fraction(int(spent), MONEY_SCALE)
            self._thresholds[percent] = value
        return self._thresholds[percent]


@dataclass
class Evaluation:
    """Desired memberships at `as_of` in a temporary table, with what produced them."""

    as_of: datetime
    source: feature_store.FeatureSource
    staging: Table
    compiled: dict[str, Compiled]
    stats: ShopStats
    defs: dict[str, SegmentDef]


@dataclass(frozen=True)
class SegmentChange:
    size: int
    entered: int
    left: int


def evaluate(
    conn: Connection,
    defs: Sequence[SegmentDef],
    *,
    as_of: datetime,
    paid_statuses: Sequence[str],
    currency: str | None = None,
) -> Evaluation:
    as_of_us = to_us(as_of)
    source = feature_store.prepare(conn, as_of_us=as_of_us, paid_statuses=paid_statuses, currency=currency)
    stats = ShopStats(conn, source)
    staging = Table(
        "tmp_desired",
        MetaData(),
        Column("segment", String(64), primary_key=True),
        Column("email_key", String(320), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    staging.drop(conn, checkfirst=True)
    staging.create(conn)
    compiled: dict[str, Compiled] = {}
    for defn in defs:
        rule = Compiler(source=source.features, as_of_us=as_of_us, params=defn.params, stats=stats).compile(
            defn.rule
        )
        compiled[defn.name] = rule
        if defn.enabled:
            rows = select(literal(defn.name, String), source.features.c.email_key).where(rule.condition)
            conn.execute(insert(staging).from_select(["segment", "email_key"], rows))
    return Evaluation(
        as_of=as_of,
        source=source,
        staging=staging,
        compiled=compiled,
        stats=stats,
        defs={d.name: d for d in defs},
    )


def _not_in(table: Table, other: Table) -> Any:
    return ~exists().where(other.c.segment == table.c.segment, other.c.email_key == table.c.email_key)


def apply(conn: Connection, ev: Evaluation, *, run_id: int) -> dict[str, SegmentChange]:
    """Make the stored memberships equal the evaluation; per segment, what changed."""
    m, s = memberships, ev.staging
    changes: dict[str, SegmentChange] = {}
    for name in ev.defs:
        left = conn.execute(memberships.delete().where(m.c.segment == name, _not_in(m, s))).rowcount
        entered_rows = select(s.c.segment, s.c.email_key, literal(to_us(ev.as_of)), literal(run_id)).where(
            s.c.segment == name, _not_in(s, m)
        )
        entered = conn.execute(
            insert(m).from_select(["segment", "email_key", "entered_at", "run_id"], entered_rows)
        ).rowcount
        size = conn.execute(select(func.count()).where(s.c.segment == name)).scalar_one()
        changes[name] = SegmentChange(size=int(size), entered=int(entered or 0), left=int(left or 0))
    # segments no longer in the config have no desired members
    dropped = [name for name in previous_segments(conn) if name not in ev.defs]
    orphans = conn.execute(memberships.delete().where(m.c.segment.in_(dropped))).rowcount if dropped else 0
    if orphans:
        changes["(removed segments)"] = SegmentChange(size=0, entered=0, left=int(orphans))
    return changes


def previous_segments(conn: Connection) -> list[str]:
    """Segments with stored memberships, read from the last compute's stats (no table scan)."""
    run = last_run(conn, "compute")
    return [name for name in (run["stats"] if run else {}) if not name.startswith("(")]


def desired_rows(conn: Connection, ev: Evaluation) -> Iterator[tuple[str, str]]:
    """(email_key, segment) of the evaluation, ordered, streamed."""
    s = ev.staging
    result = conn.execution_options(yield_per=20_000).execute(
        select(s.c.email_key, s.c.segment).order_by(s.c.segment, s.c.email_key)
    )
    for row in result:
        yield row[0], row[1]


def stored_rows(conn: Connection) -> Iterator[tuple[str, str]]:
    m = memberships
    result = conn.execution_options(yield_per=20_000).execute(
        select(m.c.email_key, m.c.segment).order_by(m.c.segment, m.c.email_key)
    )
    for row in result:
        yield row[0], row[1]


@dataclass(frozen=True)
class Change:
    segment: str
    email_key: str
    action: str  # enter | leave
    reason: str


def preview(conn: Connection, ev: Evaluation) -> Iterator[Change]:
    """Who would enter and leave each segment against the stored memberships, with why."""
    m, s = memberships, ev.staging
    for name in ev.defs:
        for action, query in (
            (
                "enter",
                select(s.c.email_key).where(s.c.segment == name, _not_in(s, m)).order_by(s.c.email_key),
            ),
            (
                "leave",
                select(m.c.email_key).where(m.c.segment == name, _not_in(m, s)).order_by(m.c.email_key),
            ),
        ):
            keys = list(conn.execute(query).scalars())
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                reasons = _reasons(conn, ev, name, batch, entering=action == "enter")
                for key in batch:
                    yield Change(
                        name,
                        key,
                        action,
                        reasons.get(key, "left the population (status cleaned or archived)"),
                    )


def _reasons(
    conn: Connection, ev: Evaluation, name: str, keys: list[str], *, entering: bool
) -> dict[str, str]:
    rule = ev.compiled[name]
    if not ev.defs[name].enabled:
        return dict.fromkeys(keys, "segment disabled in the config")
    f = ev.source.features
    names = sorted(rule.features)
    values = [_compiler(ev, name).feature_sql(n) for n in names]
    query = select(f.c.email_key, *[c for _, c in rule.clauses], *values).where(f.c.email_key.in_(keys))
    out = {}
    for row in conn.execute(query):
        held = list(row[1 : 1 + len(rule.clauses)])
        shown = ", ".join(
            f"{n}={format_feature(n, v)}" for n, v in zip(names, row[1 + len(rule.clauses) :], strict=True)
        )
        if entering:
            out[row[0]] = f"now matches ({shown})"
        else:
            failed = next(
                (text for (text, _), ok in zip(rule.clauses, held, strict=True) if not ok), "the rule"
            )
            out[row[0]] = f"no longer: {failed} ({shown})"
    return out


def _compiler(ev: Evaluation, name: str) -> Compiler:
    defn = ev.defs[name]
    return Compiler(source=ev.source.features, as_of_us=to_us(ev.as_of), params=defn.params, stats=ev.stats)


def format_feature(name: str, value: Any) -> str:
    if value is None:
        return "missing"
    kind = FEATURES[name].kind
    if kind is Kind.TIMESTAMP:
        stamp = from_us(int(value))
        assert stamp is not None
        return stamp.isoformat().replace("+00:00", "Z")
    if kind is Kind.DAYS:
        return f"{float(value):.2f}"
    if kind is Kind.MONEY or name == "avg_order_value":
        return f"{float(value):.2f}"
    if kind is Kind.CATEGORIES:
        cats = dict.fromkeys(c for c in str(value).split("|") if c)
        return "|".join(cats) or "none"
    return str(value)


@dataclass(frozen=True)
class Verdict:
    segment: str
    member: bool
    reason: str


@dataclass(frozen=True)
class Explanation:
    email_key: str
    status: str | None  # None when no such contact
    features: dict[str, str]
    verdicts: list[Verdict]


def explain(conn: Connection, ev: Evaluation, email_key: str) -> Explanation:
    status = conn.execute(
        select(contacts.c.status).where(contacts.c.email_key == email_key)
    ).scalar_one_or_none()
    f = ev.source.features
    any_compiler = Compiler(source=f, as_of_us=to_us(ev.as_of), params={}, stats=ev.stats)
    names = list(FEATURES)
    row = conn.execute(
        select(*[any_compiler.feature_sql(n) for n in names]).where(f.c.email_key == email_key)
    ).first()
    if row is None:
        why = "no such contact" if status is None else f"not in the population (status {status})"
        return Explanation(email_key, status, {}, [Verdict(n, False, why) for n in ev.defs])
    shown = {n: format_feature(n, v) for n, v in zip(names, row, strict=True)}
    verdicts = []
    for name, rule in ev.compiled.items():
        cols = [rule.condition, *[c for _, c in rule.clauses]]
        held = conn.execute(select(*cols).where(f.c.email_key == email_key)).one()
        if not ev.defs[name].enabled:
            verdicts.append(Verdict(name, False, "segment disabled in the config"))
        elif held[0]:
            verdicts.append(Verdict(name, True, "every clause holds"))
        else:
            failed = [text for (text, _), ok in zip(rule.clauses, held[1:], strict=True) if not ok]
            verdicts.append(Verdict(name, False, f"fails: {failed[0] if failed else ev.defs[name].rule}"))
    return Explanation(email_key, status, shown, verdicts)
