"""The retention job: once a day the service deletes what `[privacy]` no longer keeps (store/retention.py).

Each transaction deletes at most about `BATCH` rows, and one run at most `CHUNKS_PER_RUN` of them
(about a million rows), then hands the scheduler back: the service runs its jobs one at a time, so a
cycle due meanwhile waits for one short run, never for a whole first clean-up of a large store. A run
that stops with work left is continued by a follow-up job a minute later (jobs/service.py); a stop
request (SIGTERM) ends it between two chunks. `segmail retention --once` runs the same passes to the end,
for stores run from cron. Every run that deleted something is written to the privacy audit log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from segmail.jobs.config import AppConfig
from segmail.jobs.stopping import StopCheck, never
from segmail.store import audit
from segmail.store.codec import to_us
from segmail.store.db import Store, get_meta, set_meta
from segmail.store.retention import STREAMS, delete_chunk

BATCH: Final = 5_000
CHUNKS_PER_RUN: Final = 200
LAST_RUN_KEY: Final = "retention_finished_at"  # UTC µs of the last run that got to the end


@dataclass(frozen=True)
class RetentionRun:
    rows: dict[str, int]  # stream -> rows deleted
    finished: bool  # False: the chunk budget or a stop ended the run with rows left to look at


def cutoffs(config: AppConfig, now: datetime) -> dict[str, int]:
    """Per stream, the instant (UTC µs) before which rows go."""
    p = config.privacy
    ledger = to_us(now - p.keep_ledger)
    return {
        "events": to_us(now - p.keep_events),
        "send_ledger": ledger,
        "send_unsent": ledger,
        "send_buckets": ledger,
        "runs": to_us(now - p.keep_runs),
    }


def run(
    store: Store,
    config: AppConfig,
    *,
    now: datetime,
    command: str,
    stop: StopCheck = never,
    batch: int = BATCH,
    max_chunks: int | None = CHUNKS_PER_RUN,
) -> RetentionRun:
    """Delete, stream by stream, chunk by chunk; `max_chunks=None` runs to the end."""
    limits = cutoffs(config, now)
    rows: Counter[str] = Counter()
    chunks = 0
    finished = True
    for stream in STREAMS:
        done = False
        while not done:
            if (max_chunks is not None and chunks >= max_chunks) or stop():
                finished = False
                break
            with store.engine.begin() as conn:
                deleted, done = delete_chunk(conn, stream, cutoff_us=limits[stream], batch=batch)
            rows[stream] += deleted
            chunks += 1
        if not finished:
            break
    deleted_rows = {k: v for k, v in rows.items() if v}
    with store.engine.begin() as conn:
        if deleted_rows:
            entry = audit.Entry(
                kind="retention", request="[privacy] keep_*", command=command, people=0, rows=deleted_rows
            )
            audit.record(conn, entry, now_us=to_us(now))
        if finished:
            set_meta(conn, LAST_RUN_KEY, to_us(now))
    return RetentionRun(deleted_rows, finished)


def last_finished(store: Store) -> int | None:
    """When a retention run last got to the end (UTC µs), or None."""
    with store.engine.begin() as conn:
        value = get_meta(conn, LAST_RUN_KEY)
    return None if value is None else int(value)
