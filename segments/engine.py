"""Evaluating segments in the database: desired memberships, their diff, preview and explain."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from segmail.segments.config import SegmentDef
from segmail.segments.rules import FEATURES, PREDICTIVE_FEATURES, Compiled, Compiler, Kind
from segmail.store import contacts, membership_candidates, predict_scores, shop_stats
from segmail.store import features as feature_store
from segmail.store import memberships as stored
from segmail.store.codec import from_us, to_us
from segmail.store.memberships import SegmentChange as SegmentChange  # what `apply` returns, per segment
from segmail.store.memberships import stored_rows as stored_rows  # the stored side, for exports
from segmail.store.runs import last_run

if TYPE_CHECKING:
    from sqlalchemy import Connection, FromClause, Table

    from segmail.segments import predictive


class ShopStats:
    """Shop-level statistics over the population, computed lazily once per evaluation."""

    def __init__(
        self, conn: Connection, source: feature_store.FeatureSource, known: Mapping[str, Any] | None = None
    ) -> None:
        """`known`: statistics a compute recorded (`record()`) over this very cache, reused as they are."""
        self._conn = conn
        self._src = source
        self._median: tuple[Fraction | None] | None = None
        self._thresholds: dict[Fraction, Fraction | None] = {}
        if known is not None:
            if "median" in known:
                self._median = (read_exact(known["median"]),)
            self._thresholds = {Fraction(p): read_exact(v) for p, v in known.get("top", {}).items()}

    def median_repurchase_days(self) -> Fraction | None:
        if self._median is None:
            self._median = (shop_stats.median_repurchase_days(self._conn, self._src),)
        return self._median[0]

    def top_spenders_threshold(self, percent: Fraction) -> Fraction | None:
        if percent not in self._thresholds:
            self._thresholds[percent] = shop_stats.top_spenders_threshold(self._conn, self._src, percent)
        return self._thresholds[percent]

    def record(self) -> dict[str, Any]:
        """The statistics computed so far, exactly, for the next compute (segments.incremental)."""
        out: dict[str, Any] = {"top": {str(p): _exact(v) for p, v in self._thresholds.items()}}
        if self._median is not None:
            out["median"] = _exact(self._median[0])
        return out


def _exact(value: Fraction | None) -> str | None:
    return None if value is None else str(value)  # Fraction("p/q") reads it back exactly


def read_exact(text: str | None) -> Fraction | None:
    """A statistic as `record()` wrote it."""
    return None if text is None else Fraction(text)


@dataclass
class Evaluation:
    """Desired memberships at `as_of` in a temporary table, with what produced them."""

    as_of: datetime
    source: feature_store.FeatureSource
    staged: Table | None  # None: evaluated for `explain` only, no member table built
    compiled: dict[str, Compiled]
    stats: ShopStats
    defs: dict[str, SegmentDef]
    predictions: predictive.Scored | None = None  # None: no enabled rule reads a prediction feature
    rows: FromClause | None = None  # what the rules read when more than the features (the scores joined)

    @property
    def staging(self) -> Table:
        """The desired memberships; an evaluation made with `stage=False` has none."""
        assert self.staged is not None, "evaluated without staging (explain only)"
        return self.staged


def evaluate(
    conn: Connection,
    defs: Sequence[SegmentDef],
    *,
    as_of: datetime,
    paid_statuses: Sequence[str],
    currency: str | None = None,
    annual_discount_rate: float = 0.0,
    with_predictions: bool = False,
    stage: bool = True,
    consume_stale: bool = False,
    known_stats: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Every segment at `as_of`; predictions are scored when an enabled rule reads them, or when asked
    (`explain` shows them all). `stage=False` compiles the rules without writing every segment's
    members to the temporary table: what `explain` of one contact needs, at a fraction of the cost.
    `consume_stale`: a compute's evaluation, which empties the stale list (store.features.prepare).
    `known_stats`: the shop statistics the last compute recorded, when the cache is still what it read
    (they are functions of the cache alone); not used on a point-in-time copy."""
    as_of_us = to_us(as_of)
    source = feature_store.prepare(
        conn, as_of_us=as_of_us, paid_statuses=paid_statuses, currency=currency, consume=consume_stale
    )
    stats = ShopStats(conn, source, None if source.point_in_time else known_stats)
    compiled: dict[str, Compiled] = {}
    for defn in defs:
        compiler = Compiler(source=source.features, as_of_us=as_of_us, params=defn.params, stats=stats)
        compiled[defn.name] = compiler.compile(defn.rule)
    conditions = {d.name: compiled[d.name].condition for d in defs if d.enabled}
    scored, rows = None, None
    predicting = _predicting(defs, compiled)
    if with_predictions or predicting:
        # imported here: NumPy and SciPy load only for evaluations that score (every command starts faster)
        from segmail.segments import predictive

        scored = predictive.score(
            conn,
            as_of=as_of,
            paid_statuses=paid_statuses,
            currency=currency,
            annual_discount_rate=annual_discount_rate,
        )
        rows = predict_scores.joined(source.features)
    return Evaluation(
        as_of=as_of,
        source=source,
        staged=stored.stage(conn, source.features, conditions, rows, predicting) if stage else None,
        compiled=compiled,
        stats=stats,
        defs={d.name: d for d in defs},
        predictions=scored,
        rows=rows,
    )


def stage(conn: Connection, ev: Evaluation, *, among: Table | None = None) -> None:
    """Write the desired memberships of an evaluation made with `stage=False`: of every contact, or only
    of those in `among` (a table of keys: an incremental compute's candidates, segments.incremental)."""
    predicting = _predicting(ev.defs.values(), ev.compiled)
    if among is None:
        conditions = {name: ev.compiled[name].condition for name, d in ev.defs.items() if d.enabled}
        ev.staged = stored.stage(conn, ev.source.features, conditions, ev.rows, predicting)
        return
    # the same rules, T and statistics over a copy of the candidates' feature rows: the same verdicts
    rows = membership_candidates.feature_rows(conn, among, ev.source.features)
    at_us = to_us(ev.as_of)
    conditions = {
        name: Compiler(source=rows, as_of_us=at_us, params=d.params, stats=ev.stats).compile(d.rule).condition
        for name, d in ev.defs.items()
        if d.enabled
    }
    joined = None if ev.rows is None else predict_scores.joined(rows)  # the scores beside the copy
    ev.staged = stored.stage(conn, rows, conditions, joined, predicting)


def _predicting(defs: Iterable[SegmentDef], compiled: Mapping[str, Compiled]) -> set[str]:
    """The enabled segments whose rules read prediction features (they read the scores joined)."""
    return {d.name for d in defs if d.enabled and compiled[d.name].features & PREDICTIVE_FEATURES}


def apply(
    conn: Connection, ev: Evaluation, *, run_id: int, among: Table | None = None
) -> dict[str, SegmentChange]:
    """Make the stored memberships equal the evaluation; per segment, what changed. With `among` (the
    evaluation was staged with it), only those contacts' memberships move."""
    at_us = to_us(ev.as_of)
    changes = {
        name: stored.move_to(conn, ev.staging, name, at_us=at_us, run_id=run_id, among=among)
        for name in ev.defs
    }
    # segments no longer in the config have no desired members
    gone = [name for name in previous_segments(conn) if name not in ev.defs]
    orphans = stored.drop_segments(conn, gone, at_us=at_us, run_id=run_id)
    if orphans:
        changes["(removed segments)"] = SegmentChange(size=0, entered=0, left=orphans)
    return changes


def previous_segments(conn: Connection) -> list[str]:
    """Segments with stored memberships, read from the last compute's stats (no table scan)."""
    run = last_run(conn, "compute")
    return [name for name in (run["stats"] if run else {}) if not name.startswith("(")]


def desired_rows(conn: Connection, ev: Evaluation) -> Iterator[tuple[str, str]]:
    """(email_key, segment) of the evaluation, ordered, streamed."""
    return stored.staged_rows(conn, ev.staging)


@dataclass(frozen=True)
class Change:
    segment: str
    email_key: str
    action: str  # enter | leave
    reason: str


def preview(conn: Connection, ev: Evaluation) -> Iterator[Change]:
    """Who would enter and leave each segment against the stored memberships, with why."""
    for name in ev.defs:
        for action, keys in (
            ("enter", stored.entering(conn, ev.staging, name)),
            ("leave", stored.leaving(conn, ev.staging, name)),
        ):
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
    names = sorted(rule.features)
    values = [_compiler(ev, name).feature_sql(n) for n in names]
    clauses = [c for _, c in rule.clauses]
    found = feature_store.values_for(conn, ev.source.features, [*clauses, *values], keys, ev.rows)
    out = {}
    for key, row in found.items():
        held = row[: len(clauses)]
        shown = ", ".join(
            f"{n}={format_feature(n, v)}" for n, v in zip(names, row[len(clauses) :], strict=True)
        )
        if entering:
            out[key] = f"now matches ({shown})"
        else:
            failed = next(
                (text for (text, _), ok in zip(rule.clauses, held, strict=True) if not ok), "the rule"
            )
            out[key] = f"no longer: {failed} ({shown})"
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
    if kind is Kind.MONEY or name in ("avg_order_value", "predicted_clv_365d"):
        return f"{float(value):.2f}"
    if not FEATURES[name].exact:  # probabilities, expected counts, percentiles
        return f"{float(value):.4g}"
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
    status = contacts.status_of(conn, email_key)
    f = ev.source.features
    any_compiler = Compiler(source=f, as_of_us=to_us(ev.as_of), params={}, stats=ev.stats)
    # prediction features only when this evaluation scored them (they live in a table it created)
    names = [n for n in FEATURES if ev.rows is not None or not FEATURES[n].predictive]
    found = feature_store.values_for(
        conn, f, [any_compiler.feature_sql(n) for n in names], [email_key], ev.rows
    )
    row = found.get(email_key)
    if row is None:
        why = "no such contact" if status is None else f"not in the population (status {status})"
        return Explanation(email_key, status, {}, [Verdict(n, False, why) for n in ev.defs])
    shown = {n: format_feature(n, v) for n, v in zip(names, row, strict=True)}
    verdicts = []
    for name, rule in ev.compiled.items():
        if not ev.defs[name].enabled:
            verdicts.append(Verdict(name, False, "segment disabled in the config"))
            continue
        cols = [rule.condition, *[c for _, c in rule.clauses]]
        held = feature_store.values_for(conn, f, cols, [email_key], ev.rows)[email_key]
        if held[0]:
            verdicts.append(Verdict(name, True, "every clause holds"))
        else:
            failed = [text for (text, _), ok in zip(rule.clauses, held[1:], strict=True) if not ok]
            verdicts.append(Verdict(name, False, f"fails: {failed[0] if failed else ev.defs[name].rule}"))
    return Explanation(email_key, status, shown, verdicts)
