"""Incremental compute: which contacts can have changed segment since the last compute, or why all must be evaluated.

The stored memberships are the rules evaluated at the previous compute's as-of time T0, with the shop
statistics S0 its rules called, over the feature cache as it was then. A contact whose features were not
rebuilt since has the same feature row now; evaluating it at T1 with statistics S1 gives a different
verdict only if its rule, compiled for (T0, S0) and for (T1, S1), disagrees on that row. So the exact set
of contacts that can move is: the stale ones (rebuilt in this compute) plus the rows where some rule's two
compilations disagree. Everyone else keeps the verdict stored for them, which is the one a full compute
would give; a full compute runs instead whenever that argument does not hold (`Start.reason`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from segmail.segments.config import SegmentDef
from segmail.segments.engine import read_exact
from segmail.segments.rules import Compiler, RuleError
from segmail.store import membership_candidates
from segmail.store.codec import to_us
from segmail.store.features import cache_fingerprint

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

    from segmail.segments.engine import Evaluation

# 1: verdicts at T0 with the statistics S0 the rules called; bumped whenever what a verdict depends on
# changes meaning (the rule compiler, the features), so an older record is never trusted
VERSION: Final = 1


class NotRecorded(LookupError):
    """A rule asked for a statistic the previous compute did not compute."""


class RecordedStats:
    """The shop statistics as the previous compute's rules saw them (segments.rule_language.Stats)."""

    def __init__(self, recorded: Mapping[str, Any]) -> None:
        self._recorded = recorded

    def median_repurchase_days(self) -> Fraction | None:
        if "median" not in self._recorded:
            raise NotRecorded("median_repurchase_days")
        return read_exact(self._recorded["median"])

    def top_spenders_threshold(self, percent: Fraction) -> Fraction | None:
        top = self._recorded.get("top", {})
        if str(percent) not in top:
            raise NotRecorded(f"top_spenders_threshold({percent})")
        return read_exact(top[str(percent)])


@dataclass(frozen=True)
class Start:
    """Before the feature refresh: the candidates so far (the stale contacts), or why a full compute runs."""

    previous: Mapping[str, Any] | None
    candidates: Table | None
    reason: str | None  # None: incremental so far


def before_refresh(
    conn: Connection,
    previous: Mapping[str, Any] | None,
    *,
    last_compute: int | None,
    rules: str,
    as_of_us: int,
) -> Start:
    """Check what can be checked before the refresh and copy the stale list, which the refresh empties.

    `previous` is the last compute's record (store.membership_basis.recorded_verdicts), `last_compute`
    the last successful compute's run, `rules` the digest of this compute's rules (jobs.compute)."""
    reason = _unusable(previous, last_compute=last_compute, rules=rules, as_of_us=as_of_us)
    if reason is not None:
        return Start(previous, None, reason)
    table = membership_candidates.create(conn)
    membership_candidates.add_stale(conn, table)
    return Start(previous, table, None)


def _unusable(
    previous: Mapping[str, Any] | None, *, last_compute: int | None, rules: str, as_of_us: int
) -> str | None:
    if previous is None:
        return "no previous compute to start from"
    if previous.get("version") != VERSION:
        return "the previous compute was recorded by another version"
    if previous.get("run") != last_compute:
        return "the stored memberships are not the last compute's"
    if previous.get("rules") != rules:
        return "the rules, their parameters, paid statuses or currency changed"
    if as_of_us < int(previous["as_of_us"]):
        return "as-of time before the previous compute's"
    return None


@dataclass(frozen=True)
class Candidates:
    """The contacts to evaluate again (a temporary table), or why every contact is evaluated."""

    table: Table | None
    reason: str | None  # None: incremental
    stale: int = 0
    crossing: int = 0

    @property
    def path(self) -> str:
        return "incremental" if self.reason is None else f"full: {self.reason}"


def candidates(conn: Connection, start: Start, ev: Evaluation) -> Candidates:
    """After the refresh (`ev` compiled for T1, not staged): every contact whose verdict can have moved."""
    if start.reason is not None or start.candidates is None or start.previous is None:
        return Candidates(None, start.reason or "no previous compute to start from")
    reason = _unusable_source(conn, start.previous, ev)
    if reason is not None:
        return Candidates(None, reason)
    table = start.candidates
    if ev.predictions is not None and ev.predictions.changed:  # the buyers rescored since (the day's)
        membership_candidates.add_keys(conn, table, ev.predictions.changed)
    stale = membership_candidates.count(conn, table)
    try:
        pairs = _disagreeing(conn, start.previous, ev)
    except (NotRecorded, RuleError) as exc:
        return Candidates(None, f"the previous compute's rule cannot be rebuilt ({exc})")
    crossing = membership_candidates.add_crossings(conn, table, pairs, ev.rows)
    membership_candidates.analyze(conn, table)
    return Candidates(table, None, stale=stale, crossing=crossing)


def _unusable_source(conn: Connection, previous: Mapping[str, Any], ev: Evaluation) -> str | None:
    if ev.source.point_in_time:
        return "point-in-time compute (data after the as-of time is stored)"
    scored = ev.predictions
    if scored is not None and scored.changed is None:
        return (
            "every buyer's prediction scores were made anew (a new day, fit or setting, or an earlier order)"
        )
    if scored is not None and previous.get("scores") != scored.before:
        return "the prediction scores are not those the previous compute read"
    # rebuilt: imports made while no cache existed listed nobody as stale (store.writer), so the stale
    # list cannot say who changed, whatever the fingerprint
    if ev.source.rebuilt or cache_fingerprint(conn) != previous.get("features"):
        return "the feature cache was rebuilt"
    return None


def _disagreeing(conn: Connection, previous: Mapping[str, Any], ev: Evaluation) -> list[tuple[Any, Any]]:
    """(now, before) conditions of every enabled segment whose two compilations are not the same SQL."""
    before_stats = RecordedStats(previous.get("stats", {}))
    pairs = []
    for name, defn in ev.defs.items():
        if not defn.enabled:
            continue
        now = ev.compiled[name].condition
        before = _compiled_at(ev, defn, as_of_us=int(previous["as_of_us"]), stats=before_stats)
        if not membership_candidates.same_condition(conn, now, before):
            pairs.append((now, before))
    return pairs


def _compiled_at(ev: Evaluation, defn: SegmentDef, *, as_of_us: int, stats: RecordedStats) -> Any:
    compiler = Compiler(source=ev.source.features, as_of_us=as_of_us, params=defn.params, stats=stats)
    return compiler.compile(defn.rule).condition


def record(ev: Evaluation, *, run_id: int, rules: str, fingerprint: Any) -> dict[str, Any] | None:
    """What the memberships this compute stores rest on, for the next one; None when it cannot start from them."""
    if ev.source.point_in_time:
        return None
    return {
        "version": VERSION,
        "run": run_id,
        "as_of_us": to_us(ev.as_of),
        "rules": rules,
        "stats": ev.stats.record(),
        "features": fingerprint,
        # the prediction scores the rules read (store.predict_scores' fingerprint), when any did: within a
        # day only the day's buyers' scores move, and the next scoring says whose (segments.predictive)
        "scores": None if ev.predictions is None else ev.predictions.after,
    }
