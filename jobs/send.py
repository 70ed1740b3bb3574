"""Send jobs: plan a campaign's recipients, write the ledger, then create and schedule campaigns.

Order of writes, so that no crash or second instance ever mails anyone twice:
1. bucket and ledger rows, one transaction, before any ESP call (the ledger's primary key makes a
   recipient's (campaign, occurrence) unique, so a second planner fails instead of doubling);
2. the static segment's id, then the Mailchimp campaign id, each stored the moment it is known;
3. content and `actions/schedule` (or `actions/send` for a slot under 15 minutes away).
A resumed bucket continues from its stored ids (jobs/buckets.py).

A planned recipient left without the mail for a reason other than a documented rule (a bucket that
could not be written, a template that fails at send time, a bucket Mailchimp refused or that was
deleted) is recorded as an unsent error (sending/unsent.py), never only logged.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from connector.http import ApiError
from jobs.buckets import BucketExecutor
from jobs.config import AppConfig
from jobs.sync import pull_members
from jobs.textfmt import pairs
from sending.campaigns import CampaignDef
from sending.plan import PlannedSend, Planner, variant_fields
from sending.render import Renderer, ShopIdentity, TemplateError, Variant
from sending.timezones import ZoneResolver
from sending.unsent import (
    BUCKET_NOT_CREATED,
    TEMPLATE_ERROR,
    UNDOCUMENTED_SKIP,
    documented,
)
from store import ledger, unsent
from store.codec import to_us
from store.db import get_meta, set_meta

log = logging.getLogger("segmail.send")

BUCKET_PREFIX = 40  # characters of the campaign name that lead a bucket id (the column holds 64)
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def send_job(campaign: str, job_slot: str) -> None:
    """A send job (referenced from the job store as `jobs.send:send_job`, id `send:<campaign>:<slot>`)."""
    from jobs.service import current

    service = current()
    if service is None or service.sender is None:
        log.warning("send job %s %s fired without a running service; ignored", campaign, job_slot)
        return
    service.sender.run_slot(campaign, datetime.fromisoformat(job_slot))


def job_id(campaign: str, job_slot: datetime) -> str:
    return f"send:{campaign}:{job_slot.isoformat()}"


def templates_dir(config: AppConfig) -> Path:
    path = config.templates_dir()
    if not path.is_dir() and config.send.templates_dir == "templates" and SHIPPED_TEMPLATES.is_dir():
        return SHIPPED_TEMPLATES  # the defaults (demo, a first try) use the shipped templates
    return path


def make_renderer(config: AppConfig) -> Renderer:
    s = config.send
    shop = ShopIdentity(
        name=s.shop_name or "segmail demo shop",
        address=s.shop_address or "segmail demo shop, 1 Example Street, 10115 Berlin, Germany",
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
        it): what a broken template's send job still needs to know who it leaves unsent."""
        dims = (
            self.renderer.dimensions(campaign.template, campaign.subject)
            if dimensions is None
            else dimensions
        )
        cap = timedelta(hours=self.config.send.min_hours_between)
        horizon = self.config.send.plan_horizon
        with self.store.engine.connect() as conn:
            recent = ledger.recent_mail_times(
                conn, start_us=to_us(now - cap - timedelta(days=1)), end_us=to_us(now + horizon + cap)
            )
            planner = Planner(
                campaign, self.config.send, dimensions=dims, languages=self.renderer.languages,
                resolver=self.resolver, now=now, recent=recent,
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
        slots: dict[datetime, int] = defaultdict(int)
        limit = now + self.config.send.plan_horizon + self.config.send.lead
        since = self.since(campaign, write=True)
        for planned in self.plan(campaign, now=now, since_us=since, dimensions=dimensions):
            if planned.job_slot <= limit:
                slots[planned.job_slot] += 1
        return slots

    # ---- a send job --------------------------------------------------------------------------
    def run_slot(self, campaign_name: str, job_slot: datetime) -> SlotResult:
        result = SlotResult(campaign=campaign_name, job_slot=job_slot)
        campaign = self.config.campaigns.get(campaign_name)
        if campaign is None or not campaign.enabled:
            log.warning("send job for %s: the campaign is no longer configured; nothing sent", campaign_name)
            return result
        self.resume(campaign_name)
        self._refresh_statuses()
        now = self.now()
        try:  # a broken template fails this campaign before anything is written; others go on
            groups, skips = self._slot_plan(campaign, job_slot, now, dimensions=None)
            for members in groups.values():  # every variant renders, or nothing is written
                self.render(campaign, members[0].variant, members[0].local_date)
        except TemplateError as exc:  # skips by rule still count; everyone else is an unsent error
            result.failed = str(exc.problem)
            log.error("campaign %s not sent at %s: %s", campaign_name, job_slot.isoformat(), exc.problem)
            groups, skips = self._slot_plan(campaign, job_slot, now, dimensions=frozenset())
            self._record_skips(campaign, skips, result)
            left = [p for members in groups.values() for p in members]
            result.unsent += self._record_unsent(campaign, left, TEMPLATE_ERROR, detail=result.failed)
            return result
        self._record_skips(campaign, skips, result)
        created: list[str] = []
        for key, members in groups.items():
            bucket_id = self._write_bucket(campaign, key, members, now, result)
            if bucket_id is not None:
                created.append(bucket_id)
                result.buckets += 1
                result.recipients += len(members)
        with self.store.engine.begin() as conn:
            unsent.clear_bucketed(conn, campaign.name)
        for bucket_id in created:
            self._continue(bucket_id)
        log.info(
            "campaign %s slot %s: %d recipient(s) in %d bucket(s), skipped %s, unsent errors %d", campaign_name,
            job_slot.isoformat(), result.recipients, result.buckets, pairs(result.skipped) or "none", result.unsent,
        )  # fmt: skip
        return result

    def _slot_plan(
        self, campaign: CampaignDef, job_slot: datetime, now: datetime, *, dimensions: frozenset[str] | None
    ) -> tuple[dict[str, list[PlannedSend]], list[PlannedSend]]:
        """This job's recipients: grouped by bucket key, and those a documented rule skips."""
        groups: dict[str, list[PlannedSend]] = defaultdict(list)
        skips: list[PlannedSend] = []
        since = self.since(campaign, write=True)
        for planned in self.plan(campaign, now=now, since_us=since, dimensions=dimensions):
            if planned.job_slot != job_slot:
                continue
            if planned.send_at is None:
                skips.append(planned)
            else:
                groups[planned.bucket_key].append(planned)
        return groups, skips

    def _record_unsent(
        self, campaign: CampaignDef, members: list[PlannedSend], reason: str, *, detail: str | None
    ) -> int:
        """Planned recipients without a bucket for `reason`: an unsent error, not just a log line."""
        if not members:
            return 0
        at = to_us(self.now())
        rows = [
            {"campaign": campaign.name, "email_key": p.email_key, "occurrence": p.occurrence, "reason": reason,
             "detail": detail, "bucket_id": None, "slot_at": to_us(p.send_at or p.slot), "recorded_at": at}
            for p in members
        ]  # fmt: skip
        with self.store.engine.begin() as conn:
            unsent.record(conn, rows)
        log.error("campaign %s: %d recipient(s) unsent (%s)", campaign.name, len(rows), reason)
        return len(rows)

    def _refresh_statuses(self) -> None:
        """Whoever unsubscribed since the last cycle must not be bucketed: an incremental member pull
        (only members changed since the cursor) right before the buckets are built."""
        if self.api is None:
            return
        try:
            pull_members(self.store, self.config, self.api, now=self.now())
        except ApiError as exc:
            log.warning("member statuses not refreshed before sending (%s); using the last cycle's", exc)

    def _record_skips(self, campaign: CampaignDef, skips: list[PlannedSend], result: SlotResult) -> None:
        rows = []
        for p in skips:
            result.skipped[p.reason] = result.skipped.get(p.reason, 0) + 1
            rows.append(self._ledger_row(campaign, p, bucket_id=None, status="skipped"))
        if rows:
            log.info("campaign %s: skipped %s", campaign.name, pairs(result.skipped))
            try:
                with self.store.engine.begin() as conn:
                    ledger.insert_skips(conn, rows)
            except IntegrityError:
                log.info("campaign %s: the skips were already recorded by another run", campaign.name)
        odd = [p for p in skips if not documented(p.reason)]
        for reason in sorted({p.reason for p in odd}):
            same = [p for p in odd if p.reason == reason]
            result.unsent += self._record_unsent(
                campaign, same, UNDOCUMENTED_SKIP, detail=reason or "no reason"
            )

    def _ledger_row(
        self, campaign: CampaignDef, p: PlannedSend, *, bucket_id: str | None, status: str
    ) -> dict[str, Any]:
        return {
            "campaign": campaign.name, "email_key": p.email_key, "occurrence": p.occurrence, "bucket_id": bucket_id,
            "slot_at": to_us(p.send_at or p.slot), "timezone": p.zone, "tz_source": p.tz_source, "status": status,
            "reason": p.reason or None, "created_at": to_us(self.now()),
        }  # fmt: skip

    def _write_bucket(
        self, campaign: CampaignDef, key: str, members: list[PlannedSend], now: datetime, result: SlotResult
    ) -> str | None:
        """Bucket and ledger rows in one transaction, before any ESP call."""
        first = members[0]
        assert first.send_at is not None
        prefix = f"{campaign.name[:BUCKET_PREFIX]}-{key}"  # keyed by campaign: see sending.plan.bucket_key
        variant = json.dumps(
            dict(
                zip(("segment", "language", "country", "season"), variant_fields(first.variant), strict=True)
            )
            | {"send_date": first.local_date.isoformat()},
            sort_keys=True,
        )
        try:
            with self.store.engine.begin() as conn:
                batch = ledger.next_batch(
                    conn, campaign=campaign.name, slot_us=to_us(first.job_slot), variant=variant
                )
                bucket_id = f"{prefix}-{batch}"
                label = "/".join(v for v in variant_fields(first.variant) if v) or "all"
                title = f"segmail {campaign.name} {first.job_slot:%Y-%m-%d %H:%M}Z {label} [{bucket_id}]"
                ledger.insert_bucket(
                    conn,
                    {
                        "bucket_id": bucket_id, "campaign": campaign.name, "slot_at": to_us(first.job_slot),
                        "send_at": to_us(first.send_at), "variant": variant, "recipients": len(members),
                        "status": "planned", "title": title[:255], "created_at": to_us(now), "updated_at": to_us(now),
                    },
                    [self._ledger_row(campaign, p, bucket_id=bucket_id, status="planned") for p in members],
                )  # fmt: skip
        except IntegrityError:  # another run planned (some of) these recipients first: theirs stand
            with self.store.engine.begin() as conn:
                have = ledger.ledger_keys(
                    conn, campaign=campaign.name, occurrences={p.occurrence for p in members}
                )
            left = [p for p in members if (p.email_key, p.occurrence) not in have]
            log.warning("campaign %s: bucket %s-* not created; %d of its %d recipient(s) planned elsewhere",
                        campaign.name, prefix, len(members) - len(left), len(members))  # fmt: skip
            result.unsent += self._record_unsent(
                campaign, left, BUCKET_NOT_CREATED, detail=f"bucket {prefix}-*"
            )
            return None
        return bucket_id

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
