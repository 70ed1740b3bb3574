"""One sync cycle: shop pull → Mailchimp pull → compute → push tag diffs (→ plan sends).

A cycle is a run in the store with its steps, counts, errors and timings. Every step keeps its
own checkpoints (cursors saved with their pages, confirmed 500-email chunks), so a cycle that
crashed is simply closed as `crashed` and the next cycle resumes from those checkpoints. A step
that fails is recorded and the later steps still run on the data already stored, except that
nothing is pushed after a failed compute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from connector.mailchimp import MailchimpApi
from jobs import sync
from jobs.config import AppConfig
from jobs.shop_pull import OrderSource, pull_orders
from jobs.stopping import Interrupted, StopCheck, never
from jobs.textfmt import text
from store.db import Store
from store.runs import finish_run, mark_crashed, start_run

log = logging.getLogger("segmail.cycle")
KIND = "cycle"


@dataclass
class StepRecord:
    name: str
    status: str = "ok"  # ok | failed | skipped | interrupted
    seconds: float = 0.0
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class CycleResult:
    run_id: int
    status: str  # ok | failed | interrupted
    steps: list[StepRecord]
    resumed_from: list[int]
    tags: dict[str, sync.TagResult] = field(default_factory=dict)
    segment_sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        return [f"{s.name}: {s.error}" for s in self.steps if s.error]


# Steps after the push (the send planner's): a closure returning the counts to record.
ExtraStep = Callable[[], dict[str, Any]]


@dataclass
class CycleParts:
    store: Store
    config: AppConfig
    api: MailchimpApi
    source: OrderSource | None  # None: orders come from CSV imports
    now: Callable[[], datetime]
    stop: StopCheck = never
    instance: str = ""
    extra_steps: list[tuple[str, ExtraStep]] = field(default_factory=list)


def _recording(fn: ExtraStep) -> Callable[[StepRecord], None]:
    def run(record: StepRecord) -> None:
        record.counts.update(fn())

    return run


def run_cycle(parts: CycleParts) -> CycleResult:
    started = time.monotonic()
    store, config, now = parts.store, parts.config, parts.now
    with store.engine.begin() as conn:
        resumed_from = mark_crashed(conn, KIND, now=now())
        run_id = start_run(conn, kind=KIND, as_of=now(), now=now())
    if resumed_from:
        log.warning(
            "run %d resumes after crashed run(s) %s from their checkpoints", run_id, text(resumed_from)
        )
    result = CycleResult(run_id=run_id, status="ok", steps=[], resumed_from=resumed_from)
    log.info("cycle run %d started", run_id, extra={"run_id": run_id})

    def step(name: str, fn: Callable[[StepRecord], None], *, skip: str | None = None) -> StepRecord:
        record = StepRecord(name=name)
        result.steps.append(record)
        if skip:
            record.status = "skipped"
            record.counts["reason"] = skip
            return record
        t0 = time.monotonic()
        try:
            fn(record)
        except Interrupted:
            record.status = "interrupted"
            raise
        except Exception as exc:  # recorded; the next step still runs
            record.status = "failed"
            record.error = f"{type(exc).__name__}: {exc}"
            log.error("run %d: step %s failed: %s", run_id, name, record.error, extra={"run_id": run_id})
        finally:
            record.seconds = round(time.monotonic() - t0, 3)
        return record

    def shop(record: StepRecord) -> None:
        assert parts.source is not None
        s = pull_orders(store, config, parts.source, now=now(), stop=parts.stop)
        record.counts = {"orders": s.orders, "pages": s.pages, "skipped": s.skipped}

    def members(record: StepRecord) -> None:
        pulled, problems = sync.pull_members(store, config, parts.api, now=now(), stop=parts.stop)
        record.counts = {"members": pulled, "skipped": len(problems)}

    def engagement(record: StepRecord) -> None:
        campaigns, events = sync.pull_engagement(store, config, parts.api, now=now(), stop=parts.stop)
        record.counts = {"campaigns": campaigns, "events": events}

    def compute(record: StepRecord) -> None:
        from jobs.compute import compute as do_compute

        c = do_compute(store, config, as_of=now(), now=now())
        result.segment_sizes = {name: ch.size for name, ch in c.changes.items()}
        record.counts = {
            name: {"size": ch.size, "entered": ch.entered, "left": ch.left} for name, ch in c.changes.items()
        }

    def push(record: StepRecord) -> None:
        result.tags = sync.push_tags(store, config, parts.api, now=now, stop=parts.stop)
        record.counts = {
            t.tag: {"added": t.added, "removed": t.removed, "failed": t.failed} for t in result.tags.values()
        }
        failed = sum(t.failed for t in result.tags.values())
        if any(t.errors for t in result.tags.values()):
            record.status = "failed"
            record.error = f"{failed} change(s) not confirmed; the next cycle sends them again"

    try:
        no_shop = "orders come from CSV imports" if parts.source is None else None
        step("shop pull", shop, skip=no_shop)
        step("pull members", members)
        step("pull engagement", engagement)
        computed = step("compute", compute)
        step("push tags", push, skip="compute failed" if computed.status == "failed" else None)
        for name, extra in parts.extra_steps:
            step(name, _recording(extra))
        result.status = "failed" if any(s.status == "failed" for s in result.steps) else "ok"
    except Interrupted:
        result.status = "interrupted"
        log.warning("run %d interrupted by a stop; its checkpoints are stored", run_id)
    result.seconds = round(time.monotonic() - started, 3)
    stats = {
        "instance": parts.instance,
        "resumed_from": resumed_from,
        "seconds": result.seconds,
        "steps": [asdict(s) for s in result.steps],
        "api": {"requests": parts.api.stats.requests, "retries": parts.api.stats.retries},
    }
    error = "; ".join(result.errors) or ("interrupted" if result.status == "interrupted" else None)
    with store.engine.begin() as conn:
        finish_run(conn, run_id, now=now(), stats=stats, error=error, status=result.status)
    log.info(
        "cycle run %d %s in %.1f s", run_id, result.status, result.seconds,
        extra={"run_id": run_id, "status": result.status, "seconds": result.seconds},
    )  # fmt: skip
    return result
