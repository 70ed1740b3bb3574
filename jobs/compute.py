"""The compute job: evaluate every segment at T, store memberships, log the run."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from segmail.jobs.config import AppConfig
from segmail.segments import engine, incremental
from segmail.segments.config import SegmentDef
from segmail.segments.rules import PREDICTIVE_FEATURES, names_in, parse
from segmail.store import feature_lock, membership_basis
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.features import any_stale, cache_fingerprint
from segmail.store.runs import finish_run, last_run, start_run

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from segmail.segments.predictive import Scored

log = logging.getLogger("segmail.compute")


@dataclass(frozen=True)
class ComputeResult:
    run_id: int
    as_of: datetime
    changes: dict[str, engine.SegmentChange]
    point_in_time: bool
    refreshed: int
    predictions: Scored | None = None  # None: no enabled rule reads a prediction feature
    path: str = "full"  # "incremental", or "full: <why>" (segments.incremental)


def evaluate(
    conn: Connection,
    config: AppConfig,
    *,
    as_of: datetime,
    with_predictions: bool = False,
    stage: bool = True,
    consume_stale: bool = False,
    reuse_stats: bool = False,
    only: Collection[str] | None = None,
    stats_of: AppConfig | None = None,
) -> engine.Evaluation:
    """Every configured segment evaluated at `as_of` into a temporary table (`stage`); nothing stored
    (`consume_stale`: the compute's own evaluation, which empties the stale list; `reuse_stats`: take the
    shop statistics the last compute recorded while the cache is still what it read, see recorded_stats).
    `only`: just these segments (a preview that knows the others would not change); `stats_of`: the
    config the recorded statistics are checked against (default `config`; the statistics depend on the
    cache alone, so those a compute under the file before an edit recorded serve the edited one too)."""
    defs = [d for d in config.segment_defs.values() if only is None or d.name in only]
    return engine.evaluate(
        conn,
        defs,
        as_of=as_of,
        paid_statuses=config.segments.paid_statuses,
        currency=config.shop.currency,
        annual_discount_rate=config.predict.annual_discount_rate,
        with_predictions=with_predictions,
        stage=stage,
        consume_stale=consume_stale,
        known_stats=recorded_stats(conn, stats_of or config) if reuse_stats else None,
    )


def recorded_stats(conn: Connection, config: AppConfig) -> dict[str, Any] | None:
    """The shop statistics (median gap, VIP thresholds) the last compute recorded, while they still hold:
    the same rules over the same build of the feature cache with nothing stale since. They are functions
    of the cache alone, so an explain or a preview need not compute them again over every contact."""
    found = membership_basis.recorded_verdicts(conn)
    if found is None or found.get("rules") != rules_digest(config):
        return None
    if found.get("features") != cache_fingerprint(conn) or any_stale(conn):
        return None
    stats = found.get("stats")
    return stats if isinstance(stats, dict) else None


def rules_digest(config: AppConfig) -> str:
    """A digest of everything in the config a verdict depends on: each segment's rule, parameters and
    switch, the paid statuses, the currency and the prediction discount rate."""
    rules = {
        "segments": [
            [d.name, d.rule, d.enabled, sorted((k, str(v)) for k, v in d.params.items())]
            for d in sorted(config.segment_defs.values(), key=lambda d: d.name)
        ],
        **_shared_inputs(config),
    }
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=str).encode()).hexdigest()


def _shared_inputs(config: AppConfig) -> dict[str, Any]:
    """What every segment's verdicts depend on besides its own rule, parameters and switch."""
    return {
        "paid_statuses": sorted(config.segments.paid_statuses),
        "currency": config.shop.currency,
        "annual_discount_rate": config.predict.annual_discount_rate,
    }


def edited_segments(
    conn: Connection, base: AppConfig, edited: AppConfig, *, as_of: datetime
) -> list[str] | None:
    """The segments of `edited` whose verdicts may differ from the stored memberships at `as_of`, when
    those are what evaluating `base` at `as_of` gives now (stored_is_current); None when that is not
    known: then every segment may differ.

    A verdict depends on its segment's rule, parameters and switch, on the inputs all segments share
    and on the data at `as_of`: a segment both configs define alike keeps its stored members. The one
    part of the data stamp a rule may not read is the prediction fit: a fit made since the compute
    only sends the segments that read predictions to be evaluated again."""
    found = membership_basis.recorded(conn)
    if (
        _shared_inputs(base) != _shared_inputs(edited)
        or found is None
        or found.get("as_of_us") != to_us(as_of)
    ):
        return None
    current = basis(conn, base, as_of=as_of)
    if current is None:
        return None
    then, now = dict(found["data"]), dict(current["data"])
    new_fit = then.pop("fit", None) != now.pop("fit", None)
    if {**found, "data": then} != {"run": found["run"], **current, "data": now}:
        return None
    old = base.segment_defs
    readers = predictive_segments(edited) if new_fit else {}
    return [
        name
        for name, d in edited.segment_defs.items()
        if name in readers or _verdict_inputs(old.get(name)) != _verdict_inputs(d)
    ]


def predictive_segments(config: AppConfig) -> dict[str, list[str]]:
    """Enabled segments whose rule reads prediction features, with the features each reads."""
    found = {}
    for d in config.enabled_segments:
        names = sorted(names_in(parse(d.rule)) & PREDICTIVE_FEATURES)
        if names:
            found[d.name] = names
    return found


def _verdict_inputs(defn: SegmentDef | None) -> tuple[Any, ...] | None:
    return (
        None
        if defn is None
        else (defn.rule, defn.enabled, sorted((k, str(v)) for k, v in defn.params.items()))
    )


def basis(conn: Connection, config: AppConfig, *, as_of: datetime) -> dict[str, Any] | None:
    """What an evaluation at `as_of` rests on: T, the rules and the data (store.membership_basis);
    None when the data cannot be vouched for. Equal bases give equal memberships."""
    data = membership_basis.data_stamp(conn, as_of_us=to_us(as_of), currency=config.shop.currency)
    if data is None:
        return None
    return {"as_of_us": to_us(as_of), "rules": rules_digest(config), "data": data}


def stored_is_current(conn: Connection, config: AppConfig, *, as_of: datetime) -> int | None:
    """The last compute's run id when its stored memberships are what evaluating at `as_of` now gives."""
    found = membership_basis.recorded(conn)
    if found is None or found.get("as_of_us") != to_us(as_of):
        return None
    current = basis(conn, config, as_of=as_of)
    if current is None or found != {"run": found["run"], **current}:
        return None
    return int(found["run"])


def compute(
    store: Store, config: AppConfig, *, as_of: datetime, now: datetime, full: bool = False
) -> ComputeResult:
    """One transaction: either every segment's memberships move to T, or none do.

    Only the contacts whose verdict can have moved since the last compute are evaluated when that is
    provably what evaluating everyone gives (segments.incremental); `full` evaluates everyone anyway.
    A failure rolls the work back and is recorded as a failed run in its own transaction.
    """
    try:
        return _compute(store, config, as_of=as_of, now=now, full=full)
    except Exception as exc:
        with store.engine.begin() as conn:
            run_id = start_run(conn, kind="compute", as_of=as_of, now=now)
            finish_run(conn, run_id, now=now, stats={}, error=f"{type(exc).__name__}: {exc}")
        raise


def _compute(store: Store, config: AppConfig, *, as_of: datetime, now: datetime, full: bool) -> ComputeResult:
    with store.engine.begin() as conn:
        # the feature lock before the run-number lock: one order for every holder of both
        feature_lock.refreshing(conn)
        run_id = start_run(conn, kind="compute", as_of=as_of, now=now)
        rules = rules_digest(config)
        start = _start(conn, rules=rules, as_of=as_of, full=full)
        ev = evaluate(conn, config, as_of=as_of, stage=False, consume_stale=True)
        if ev.predictions is not None and ev.predictions.missing:
            log.warning("compute: prediction features are missing for everyone: %s", ev.predictions.missing)
        picked = incremental.candidates(conn, start, ev)
        log.info(
            "compute run %d: %s (%d stale, %d crossing an edge)",
            run_id,
            picked.path,
            picked.stale,
            picked.crossing,
        )
        engine.stage(conn, ev, among=picked.table)
        changes = engine.apply(conn, ev, run_id=run_id, among=picked.table)
        stats: dict[str, Any] = {
            name: {"size": c.size, "entered": c.entered, "left": c.left} for name, c in changes.items()
        }
        stats["(path)"] = {"path": picked.path, "stale": picked.stale, "crossing": picked.crossing}
        membership_basis.record(conn, run_id=run_id, basis=basis(conn, config, as_of=as_of))
        verdicts = incremental.record(ev, run_id=run_id, rules=rules, fingerprint=cache_fingerprint(conn))
        membership_basis.record_verdicts(conn, verdicts)
        finish_run(conn, run_id, now=now, stats=stats)
    return ComputeResult(
        run_id=run_id,
        as_of=as_of,
        changes=changes,
        point_in_time=ev.source.point_in_time,
        refreshed=ev.source.refreshed,
        predictions=ev.predictions,
        path=picked.path,
    )


def _start(conn: Connection, *, rules: str, as_of: datetime, full: bool) -> incremental.Start:
    """Before the feature refresh (which empties the stale list): where an incremental compute would start."""
    if full:
        return incremental.Start(None, None, "asked for")
    last = last_run(conn, "compute")  # this run is still running: the last one that finished
    return incremental.before_refresh(
        conn,
        membership_basis.recorded_verdicts(conn),
        last_compute=None if last is None else int(last["id"]),
        rules=rules,
        as_of_us=to_us(as_of),
    )
