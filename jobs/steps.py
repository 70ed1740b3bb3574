"""The sync cycle's steps, declared once: `run`, `sync --once` and `shop pull --once` select from them.

A step is a thin call into the job that does the work (jobs/shop_pull.py, jobs/sync.py,
jobs/compute.py, the send planner) and what the run log records of its result. `run_steps` runs a
selection in the cycle's order, timing each step into a `StepRecord` (the `steps` list of a cycle's
run row, which `status` and `/healthz` read). Every step keeps its own checkpoints, so stopping
between two steps (or inside one, at a chunk boundary) loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from segmail.connector.mailchimp import MailchimpApi
from segmail.jobs import gone, sync
from segmail.jobs.compute import ComputeResult, compute
from segmail.jobs.config import AppConfig
from segmail.jobs.pull import PullSummary
from segmail.jobs.results_pull import ResultsSummary
from segmail.jobs.shop_pull import OrderSource, pull_orders
from segmail.jobs.stopping import Interrupted, StopCheck, check, never
from segmail.store.db import Store

if TYPE_CHECKING:
    from segmail.jobs import predict

log = logging.getLogger("segmail.cycle")

Counts = dict[str, Any]
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What the steps act with; a selection that needs no Mailchimp (a shop pull) leaves `api` out."""

    store: Store
    config: AppConfig
    now: Callable[[], datetime]
    api: MailchimpApi | None = None
    source: OrderSource | None = None  # None: orders come from CSV imports
    as_of: datetime | None = None  # compute as of this instant (`sync --as-of`); None: now
    stop: StopCheck = never
    plan_sends: Callable[[], Counts] | None = None  # the send planner's step (the service has one)

    def mailchimp(self) -> MailchimpApi:
        assert self.api is not None, "this step calls Mailchimp"
        return self.api


def _no_reason(_: Inputs) -> str | None:
    return None


def _no_problem(_: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Step(Generic[R]):
    name: str
    run: Callable[[Inputs], R]
    counts: Callable[[R], Counts]  # what the run log records of the result
    needs: tuple[str, ...] = ()  # steps whose failure skips this one
    skip: Callable[[Inputs], str | None] = _no_reason  # why these inputs leave the step out
    problem: Callable[[R], str | None] = _no_problem  # a result that is a failure, recorded, not raised


@dataclass
class StepRecord:
    name: str
    status: str = "ok"  # ok | failed | skipped | interrupted
    seconds: float = 0.0
    counts: Counts = field(default_factory=dict)
    error: str | None = None


# ---- the steps: thin calls, so the jobs behind them can change without touching the pipeline ----
def _shop(i: Inputs) -> PullSummary:
    assert i.source is not None
    return pull_orders(i.store, i.config, i.source, now=i.now(), stop=i.stop)


def _members(i: Inputs) -> PullSummary:
    summary = sync.pull_members(i.store, i.config, i.mailchimp(), now=i.now(), stop=i.stop)
    # members deleted in Mailchimp leave no change to pull: look for them now (jobs/gone.py)
    summary.erased = gone.check(
        i.store, i.config, i.mailchimp(), now=i.now(), command="sync", stop=i.stop
    ).erased
    return summary


def _engagement(i: Inputs) -> ResultsSummary:
    return sync.pull_engagement(i.store, i.config, i.mailchimp(), now=i.now(), stop=i.stop)


def _refit(i: Inputs) -> predict.Refit:
    from segmail.jobs import predict  # NumPy/SciPy load when a refit is due, not with every command

    return predict.refit(i.store, i.config, as_of=i.as_of or i.now(), now=i.now())


def _refit_skip_reason(i: Inputs) -> str | None:
    from segmail.jobs import predict

    return predict.refit_skip_reason(i.store, i.config, now=i.now())


def _refit_counts(r: predict.Refit) -> Counts:
    if r.fitted is None:
        return {"refused": r.refused}
    return {
        "fit": r.fitted.fit_id,
        "customers": r.fitted.row.customers,
        "repeat": r.fitted.row.repeat_customers,
    }


def _compute(i: Inputs) -> ComputeResult:
    return compute(i.store, i.config, as_of=i.as_of or i.now(), now=i.now())


def _push(i: Inputs) -> dict[str, sync.TagResult]:
    return sync.push_tags(i.store, i.config, i.mailchimp(), now=i.now, stop=i.stop)


def _plan_sends(i: Inputs) -> Counts:
    assert i.plan_sends is not None
    return i.plan_sends()


def _unconfirmed(tags: dict[str, sync.TagResult]) -> str | None:
    if not any(t.errors for t in tags.values()):
        return None
    return f"{sum(t.failed for t in tags.values())} change(s) not confirmed; the next cycle sends them again"


def _privacy(pulled: PullSummary) -> Counts:
    """Records of erased people the pull dropped, and people it found gone and erased (when any)."""
    return {k: v for k, v in (("suppressed", pulled.suppressed), ("erased", pulled.erased)) if v}


SHOP_PULL = Step(
    "shop pull", _shop, lambda s: {"orders": s.orders, "pages": s.pages, "skipped": s.skipped, **_privacy(s)},
    skip=lambda i: "orders come from CSV imports" if i.source is None else None,
)  # fmt: skip
PULL_MEMBERS = Step(
    "pull members", _members, lambda r: {"members": r.records, "skipped": r.skipped, **_privacy(r)}
)
PULL_ENGAGEMENT = Step(
    "pull engagement", _engagement,
    lambda r: {"campaigns": r.read, "events": r.events, "reports": r.campaigns, "new": r.new, **r.recipient_activity,
               **({"suppressed": r.suppressed} if r.suppressed else {})},
)  # fmt: skip
REFIT = Step(
    "refit predictions", _refit, _refit_counts,
    skip=lambda i: _refit_skip_reason(i),
    problem=lambda r: r.refused,  # recorded as failed; compute goes on with the previous fit, if any
)  # fmt: skip
COMPUTE = Step(
    "compute", _compute,
    lambda c: {name: {"size": ch.size, "entered": ch.entered, "left": ch.left} for name, ch in c.changes.items()},
)  # fmt: skip
PUSH_TAGS = Step(
    "push tags", _push,
    lambda tags: {t.tag: {"added": t.added, "removed": t.removed, "failed": t.failed} for t in tags.values()},
    needs=("compute",), problem=_unconfirmed,  # nothing is pushed after a failed compute
)  # fmt: skip
PLAN_SENDS = Step("plan sends", _plan_sends, lambda counts: counts)

STEPS: tuple[Step[Any], ...] = (
    SHOP_PULL, PULL_MEMBERS, PULL_ENGAGEMENT, REFIT, COMPUTE, PUSH_TAGS, PLAN_SENDS,
)  # fmt: skip


def select(*names: str) -> tuple[Step[Any], ...]:
    """The named steps in the cycle's order; an unknown name is an error, not a shorter run."""
    unknown = set(names) - {s.name for s in STEPS}
    if unknown:
        raise ValueError(f"no such step: {', '.join(sorted(unknown))}")
    return tuple(s for s in STEPS if s.name in names)


SYNC = select("pull members", "pull engagement", "refit predictions", "compute", "push tags")  # `sync --once`
SHOP = select("shop pull")  # `shop pull --once`
CYCLE = select("shop pull", *(s.name for s in SYNC))  # `run`: a cycle of a service without campaigns
CYCLE_AND_SENDS = STEPS  # `run` with campaigns


@dataclass
class Outcome:
    records: list[StepRecord] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def get(self, step: Step[R]) -> R | None:
        """The step's result; None when it did not run or raised."""
        return cast(R | None, self.results.get(step.name))

    def result(self, step: Step[R]) -> R:
        assert step.name in self.results, f"step {step.name} has no result"
        return cast(R, self.results[step.name])


def _quiet(_: str) -> None:
    return None


def run_steps(
    inputs: Inputs,
    selection: Sequence[Step[Any]],
    *,
    run_id: int | None = None,
    progress: Callable[[str], None] = _quiet,
) -> Outcome:
    """Run the selection in order, with a stop check between steps.

    Within a logged run (`run_id`: the service's cycle) a failing step is recorded and logged and
    the next one still runs on the data already stored, and a stop ends the run as interrupted.
    Without one (a command's single pass) the first failure or stop propagates to the caller.
    """
    outcome = Outcome()
    try:
        for n, step in enumerate(selection):
            if n:
                check(inputs.stop)
            progress(step.name)
            record = StepRecord(name=step.name)
            outcome.records.append(record)
            _run_one(step, inputs, record, outcome, run_id=run_id)
    except Interrupted:
        if run_id is None:
            raise
        outcome.interrupted = True
    return outcome


def _run_one(
    step: Step[Any], inputs: Inputs, record: StepRecord, outcome: Outcome, *, run_id: int | None
) -> None:
    done = {r.name: r.status for r in outcome.records}
    reason = step.skip(inputs) or next((f"{n} failed" for n in step.needs if done.get(n) == "failed"), None)
    if reason:
        record.status = "skipped"
        record.counts["reason"] = reason
        return
    t0 = time.monotonic()
    try:
        result = step.run(inputs)
        outcome.results[step.name] = result
        record.counts = step.counts(result)
        problem = step.problem(result)
        if problem:
            record.status, record.error = "failed", problem
    except Interrupted:
        record.status = "interrupted"
        raise
    except Exception as exc:
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        if run_id is None:
            raise
        log.error("run %d: step %s failed: %s", run_id, step.name, record.error, extra={"run_id": run_id})
    finally:
        record.seconds = round(time.monotonic() - t0, 3)
