"""Send jobs: plan a campaign's recipients, write the ledger, then create and schedule campaigns.

A send job reads what the planner needs, lets sending/slot.py turn the slot into buckets, skips and
unsent errors as plain values, writes them, then drives Mailchimp. Order of writes, so that no crash
or second instance ever mails anyone twice:
1. skips, buckets with their ledger rows and unsent errors, one transaction, before any ESP call
   (the ledger's primary key makes a recipient's (campaign, occurrence) unique, so a second planner
   fails instead of doubling: store/ledger.py leaves such a bucket out and reports it);
2. the static segment's id, then the Mailchimp campaign id, each stored the moment it is known;
3. content and `actions/schedule` (or `actions/send` for a slot under 15 minutes away).
A resumed bucket continues from its stored ids (jobs/buckets.py).

A planned recipient left without the mail for a reason other than a documented rule (a bucket that
could not be written, a template that fails at send time, a bucket Mailchimp refused or that was
deleted) is recorded as an unsent error (sending/unsent.py), never only logged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from segmail.connector.http import ApiError
from segmail.jobs import registry
from segmail.jobs.buckets import BucketExecutor
from segmail.jobs.config import AppConfig
from segmail.jobs.experiments import decide_due, stored_winner
from segmail.jobs.sync import pull_members
from segmail.jobs.textfmt import pairs
from segmail.sending.campaigns import CampaignDef
from segmail.sending.i18n import DEFAULT_TEMPLATES_DIR
from segmail.sending.plan import PlannedSend, Planner
from segmail.sending.render import Renderer, ShopIdentity, TemplateError, Variant
from segmail.sending.slot import SlotPlan, Unsendable, due_slots, plan_slot
from segmail.sending.timezones import ZoneResolver
from segmail.sending.unsent import TEMPLATE_ERROR
from segmail.store import ledger, unsent
from segmail.store.codec import to_us
from segmail.store.db import get_meta, set_meta

log = logging.getLogger("segmail.send")


def send_job(campaign: str, job_slot: str) -> None:
    """A send job (referenced from the job store as `segmail.jobs.send:send_job`, id `send:<campaign>:<slot>`)."""
    running = registry.active()
    if running is None or running.run_slot is None:
        log.warning("send job %s %s fired without a running service; ignored", campaign, job_slot)
        return
    running.run_slot(campaign, datetime.fromisoformat(job_slot))


def job_id(campaign: str, job_slot: datetime) -> str:
    return f"send:{campaign}:{job_slot.isoformat()}"


def templates_dir(config: AppConfig) -> Path:
    path = config.templates_dir()
    if not path.is_dir() and config.send.templates_dir == "templates" and DEFAULT_TEMPLATES_DIR.is_dir():
        return DEFAULT_TEMPLATES_DIR  # the defaults (demo, a first try) use the shipped templates
    return path


def make_renderer(config: AppConfig) -> Renderer:
    s = config.send
    shop = ShopIdentity(
        name=s.shop_name or "segmail demo shop",
        address=s.shop_address or "1 Example Street, 10115 Berlin, Germany",
        url=s.shop_url or "https://shop.example",
        currency=s.currency,
    )
    return Renderer(templates_dir(config), shop=shop)


@dataclass
class SlotResult:
    campaign: str
    job_slot: datetime
    buckets: int = 0
    recipients: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    held_out: int = 0  # recipients this job wrote as held out (holdout_percent)
    unsent: int = 0  # recipients recorded as unsent errors by this job
    failed: str | None = None


class Sender(BucketExecutor):
    """Plans campaigns, registers their send jobs and, when a job runs, writes its buckets."""

    @functools.cached_property
    def resolver(self) -> ZoneResolver:  # one per sender: its zone and slot caches stay warm
        return ZoneResolver(self.config.send.default_timezone)

    # ---- planning ----------------------------------------------------------------------------
    def plan(
        self,
        campaign: CampaignDef,
        *,
        now: datetime,
        since_us: int | None,
        dimensions: frozenset[str] | None = None,
    ) -> Iterator[PlannedSend]:
        """Every recipient of the campaign's next occurrence not yet in the ledger; writes nothing.

        `dimensions=frozenset()` plans slots without reading the template (slots never depend on
        it): what a broken template's send job still needs to know who it leaves unsent. A
        test-then-winner broadcast plans the rest of its audience only once its winner is stored."""
        dims = (
            self.renderer.dimensions(campaign.template, campaign.subject)
            if dimensions is None
            else dimensions
        )
        variant_dims = {
            name: self.renderer.dimensions(template, subject) if dimensions is None else dimensions
            for name, template, subject in campaign.mails()
            if name
        }
        cap = timedelta(hours=self.config.send.min_hours_between)
        horizon = self.config.send.plan_horizon
        with self.store.engine.connect() as conn:
            recent = ledger.recent_mail_times(
                conn, start_us=to_us(now - cap - timedelta(days=1)), end_us=to_us(now + horizon + cap)
            )
            planner = Planner(
                campaign, self.config.send, dimensions=dims, languages=self.renderer.languages,
                resolver=self.resolver, now=now, recent=recent, variant_dimensions=variant_dims,
                winner=stored_winner(self.store, campaign),
            )  # fmt: skip
            day = campaign.date.isoformat() if campaign.date else None
            rows = ledger.recipients(
                conn, campaign=campaign.name, segment=campaign.segment, trigger=campaign.trigger, day=day,
                since_us=since_us,
            )  # fmt: skip
            yield from planner.plan(rows)

    def since(self, campaign: CampaignDef, *, write: bool) -> int | None:
        """on_enter without backfill: only entries after the campaign was first seen count."""
        if campaign.trigger != "on_enter" or campaign.backfill:
            return None
        key = f"campaign_since:{campaign.name}"
        with self.store.engine.begin() as conn:
            value = get_meta(conn, key)
            if value is None:
                value = to_us(self.now())
                if write:
                    set_meta(conn, key, value)
        return int(value)

    def plan_step(self, add_job: Callable[[str, datetime, datetime], None]) -> dict[str, Any]:
        """Continue unfinished buckets, then make sure every slot due within the horizon has its job."""
        counts: dict[str, Any] = {"resumed": self.resume()}
        now = self.now()
        for made in decide_due(self.store, self.config, now=now):  # before planning: the rest get the winner
            counts.setdefault("decided", {})[made.campaign] = made.winner
        lead = self.config.send.lead
        for campaign in self.config.enabled_campaigns:
            if (
                campaign.trigger == "at"
                and campaign.date
                and campaign.date < (now - timedelta(days=2)).date()
            ):
                continue  # a past broadcast: nothing left to plan
            error: dict[str, str] = {}
            try:
                slots = self._due_slots(campaign, now, dimensions=None)
            except TemplateError as exc:  # its jobs still run: at the slot they send, or record who is unsent
                log.error("campaign %s: %s", campaign.name, exc.problem)
                error = {"error": str(exc.problem)}
                slots = self._due_slots(campaign, now, dimensions=frozenset())
            for job_slot in slots:
                add_job(campaign.name, job_slot, max(now, job_slot - lead))
            counts[campaign.name] = {"recipients": sum(slots.values()), "jobs": len(slots), **error}
        return counts

    def _due_slots(
        self, campaign: CampaignDef, now: datetime, *, dimensions: frozenset[str] | None
    ) -> dict[datetime, int]:
        """Recipients per job slot due within the plan horizon."""
        since = self.since(campaign, write=True)
        planned = self.plan(campaign, now=now, since_us=since, dimensions=dimensions)
        return due_slots(planned, until=now + self.config.send.plan_horizon + self.config.send.lead)

    # ---- a send job --------------------------------------------------------------------------
    def run_slot(self, campaign_name: str, job_slot: datetime) -> SlotResult:
        """Plan the slot, write its skips, buckets and unsent errors at once, then drive Mailchimp."""
        result = SlotResult(campaign=campaign_name, job_slot=job_slot)
        campaign = self.config.campaigns.get(campaign_name)
        if campaign is None or not campaign.enabled:
            log.warning("send job for %s: the campaign is no longer configured; nothing sent", campaign_name)
            return result
        self.resume(campaign_name)
        self._refresh_statuses()
        plan = self._renderable_plan(campaign, job_slot, self.now(), result)
        for bucket_id in self.write_slot(plan, result):
            self._continue(bucket_id)
        log.info(
            "campaign %s slot %s: %d recipient(s) in %d bucket(s), held out %d, skipped %s, unsent errors %d",
            campaign_name, job_slot.isoformat(), result.recipients, result.buckets, result.held_out,
            pairs(result.skipped) or "none", result.unsent,
        )  # fmt: skip
        return result

    def slot_plan(
        self, campaign: CampaignDef, job_slot: datetime, now: datetime, *, dimensions: frozenset[str] | None
    ) -> SlotPlan:
        since = self.since(campaign, write=True)
        planned = self.plan(campaign, now=now, since_us=since, dimensions=dimensions)
        return plan_slot(campaign.name, job_slot, planned)

    def _renderable_plan(
        self, campaign: CampaignDef, job_slot: datetime, now: datetime, result: SlotResult
    ) -> SlotPlan:
        """The slot's plan when every variant renders. A broken template fails this campaign before
        anything is written (others go on): skips by rule still count, everyone else is unsent."""
        try:
            plan = self.slot_plan(campaign, job_slot, now, dimensions=None)
            for bucket in plan.buckets:
                self.render(campaign, bucket.first.variant, bucket.first.local_date, bucket.first.ab_variant)
            return plan
        except TemplateError as exc:
            result.failed = str(exc.problem)
            log.error("campaign %s not sent at %s: %s", campaign.name, job_slot.isoformat(), exc.problem)
            plan = self.slot_plan(campaign, job_slot, now, dimensions=frozenset())
            return plan.without_buckets(TEMPLATE_ERROR, result.failed)

    def write_slot(self, plan: SlotPlan, result: SlotResult) -> list[str]:
        """Skips, buckets with their ledger rows, and unsent errors in one transaction, before any
        ESP call; the ids of the buckets written, for the caller to send."""
        at = to_us(self.now())
        with self.store.engine.begin() as conn:
            written = ledger.write_slot(conn, plan.write(at_us=at))
            unsendable = plan.unsent_after(written)
            unsent.record(conn, [row for u in unsendable for row in u.rows(plan.campaign, at_us=at)])
            unsent.clear_bucketed(conn, plan.campaign)
        for reason, n in plan.skipped().items():
            result.skipped[reason] = result.skipped.get(reason, 0) + n
        result.held_out += written.held_out
        result.buckets += len(written.created)
        result.recipients += sum(n for _, n in written.created)
        result.unsent += sum(len(u.entries) for u in unsendable)
        self._log_written(plan, written, unsendable)
        return [bucket_id for bucket_id, _ in written.created]

    def _log_written(
        self, plan: SlotPlan, written: ledger.SlotWritten, unsendable: tuple[Unsendable, ...]
    ) -> None:
        name = plan.campaign
        if plan.skips:
            log.info("campaign %s: skipped %s", name, pairs(plan.skipped()))
        if written.skips_taken:
            log.info("campaign %s: the skips were already recorded by another run", name)
        for n in written.not_created:
            log.warning("campaign %s: bucket %s-* not created; %d of its %d recipient(s) planned elsewhere",
                        name, n.prefix, n.planned - len(n.left), n.planned)  # fmt: skip
        for u in unsendable:
            log.error("campaign %s: %d recipient(s) unsent (%s)", name, len(u.entries), u.reason)

    def _refresh_statuses(self) -> None:
        """Whoever unsubscribed since the last cycle must not be bucketed: an incremental member pull
        (only members changed since the cursor) right before the buckets are built."""
        if self.api is None:
            return
        try:
            pull_members(self.store, self.config, self.api, now=self.now())
        except ApiError as exc:
            log.warning("member statuses not refreshed before sending (%s); using the last cycle's", exc)

    # ---- a test mail -------------------------------------------------------------------------
    def send_test(self, campaign: CampaignDef, to: list[str], variant: Variant, local_date: date) -> str:
        """A Mailchimp test email of one variant: a throw-away draft, tested, then deleted."""
        api = self.api
        assert api is not None
        mail = self.render(campaign, variant, local_date)
        list_id = self.config.mailchimp.list_id
        name = "segmail test sends"
        segment_id = api.static_segments(list_id).get(name) or api.create_static_segment(list_id, name)
        info = api.create_campaign(
            list_id=list_id, segment_id=segment_id, title=f"segmail test {campaign.name} {self.now():%Y-%m-%d %H:%M:%S}",
            subject=f"[test] {mail.subject}", from_name=campaign.from_name, reply_to=campaign.reply_to,
        )  # fmt: skip
        try:
            api.set_content(info.id, html=mail.html, text=mail.text)
            api.send_test(info.id, to)
        finally:
            api.delete_campaign(info.id)
        return info.id
