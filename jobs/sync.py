"""`segmail sync`'s jobs: pull members and engagement from Mailchimp, push tag diffs (jobs/steps.py runs them).

Every step is resumable: a member page's cursor is saved with the page, engagement's cursor
only after every campaign was read, and each 500-email segment chunk Mailchimp confirms is
recorded at once — a killed sync restarts where it stopped and never re-sends a confirmed chunk.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from segmail.connector.http import ApiError, ItemError, TransientError
from segmail.connector.mailchimp import SEGMENT_CHUNK, MailchimpApi
from segmail.connector.mailchimp_parse import ChunkResult
from segmail.connector.records import Event, Member
from segmail.jobs.compute import ComputeResult, evaluate
from segmail.jobs.config import AppConfig
from segmail.jobs.pull import PullSummary, Stream, pull
from segmail.jobs.stopping import StopCheck, bounded_map, check, never
from segmail.jobs.wiring import member_source
from segmail.segments import windows
from segmail.segments.config import SegmentDef
from segmail.store import cursors, esp
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.writer import write_records

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


def engagement_window_days(config: AppConfig) -> float:
    """`mailchimp.engagement_window_days`, else the longest window the enabled rules look back over."""
    if config.mailchimp.engagement_window_days is not None:
        return config.mailchimp.engagement_window_days
    return windows.engagement_window_days(config.enabled_segments)


@dataclass(frozen=True)
class Engagement:
    campaigns: int  # sent campaigns whose activity was read
    events: int  # opens and clicks stored
    suppressed: int = 0  # opens and clicks of erased people, dropped (store/suppression.py)


def pull_engagement(
    store: Store, config: AppConfig, api: MailchimpApi, *, now: datetime, stop: StopCheck = never
) -> Engagement:
    """Opens and clicks: all sent campaigns the first time, then recent campaigns since the cursor."""
    mc = config.mailchimp
    stream = f"activity:{mc.list_id}"
    with store.engine.begin() as conn:
        cursor = cursors.get_cursor(conn, SOURCE, stream)
    since = sent_after = None
    if cursor is not None:
        since = datetime.fromisoformat(cursor) - timedelta(minutes=mc.lookback_minutes)
        sent_after = now - timedelta(days=engagement_window_days(config) + mc.engagement_margin_days)
    campaigns = [cid for cid, _ in api.sent_campaigns(since_send_time=sent_after)]

    def read(campaign_id: str) -> list[Event]:
        return [e for page in api.activity(campaign_id, since=since) for e in page]

    events = suppressed = 0
    for _, batch in bounded_map(read, campaigns, workers=mc.max_connections, stop=stop):
        with store.engine.begin() as conn:  # in order; written as each campaign completes
            written = write_records(conn, batch, source=SOURCE, now_us=to_us(now))
        events += len(batch) - written.suppressed
        suppressed += written.suppressed
    check(stop)  # the cursor moves only once every campaign was read
    with store.engine.begin() as conn:  # only once every campaign is stored
        cursors.set_cursor(conn, SOURCE, stream, now.isoformat(), now_us=to_us(now))
    return Engagement(len(campaigns), events, suppressed)


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
