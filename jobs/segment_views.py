"""Read-only looks at the segments (`segments export|explain|preview`): what is stored, or every
segment evaluated at a time, read in one transaction that is rolled back, so a look never writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from segmail.jobs.compute import edited_segments, evaluate, stored_is_current
from segmail.jobs.config import AppConfig
from segmail.segments import engine
from segmail.store.db import Store
from segmail.store.membership_basis import stored_pairs
from segmail.store.runs import last_run

if TYPE_CHECKING:
    from segmail.segments.predictive import Scored


@dataclass(frozen=True, slots=True)
class Export:
    """(email_key, segment) rows, streamed while the transaction is open."""

    rows: Iterable[tuple[str, str]]
    run_id: int | None  # the compute whose stored memberships these are; None when evaluated
    as_of: datetime


@contextmanager
def exported(store: Store, config: AppConfig, *, as_of: datetime | None) -> Iterator[Export | None]:
    """The last compute's memberships (`as_of` None), or every segment evaluated at `as_of` without
    storing anything. None when `as_of` is None and nothing was computed yet.

    At the last compute's own T, with the same rules over the same data, the stored rows are that
    evaluation's result (jobs.compute.stored_is_current): they are served instead of evaluating again."""
    with store.engine.begin() as conn:
        run = last_run(conn, "compute")
        current = None if as_of is None or run is None else stored_is_current(conn, config, as_of=as_of)
        if as_of is None or (run is not None and current == run["id"]):
            yield None if run is None else Export(stored_pairs(conn), run["id"], run["as_of"])
        else:
            ev = evaluate(conn, config, as_of=as_of, reuse_stats=True)
            yield Export(engine.desired_rows(conn, ev), None, as_of)
            conn.rollback()  # an export never writes


@dataclass(frozen=True, slots=True)
class Explained:
    explanation: engine.Explanation
    as_of: datetime
    median_repurchase_days: Fraction | None  # None without repeat purchases
    predictions: Scored | None  # what the prediction features rest on


def explain(
    store: Store, config: AppConfig, email_key: str, *, as_of: datetime, with_predictions: bool = True
) -> Explained:
    """A contact's features and why it is in or out of each segment at `as_of`; nothing stored.

    `with_predictions=False` leaves the prediction features out unless an enabled rule reads them
    (scoring every buyer is most of the cost on a large shop)."""
    with store.engine.begin() as conn:
        ev = evaluate(
            conn, config, as_of=as_of, with_predictions=with_predictions, stage=False, reuse_stats=True
        )
        ex = engine.explain(conn, ev, email_key)
        median = ev.stats.median_repurchase_days()
        conn.rollback()
    return Explained(ex, ev.as_of, median, ev.predictions)


@dataclass(frozen=True, slots=True)
class Preview:
    """Who would enter or leave each segment, streamed while the transaction is open."""

    segments: tuple[str, ...]  # every evaluated segment, in config order
    changes: Iterator[engine.Change]


@contextmanager
def previewed(
    store: Store, config: AppConfig, *, as_of: datetime, base: AppConfig | None = None
) -> Iterator[Preview]:
    """Every segment evaluated at `as_of` against the stored memberships of the last compute.

    `base`: the config before an edit. While the stored memberships are what evaluating it at `as_of`
    gives (jobs.compute.edited_segments), a segment the edit leaves alike has no change to show: only
    the edited ones are evaluated, with the shop statistics the compute recorded (a rule edit then
    costs one segment's evaluation over the feature cache, not every segment's)."""
    with store.engine.begin() as conn:
        edited = None if base is None else edited_segments(conn, base, config, as_of=as_of)
        if edited is None:
            ev = evaluate(conn, config, as_of=as_of, reuse_stats=True)
        else:
            ev = evaluate(conn, config, as_of=as_of, reuse_stats=True, only=edited, stats_of=base)
        yield Preview(tuple(config.segment_defs), engine.preview(conn, ev))
        conn.rollback()  # preview never writes
