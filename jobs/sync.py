"""`segmail sync`'s jobs: pull members and engagement from Mailchimp, push tag diffs (jobs/steps.py runs them).

Every step is resumable: a member page's cursor is saved with the page, each campaign's engagement and
results with that campaign (jobs/results_pull.py), and each 500-email segment chunk Mailchimp confirms is
recorded at once — a killed sync restarts where it stopped and never re-sends a confirmed chunk.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from segmail.connector.http import ApiError, ItemError, TransientError
from segmail.connector.mailchimp import SEGMENT_CHUNK, MailchimpApi
from segmail.connector.mailchimp_parse import ChunkResult
from segmail.connector.records import Member
from segmail.jobs.compute import ComputeResult, evaluate
from segmail.jobs.config import AppConfig
from segmail.jobs.pull import PullSummary, Stream, pull
from segmail.jobs.results_pull import ResultsSummary, pull_results
from segmail.jobs.results_pull import engagement_window_days as engagement_window_days
from segmail.jobs.stopping import StopCheck, bounded_map, check, never
from segmail.jobs.wiring import member_source
from segmail.segments.config import SegmentDef
from segmail.store import esp
from segmail.store.codec import to_us
from segmail.store.db import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

log = logging.getLogger("segmail.sync")

SOURCE = "mailchimp"


@dataclass
class TagResult:
    tag: str
    added: int = 0
    removed: int = 0
    failed: int = 0
    not_in_audience: int = 0
    errors: list[str] = field(default_factory=list)  # first few call-level errors


@dataclass
class SyncSummary:
    members_pulled: int = 0
    member_problems: list[str] = field(default_factory=list)  # the first ones (PullSummary keeps 1000)
    members_skipped: int = 0
    campaigns_read: int = 0
    events_pulled: int = 0
    compute: ComputeResult | None = None
    tags: dict[str, TagResult] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for summaries and benchmarks


def pull_members(
    store: Store, config: AppConfig, api: MailchimpApi, *, now: datetime, stop: StopCheck = never
) -> PullSummary:
    """Members changed since the last pull; the source applies `[mailchimp] lookback_minutes`."""
    list_id = config.mailchimp.list_id
    stream = Stream[Member](
        source=SOURCE, name=f"members:{list_id}", item="Mailchimp member", noun="members", log=log
    )
    return pull(store, member_source(config, api), stream, now=now, stop=stop)


def pull_engagement(
    store: Store, config: AppConfig, api: MailchimpApi, *, now: datetime, stop: StopCheck = never
) -> ResultsSummary:
    """Opens and clicks with every campaign's results: jobs/results_pull.py."""
    return pull_results(store, config, api, now=now, stop=stop)


def _chunks(adds: Sequence[str], removes: Sequence[str]) -> Iterator[tuple[list[str], list[str]]]:
    for start in range(0, max(len(adds), len(removes)), SEGMENT_CHUNK):
        yield list(adds[start : start + SEGMENT_CHUNK]), list(removes[start : start + SEGMENT_CHUNK])


def push_tags(
    store: Store,
    config: AppConfig,
    api: MailchimpApi,
    *,
    now: Callable[[], datetime],
    stop: StopCheck = never,
) -> dict[str, TagResult]:
    """Send each managed tag's membership changes since the last confirmed push, 500 emails a call."""
    list_id = config.mailchimp.list_id
    existing = api.static_segments(list_id)
    results: dict[str, TagResult] = {}
    for defn in config.segment_defs.values():
        results[defn.tag] = _push_one(store, config, api, defn, existing, now, stop)
        check(stop)
    return results


def _push_one(
    store: Store,
    config: AppConfig,
    api: MailchimpApi,
    defn: SegmentDef,
    existing: dict[str, int],
    now: Callable[[], datetime],
    stop: StopCheck = never,
) -> TagResult:
    result = TagResult(tag=defn.tag)
    list_id = config.mailchimp.list_id
    with store.engine.begin() as conn:
        counts = esp.pending_counts(conn, defn.name)
        adds = list(esp.pending_adds(conn, defn.name)) if counts.to_add else []
        removes = list(esp.pending_removes(conn, defn.name)) if counts.to_remove else []
    result.not_in_audience = counts.not_in_audience
    if not adds and not removes:
        return result
    segment_id = existing.get(defn.tag)
    if segment_id is None:
        if not adds:  # the tag was deleted in Mailchimp: nothing left to remove there
            with store.engine.begin() as conn:
                esp.confirm(conn, defn.name, added=[], removed=removes, refused={}, now_us=to_us(now()))
            result.removed = len(removes)
            return result
        segment_id = api.create_static_segment(list_id, defn.tag)
        existing[defn.tag] = segment_id

    def send(chunk: tuple[list[str], list[str]]) -> ChunkResult | ApiError:
        add, remove = chunk
        try:
            return api.change_segment(list_id, segment_id, add=add, remove=remove)
        except (ItemError, TransientError) as exc:
            return exc

    chunks = _chunks(adds, removes)
    for (add, remove), outcome in bounded_map(
        send, chunks, workers=config.mailchimp.max_connections, stop=stop
    ):
        if isinstance(outcome, ApiError):  # this chunk failed; the next sync sends it again
            result.failed += len(add) + len(remove)
            if len(result.errors) < 5:
                result.errors.append(str(outcome))
            log.warning("tag %s: a chunk of %d changes failed: %s", defn.tag, len(add) + len(remove), outcome)
            continue
        added_set = set(add)
        refused = {k: ("add" if k in added_set else "remove", why) for k, why in outcome.refused.items()}
        with store.engine.begin() as conn:  # confirmed at once: a restart never re-sends this chunk
            esp.confirm(
                conn, defn.name, added=outcome.added, removed=outcome.removed, refused=refused,
                now_us=to_us(now()),
            )  # fmt: skip
        result.added += len(outcome.added)
        result.removed += len(outcome.removed)
        result.failed += len(outcome.refused)
    return result


@dataclass(frozen=True)
class TagChange:
    tag: str
    email_key: str
    action: str  # add | remove


@dataclass(frozen=True)
class PendingTag:
    """What a push would send for one tag: its changes, streamed in key order, and the desired
    members it would skip, not being in the audience."""

    tag: str
    changes: Iterator[TagChange]
    not_in_audience: int


@contextmanager
def dry_run(store: Store, config: AppConfig, *, as_of: datetime) -> Iterator[Iterator[PendingTag]]:
    """`sync --once --dry-run`: per tag, what a push would send if the segments were computed at `as_of`
    now; nothing is pulled, stored or pushed. Read it inside the `with` (one transaction, rolled back)."""
    with store.engine.begin() as conn:
        ev = evaluate(conn, config, as_of=as_of)
        yield _pending_tags(conn, config, ev.staging)
        conn.rollback()  # a dry run writes nothing


def _pending_tags(conn: Connection, config: AppConfig, desired: Table) -> Iterator[PendingTag]:
    for defn in config.segment_defs.values():  # a disabled segment has no desired rows: all removes
        adds = (TagChange(defn.tag, key, "add") for key in esp.pending_adds(conn, defn.name, desired))
        removes = (
            TagChange(defn.tag, key, "remove") for key in esp.pending_removes(conn, defn.name, desired)
        )
        skipped = esp.pending_counts(conn, defn.name, desired).not_in_audience
        yield PendingTag(defn.tag, itertools.chain(adds, removes), skipped)


def utc_now() -> datetime:
    return datetime.now(UTC)
