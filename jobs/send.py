"""Send jobs: plan a campaign's recipients, write the ledger, then create and schedule campaigns.

Order of writes, so that no crash or second instance ever mails anyone twice:
1. bucket and ledger rows, one transaction, before any ESP call (the ledger's primary key makes a
   recipient's (campaign, occurrence) unique, so a second planner fails instead of doubling);
2. the static segment's id, then the Mailchimp campaign id, each stored the moment it is known;
3. content and `actions/schedule` (or `actions/send` for a slot under 15 minutes away).
A resumed bucket with a campaign id asks Mailchimp for its status and continues from there; one
without an id first looks for a campaign with the bucket's unique title (its create may have
landed before the crash) and only then creates one.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from connector.http import ApiError, ItemError
from connector.mailchimp import SEGMENT_CHUNK, MailchimpApi
from jobs.config import AppConfig
from jobs.sync import pull_members
from jobs.textfmt import pairs
from sending.campaigns import CampaignDef
from sending.plan import PlannedSend, Planner, variant_fields
from sending.render import RenderedMail, Renderer, ShopIdentity, TemplateError, Variant
from sending.timezones import ZoneResolver, quarter_hour_ceil
from store import ledger
from store.codec import from_us, to_us
from store.db import Store, get_meta, set_meta

log = logging.getLogger("segmail.send")

SEND_NOW_WITHIN = timedelta(minutes=15)  # Mailchimp schedules quarter hours; closer slots go out at once
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
    failed: str | None = None


class Sender:
    def __init__(
        self,
        store: Store,
        config: AppConfig,
        api: MailchimpApi | None,
        renderer: Renderer,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.config = config
        self.api = api
        self.renderer = renderer
        self.now = now
        self.resolver = ZoneResolver(config.send.default_timezone)

    # ---- planning ----------------------------------------------------------------------------
    def plan(self, campaign: CampaignDef, *, now: datetime, since_us: int | None) -> Iterator[PlannedSend]:
        """Every recipient of the campaign's next occurrence not yet in the ledger; writes nothing."""
        dims = self.renderer.dimensions(campaign.template, campaign.subject)
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
            slots: dict[datetime, int] = defaultdict(int)
            try:
                for planned in self.plan(campaign, now=now, since_us=self.since(campaign, write=True)):
                    if planned.job_slot - lead <= now + self.config.send.plan_horizon:
                        slots[planned.job_slot] += 1
            except TemplateError as exc:
                log.error("campaign %s: %s", campaign.name, exc.problem)
                counts[campaign.name] = {"error": str(exc.problem)}
                continue
            for job_slot in slots:
                add_job(campaign.name, job_slot, max(now, job_slot - lead))
            counts[campaign.name] = {"recipients": sum(slots.values()), "jobs": len(slots)}
        return counts

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
        groups: dict[str, list[PlannedSend]] = defaultdict(list)
        skips: list[PlannedSend] = []
        try:  # a broken template fails this campaign before anything is written; others go on
            for planned in self.plan(campaign, now=now, since_us=self.since(campaign, write=True)):
                if planned.job_slot != job_slot:
                    continue
                if planned.send_at is None:
                    skips.append(planned)
                else:
                    groups[planned.bucket_key].append(planned)
            for members in groups.values():  # every variant renders, or nothing is written
                self.render(campaign, members[0].variant, members[0].local_date)
        except TemplateError as exc:
            result.failed = str(exc.problem)
            log.error("campaign %s not sent at %s: %s", campaign_name, job_slot.isoformat(), exc.problem)
            return result
        self._record_skips(campaign, skips, result)
        created: list[str] = []
        for key, members in groups.items():
            bucket_id = self._write_bucket(campaign, key, members, now)
            if bucket_id is not None:
                created.append(bucket_id)
                result.buckets += 1
                result.recipients += len(members)
        for bucket_id in created:
            self._continue(bucket_id)
        log.info(
            "campaign %s slot %s: %d recipient(s) in %d bucket(s), skipped %s", campaign_name,
            job_slot.isoformat(), result.recipients, result.buckets, pairs(result.skipped) or "none",
        )  # fmt: skip
        return result

    def _refresh_statuses(self) -> None:
        """Whoever unsubscribed since the last cycle must not be bucketed: an incremental member pull
        (only members changed since the cursor) right before the buckets are built."""
        if self.api is None:
            return
        try:
            pull_members(self.store, self.config, self.api, now=self.now())
        except ApiError as exc:
            log.warning("member statuses not refreshed before sending (%s); using the last cycle's", exc)

    def render(self, campaign: CampaignDef, variant: Variant, local_date: date) -> RenderedMail:
        return self.renderer.render(
            campaign.template, campaign.subject, variant, campaign=campaign.name, send_date=local_date
        )

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

    def _ledger_row(
        self, campaign: CampaignDef, p: PlannedSend, *, bucket_id: str | None, status: str
    ) -> dict[str, Any]:
        return {
            "campaign": campaign.name, "email_key": p.email_key, "occurrence": p.occurrence, "bucket_id": bucket_id,
            "slot_at": to_us(p.send_at or p.slot), "timezone": p.zone, "tz_source": p.tz_source, "status": status,
            "reason": p.reason or None, "created_at": to_us(self.now()),
        }  # fmt: skip

    def _write_bucket(
        self, campaign: CampaignDef, key: str, members: list[PlannedSend], now: datetime
    ) -> str | None:
        """Bucket and ledger rows in one transaction, before any ESP call."""
        first = members[0]
        assert first.send_at is not None
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
                bucket_id = f"{key}-{batch}"
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
        except IntegrityError:  # another run planned these recipients first: theirs stands
            log.warning(
                "campaign %s: recipients already planned elsewhere; bucket not created", campaign.name
            )
            return None
        return bucket_id

    # ---- executing buckets -------------------------------------------------------------------
    def resume(self, campaign: str | None = None) -> int:
        with self.store.engine.begin() as conn:
            pending = ledger.unfinished_buckets(conn, campaign)
        for bucket in pending:
            log.info(
                "resuming bucket %s of campaign %s (%s)",
                bucket["bucket_id"],
                bucket["campaign"],
                bucket["status"],
            )
            self._continue(bucket["bucket_id"])
        return len(pending)

    def _bucket(self, bucket_id: str) -> dict[str, Any]:
        with self.store.engine.begin() as conn:
            return ledger.bucket(conn, bucket_id)

    def _update(self, bucket_id: str, *, ledger_status: str | None = None, **values: Any) -> None:
        with self.store.engine.begin() as conn:
            ledger.update_bucket(conn, bucket_id, updated_at=to_us(self.now()), **values)
            if ledger_status is not None:
                ledger.set_ledger_status(conn, bucket_id, ledger_status)

    def _continue(self, bucket_id: str) -> None:
        try:
            self._advance(bucket_id)
        except ItemError as exc:
            if self._landed_elsewhere(bucket_id):  # e.g. a killed run's schedule call landed meanwhile
                return
            log.error("bucket %s failed: %s", bucket_id, exc)  # refused for good: nothing else is sent
            self._update(bucket_id, status="failed", error=str(exc)[:1000])
        except ApiError as exc:  # transient: the next cycle continues it from the stored ids
            log.warning("bucket %s paused by an API error; the next cycle continues it: %s", bucket_id, exc)
            self._update(bucket_id, error=str(exc)[:1000])

    def _landed_elsewhere(self, bucket_id: str) -> bool:
        """After a refusal: is the campaign scheduled or sent anyway? Then the bucket is done."""
        mc_id = self._bucket(bucket_id)["mc_campaign_id"]
        info = self.api.get_campaign(mc_id) if mc_id and self.api is not None else None
        if info is None or not self._done_on_mailchimp(bucket_id, info.status):
            return False
        log.info("bucket %s: campaign %s is already %s; nothing more to do", bucket_id, mc_id, info.status)
        return True

    def _done_on_mailchimp(self, bucket_id: str, mc_status: str) -> bool:
        """A campaign Mailchimp has scheduled or sent finishes its bucket, whoever got it there."""
        if mc_status not in ("schedule", "sending", "sent"):
            return False
        status = "sent" if mc_status == "sent" else "scheduled"
        self._update(bucket_id, status=status, error=None, ledger_status=status)
        return True

    def _advance(self, bucket_id: str) -> None:
        api = self.api
        assert api is not None, "sending needs the Mailchimp API"
        bucket = self._bucket(bucket_id)
        list_id = self.config.mailchimp.list_id
        campaign = self.config.campaigns.get(bucket["campaign"])
        if campaign is None:
            self._update(
                bucket_id,
                status="cancelled",
                error="campaign removed from the config",
                ledger_status="skipped",
            )
            return
        variant, local_date = self._variant_of(bucket)
        mail = self.render(campaign, variant, local_date)
        segment_id = bucket["segment_id"]
        if segment_id is None:
            name = f"segmail send {bucket_id}"
            segment_id = api.static_segments(list_id).get(name) or api.create_static_segment(list_id, name)
            with self.store.engine.begin() as conn:
                emails = ledger.bucket_emails(conn, bucket_id)
            for chunk in ledger.chunked(emails, SEGMENT_CHUNK):  # adds are idempotent: safe to repeat
                api.change_segment(list_id, segment_id, add=chunk, remove=[])
            self._update(bucket_id, segment_id=segment_id)
        mc_id = bucket["mc_campaign_id"]
        if mc_id is None:
            created_at = from_us(bucket["created_at"]) or self.now()
            same = [c for c in api.campaigns(list_id=list_id, since_create_time=created_at - timedelta(hours=1))
                    if c.title == bucket["title"]]  # fmt: skip
            if same:
                mc_id = same[0].id
                for extra in same[1:]:  # a retried create that landed twice: drop the spare drafts
                    if extra.status == "save":
                        api.delete_campaign(extra.id)
            else:
                info = api.create_campaign(
                    list_id=list_id, segment_id=int(segment_id), title=bucket["title"],
                    subject=mail.subject, from_name=campaign.from_name,
                    reply_to=campaign.reply_to, preview_text=campaign.preview_text or None,
                )  # fmt: skip
                mc_id = info.id
            self._update(bucket_id, mc_campaign_id=mc_id)  # stored the moment it is known
        info_now = api.get_campaign(mc_id)
        if info_now is None:
            self._update(bucket_id, status="failed", ledger_status="skipped",
                         error="the campaign was deleted in Mailchimp; not re-created, so nobody is mailed twice")  # fmt: skip
            return
        if self._done_on_mailchimp(bucket_id, info_now.status):
            return
        if info_now.status != "save":
            self._update(
                bucket_id, status="failed", error=f"campaign {mc_id} is {info_now.status!r} in Mailchimp"
            )
            return
        api.set_content(mc_id, html=mail.html, text=mail.text)
        send_at = from_us(bucket["send_at"]) or self.now()
        if send_at - self.now() < SEND_NOW_WITHIN:
            api.send_now(mc_id)
            self._update(bucket_id, status="sent", error=None, ledger_status="sent")
        else:
            api.schedule(mc_id, quarter_hour_ceil(send_at))
            self._update(bucket_id, status="scheduled", error=None, ledger_status="scheduled")
        log.info(
            "bucket %s: campaign %s %s",
            bucket_id,
            mc_id,
            "sent"
            if send_at - self.now() < SEND_NOW_WITHIN
            else f"scheduled for {quarter_hour_ceil(send_at).isoformat()}",
        )

    def _variant_of(self, bucket: dict[str, Any]) -> tuple[Variant, date]:
        v = bucket["variant"]
        variant = Variant(
            segment=v["segment"], language=v["language"], country=v["country"], season=v["season"]
        )
        return variant, date.fromisoformat(v["send_date"])

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
