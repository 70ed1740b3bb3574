"""The running service, as the scheduler's job functions reach it.

APScheduler stores a job as the import path of a plain function (`segmail.jobs.service:sync_job`,
`segmail.jobs.send:send_job`) and calls it with its stored arguments; the function acts through the handles
the running service installs here. A module of its own, so that jobs/send.py and jobs/service.py
each read it without importing one another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Running:
    run_cycle: Callable[[], object]
    run_slot: Callable[[str, datetime], object] | None  # None: no campaigns, so nothing sends
    run_retention: Callable[[], object] | None = None  # the daily [privacy] clean-up (jobs/retention.py)


_running: Running | None = None


def install(running: Running | None) -> None:
    """Set by `Service.run` while it runs (None when it stops)."""
    global _running
    _running = running


def active() -> Running | None:
    """The running service's handles; None when a job store is loaded outside a running service."""
    return _running
