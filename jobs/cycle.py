"""Running the pipeline: a service cycle (a logged run), `sync --once` and `shop pull --once`.

All three run a selection of jobs/steps.py. A cycle is a run in the store with its steps, counts,
errors and timings. Every step keeps its own checkpoints (cursors saved with their pages, confirmed
500-email chunks), so a cycle that crashed is simply closed as `crashed` and the next cycle resumes
from those checkpoints. A step that fails is recorded and the later steps still run on the data
already stored, except that nothing is pushed after a failed compute. The one-pass commands stop at
the first failure instead, and jobs/errors.py reports it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from segmail.connector.mailchimp import MailchimpApi
from segmail.jobs import steps, sync
from segmail.jobs.config import AppConfig
from segmail.jobs.pull import PullSummary
from segmail.jobs.shop_pull import OrderSource
from segmail.jobs.steps import Inputs, Step, StepRecord, run_steps
from segmail.jobs.stopping import StopCheck, never
from segmail.jobs.textfmt import text
from segmail.store.db import Store
from segmail.store.runs import finish_run, mark_crashed, start_run

log = logging.getLogger("segmail.cycle")
KIND = "cycle"


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


def run_cycle(
    inputs: Inputs, selection: Sequence[Step[Any]] = steps.CYCLE, *, instance: str = ""
) -> CycleResult:
    """One cycle as a logged run (`segmail run`, `run --once`, the demo)."""
    started = time.monotonic()
    store, now, api = inputs.store, inputs.now, inputs.mailchimp()
    with store.engine.begin() as conn:
        resumed_from = mark_crashed(conn, KIND, now=now())
        run_id = start_run(conn, kind=KIND, as_of=now(), now=now())
    if resumed_from:
        log.warning(
            "run %d resumes after crashed run(s) %s from their checkpoints", run_id, text(resumed_from)
        )
    log.info("cycle run %d started", run_id, extra={"run_id": run_id})
    outcome = run_steps(inputs, selection, run_id=run_id)
    if outcome.interrupted:
        status = "interrupted"
        log.warning("run %d interrupted by a stop; its checkpoints are stored", run_id)
    else:
        status = "failed" if any(s.status == "failed" for s in outcome.records) else "ok"
    computed = outcome.get(steps.COMPUTE)
    result = CycleResult(
        run_id=run_id, status=status, steps=outcome.records, resumed_from=resumed_from,
        tags=outcome.get(steps.PUSH_TAGS) or {},
        segment_sizes={name: ch.size for name, ch in computed.changes.items()} if computed else {},
        seconds=round(time.monotonic() - started, 3),
    )  # fmt: skip
    stats = {
        "instance": instance,
        "resumed_from": resumed_from,
        "seconds": result.seconds,
        "steps": [asdict(s) for s in result.steps],
        "api": {"requests": api.stats.requests, "retries": api.stats.retries},
    }
    error = "; ".join(result.errors) or ("interrupted" if status == "interrupted" else None)
    with store.engine.begin() as conn:
        finish_run(conn, run_id, now=now(), stats=stats, error=error, status=status)
    log.info(
        "cycle run %d %s in %.1f s", run_id, status, result.seconds,
        extra={"run_id": run_id, "status": status, "seconds": result.seconds},
    )  # fmt: skip
    return result


def _quiet(_: str) -> None:
    return None


def sync_once(
    store: Store,
    config: AppConfig,
    api: MailchimpApi,
    *,
    as_of: datetime,
    now: Callable[[], datetime],
    progress: Callable[[str], None] = _quiet,
    stop: StopCheck = never,
) -> sync.SyncSummary:
    """`segmail sync --once`: pull members and engagement, compute as of `as_of`, push tag diffs."""
    inputs = Inputs(store=store, config=config, api=api, now=now, as_of=as_of, stop=stop)
    outcome = run_steps(inputs, steps.SYNC, progress=progress)
    members = outcome.result(steps.PULL_MEMBERS)
    engagement = outcome.result(steps.PULL_ENGAGEMENT)
    return sync.SyncSummary(
        members_pulled=members.records, member_problems=members.problems,
        members_skipped=members.skipped, campaigns_read=engagement.campaigns, events_pulled=engagement.events,
        compute=outcome.result(steps.COMPUTE), tags=outcome.result(steps.PUSH_TAGS),
        requests=api.stats.requests, retries=api.stats.retries,
        seconds={r.name: r.seconds for r in outcome.records},
    )  # fmt: skip


def shop_pull_once(
    store: Store, config: AppConfig, source: OrderSource, *, now: Callable[[], datetime]
) -> PullSummary:
    """`segmail shop pull --once`: the shop's orders since the stored cursor."""
    outcome = run_steps(Inputs(store=store, config=config, source=source, now=now), steps.SHOP)
    return outcome.result(steps.SHOP_PULL)
