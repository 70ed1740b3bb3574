"""`segmail run`: the long-running service.

One instance per store acts (see store.locks); the others stand by and take over when it dies.
The active one runs APScheduler 3.x with its job store in the store's own database, so the
schedule (the sync cycle and the send jobs) survives restarts and fail-overs. Jobs are plain
module-level functions registered by reference under stable ids; they reach the running service
through jobs/registry.py. SIGTERM/SIGINT set a stop flag: the running step finishes its chunk, stores
its checkpoint and the cycle is recorded as interrupted. Before each cycle the config file is read
again if it changed, and its `[segments]` apply from that cycle on (jobs/config_watch.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import pytz
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from segmail.connector.mailchimp import MailchimpApi
from segmail.jobs import cycle, registry, retention, steps
from segmail.jobs.config import AppConfig
from segmail.jobs.config_watch import ConfigWatch
from segmail.jobs.health import (
    METRICS_CONTENT_TYPE,
    Counters,
    HealthServer,
    health,
    json_body,
    metrics_registry,
    metrics_text,
    snapshot,
)
from segmail.jobs.send import Sender
from segmail.jobs.send import job_id as send_job_id
from segmail.jobs.shop_pull import OrderSource
from segmail.store import instances
from segmail.store.codec import from_us, to_us
from segmail.store.db import Store
from segmail.store.locks import Leadership, leadership_for
from segmail.store.schedule import job_store

log = logging.getLogger("segmail.service")

SYNC_JOB_ID = "segmail.sync"
RETENTION_JOB_ID = "segmail.retention"  # daily; "segmail.retention.more" continues a run cut short
RETENTION_EVERY = timedelta(days=1)
VERSION = "0.1.0"


def sync_job() -> None:
    """The scheduled sync cycle (referenced from the job store as `segmail.jobs.service:sync_job`)."""
    running = registry.active()
    if running is None:  # a job store loaded outside a running service: nothing to act with
        log.warning("sync job fired without a running service; ignored")
        return
    running.run_cycle()


def retention_job() -> None:
    """The daily retention pass (`segmail.jobs.service:retention_job` in the job store)."""
    running = registry.active()
    if running is None or running.run_retention is None:
        log.warning("retention job fired without a running service; ignored")
        return
    running.run_retention()


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(
        self,
        config: AppConfig,
        store: Store,
        api: MailchimpApi,
        source: OrderSource | None,
        *,
        now: Callable[[], datetime] = utc_now,
        sender: Sender | None = None,
        watch: ConfigWatch | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.api = api
        self.source = source
        self.now = now
        self.sender = sender
        self.watch = watch  # the config file, read again before a cycle when it changed
        self.stopping = threading.Event()
        self.instance_id = uuid.uuid4().hex[:12]
        self.host = socket.gethostname()
        self.started_at = now()
        self.role = "starting"
        self.counters = Counters()
        self.snap: dict[str, Any] = snapshot(store, config)
        self.metrics_registry = metrics_registry(lambda: (self.snap, self.counters, self.role))
        self.last_result: cycle.CycleResult | None = None
        self._cycle_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None
        self.health_address: tuple[str, int] | None = None

    # ---- the cycle ---------------------------------------------------------------------------
    def run_cycle(self) -> cycle.CycleResult | None:
        if not self._cycle_lock.acquire(blocking=False):  # never two cycles at once
            log.warning("a cycle is still running; this one is skipped")
            return None
        try:
            self._take_up_config()
            sender = self.sender
            inputs = steps.Inputs(
                store=self.store, config=self.config, api=self.api, source=self.source, now=self.now,
                stop=self.stopping.is_set,
                plan_sends=None if sender is None else lambda: sender.plan_step(self._add_send_job),
            )  # fmt: skip
            selection = steps.CYCLE if sender is None else steps.CYCLE_AND_SENDS
            try:
                result = cycle.run_cycle(inputs, selection, instance=self.instance_id)
            except Exception:
                log.exception("the cycle could not run (is the store reachable?)")
                with self.counters.lock:
                    self.counters.cycles["error"] = self.counters.cycles.get("error", 0) + 1
                return None
            self._count(result)
            self.last_result = result
            try:
                self.snap = snapshot(self.store, self.config)
            except Exception:
                log.exception("could not refresh the status snapshot")
            return result
        finally:
            self._cycle_lock.release()

    def _take_up_config(self) -> None:
        """A rule saved since the last cycle (the workspace, or by hand) applies from this cycle on."""
        if self.watch is None:
            return
        loaded = self.watch.take_up(self.config)
        if loaded is not None:
            self.config = loaded
            if self.sender is not None:
                self.sender.config = loaded

    def _count(self, result: cycle.CycleResult) -> None:
        c = self.counters
        with c.lock:
            c.cycles[result.status] = c.cycles.get(result.status, 0) + 1
            for tag in result.tags.values():
                c.tags_added[tag.tag] = c.tags_added.get(tag.tag, 0) + tag.added
                c.tags_removed[tag.tag] = c.tags_removed.get(tag.tag, 0) + tag.removed
            systems = [("mailchimp", self.api.stats)]
            if self.source is not None and self.source.stats is not self.api.stats:
                systems.append((self.config.shop.kind, self.source.stats))  # kind "mailchimp" adds up
            c.api_requests, c.api_retries = {}, {}
            for name, stats in systems:
                c.api_requests[name] = c.api_requests.get(name, 0) + stats.requests
                c.api_retries[name] = c.api_retries.get(name, 0) + stats.retries
            c.step_seconds = {s.name: s.seconds for s in result.steps}
            c.last_cycle_seconds = result.seconds

    def run_retention(self) -> retention.RetentionRun | None:
        """Delete what [privacy] no longer keeps, a bounded run; a run cut short is continued in a minute."""
        try:
            result = retention.run(
                self.store,
                self.config,
                now=self.now(),
                command="run (daily retention)",
                stop=self.stopping.is_set,
            )
        except Exception:
            log.exception("the retention pass failed; the next one tries again")
            return None
        if result.rows:
            log.info("retention: deleted %s", ", ".join(f"{n} {k}" for k, n in sorted(result.rows.items())))
        scheduler = self.scheduler
        if not result.finished and scheduler is not None and not self.stopping.is_set():
            scheduler.add_job(
                "segmail.jobs.service:retention_job", trigger=DateTrigger(run_date=self.now() + timedelta(minutes=1),
                timezone=pytz.utc), id=f"{RETENTION_JOB_ID}.more", name="retention (continued)",
                replace_existing=True, misfire_grace_time=None,
            )  # fmt: skip
        return result

    # ---- health ------------------------------------------------------------------------------
    def healthz(self) -> tuple[int, str, str]:
        code, body = health(
            self.snap, role=self.role, now=self.now(), sync_every=self.config.schedule.sync_every,
            started_at=self.started_at,
        )  # fmt: skip
        body["instance"] = {"id": self.instance_id, "host": self.host, "pid": os.getpid()}
        if self.scheduler is not None:
            body["next_jobs"] = [
                {"id": j.id, "next_run_time": j.next_run_time.isoformat() if j.next_run_time else None}
                for j in self.scheduler.get_jobs()[:20]
            ]
        return code, "application/json", json_body(body)

    def metrics(self) -> tuple[int, str, str]:
        return 200, METRICS_CONTENT_TYPE, metrics_text(self.metrics_registry)

    def _beat(self, role: str) -> None:
        self.role = role
        try:
            with self.store.engine.begin() as conn:
                instances.beat(
                    conn, instance_id=self.instance_id, host=self.host, pid=os.getpid(), role=role,
                    started_us=to_us(self.started_at), now_us=to_us(self.now()), version=VERSION,
                )  # fmt: skip
                instances.forget_older_than(conn, to_us(self.now() - timedelta(days=1)))
        except Exception as exc:  # the store may be briefly unreachable; the lock still decides
            log.warning("heartbeat not stored: %s", type(exc).__name__)

    # ---- the main loop -----------------------------------------------------------------------
    def _scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            jobstores={"default": job_store(self.store)},
            # one worker: the cycle and the send jobs never write the store at the same time
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=pytz.utc,
        )
        every = self.config.schedule.sync_every
        scheduler.add_job(
            "segmail.jobs.service:sync_job",
            trigger=IntervalTrigger(seconds=max(1, int(every.total_seconds())), timezone=pytz.utc),
            id=SYNC_JOB_ID,
            name="sync cycle",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self.config.schedule.misfire_grace.total_seconds())),
            next_run_time=self.now(),  # a fresh start (or a take-over) syncs at once
        )
        scheduler.add_job(
            "segmail.jobs.service:retention_job",
            trigger=IntervalTrigger(seconds=int(RETENTION_EVERY.total_seconds()), timezone=pytz.utc),
            id=RETENTION_JOB_ID,
            name="retention ([privacy] keep_*)",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,  # late is fine: it deletes the same rows
            next_run_time=self._next_retention(),
        )
        return scheduler

    def _next_retention(self) -> datetime:
        """A day after the last finished pass; a minute after start when that is past (a restart never
        postpones it, as re-adding an interval job would)."""
        last = from_us(retention.last_finished(self.store))
        soon = self.now() + timedelta(minutes=1)
        return soon if last is None else max(soon, last + RETENTION_EVERY)

    def _add_send_job(self, campaign: str, job_slot: datetime, run_at: datetime) -> None:
        """A send job per (campaign, slot) under a stable id; without a scheduler (--once) due ones run now."""
        scheduler = self.scheduler
        if scheduler is None:
            if run_at <= self.now() and self.sender is not None:
                self.sender.run_slot(campaign, job_slot)
            return
        jid = send_job_id(campaign, job_slot)
        existing = scheduler.get_job(jid)
        if existing is not None and existing.next_run_time == run_at:
            return
        scheduler.add_job(
            "segmail.jobs.send:send_job",
            trigger=DateTrigger(run_date=run_at, timezone=pytz.utc),
            args=[campaign, job_slot.isoformat()],
            id=jid,
            name=f"send {campaign} for {job_slot.isoformat()}",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,  # a late send job still runs: the late policy decides, logged
        )

    def stop(self, *_: object) -> None:
        if not self.stopping.is_set():
            log.info("stopping: the running step finishes its chunk and stores its checkpoint")
        self.stopping.set()

    def run(self, *, once: bool = False) -> int:
        """Until SIGTERM/SIGINT (or one cycle with `once`). 0 on a clean stop, 1 if leadership was lost."""
        registry.install(
            registry.Running(
                run_cycle=self.run_cycle,
                run_slot=None if self.sender is None else self.sender.run_slot,
                run_retention=self.run_retention,
            )
        )
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        svc = self.config.service
        leadership = leadership_for(self.config.store_url(), failover_after=svc.failover_after)
        server = None
        if svc.address() is not None and not once:
            address = svc.address()
            assert address is not None
            server = HealthServer(address, {"/healthz": self.healthz, "/metrics": self.metrics})
            server.start()
            self.health_address = server.address
            log.info("health endpoint on http://%s:%d/healthz and /metrics", *server.address)
        try:
            return self._lead(leadership, once=once)
        finally:
            leadership.release()
            self._beat("stopped")
            if server is not None:
                server.stop()
            registry.install(None)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def _lead(self, leadership: Leadership, *, once: bool) -> int:
        poll = self.config.service.standby_poll.total_seconds()
        announced = False
        while not self.stopping.is_set():
            if leadership.try_acquire():
                break
            if once:
                log.error("another instance is active (%s); not running a second one", leadership.describe())
                return 1
            if not announced:
                log.info(
                    "standby: another instance holds the %s; taking over when it stops", leadership.describe()
                )
                announced = True
            self._beat("standby")
            self.stopping.wait(poll)
        if self.stopping.is_set():
            return 0
        log.info("active: instance %s on %s holds the %s", self.instance_id, self.host, leadership.describe())
        self._beat("active")
        if once:
            result = self.run_cycle()
            return 0 if result is not None and result.status == "ok" else 1
        scheduler = self._scheduler()
        self.scheduler = scheduler
        scheduler.start()
        code = 0
        beat_every = min(5.0, poll)
        try:
            while not self.stopping.wait(beat_every):
                if not leadership.still_held():
                    log.error("lost the %s; stopping so that a standby takes over", leadership.describe())
                    self.stopping.set()
                    code = 1
                    break
                self._beat("active")
        finally:
            scheduler.shutdown(wait=True)  # the running job sees the stop flag and ends at a checkpoint
            self.scheduler = None
        log.info("stopped")
        return code
