"""Executing a bucket: its static segment, its Mailchimp campaign, content and schedule, resumable.

Each Mailchimp id is stored the moment it is known, so a resumed bucket continues from what the
store says: a campaign id is asked for its status; without one, a campaign with the bucket's unique
title (a create that landed just before a crash) is adopted before anything is created. A bucket
that will never be sent (refused, deleted or changed in Mailchimp, its campaign removed from the
config) turns its recipients into unsent errors (sending/unsent.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from segmail.connector.http import ApiError, ItemError
from segmail.connector.mailchimp import SEGMENT_CHUNK, MailchimpApi
from segmail.jobs.config import AppConfig
from segmail.sending.campaigns import CampaignDef
from segmail.sending.render import RenderedMail, Renderer, Variant
from segmail.sending.timezones import quarter_hour_ceil
from segmail.sending.unsent import BUCKET_FAILED, CAMPAIGN_REMOVED
from segmail.store import ledger, unsent
from segmail.store.codec import from_us, to_us
from segmail.store.db import Store

SEND_SEGMENT_PREFIX = "segmail send "  # a bucket's static segment (a tag in Mailchimp's UI) is segmail's own

log = logging.getLogger("segmail.send")

SEND_NOW_WITHIN = timedelta(minutes=15)  # Mailchimp schedules quarter hours; closer slots go out at once


class BucketExecutor:
    """The Mailchimp side of sending; segmail.jobs.send.Sender plans and writes the buckets it executes."""

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

    def render(
        self, campaign: CampaignDef, variant: Variant, local_date: date, ab_variant: str = ""
    ) -> RenderedMail:
        """The mail of one bucket: an A/B variant's own subject and template when it has them."""
        mailed = campaign.as_variant(ab_variant)
        return self.renderer.render(
            mailed.template, mailed.subject, variant, campaign=campaign.name, send_date=local_date
        )

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
            self._fail(bucket_id, BUCKET_FAILED, str(exc))
        except ApiError as exc:  # transient: the next cycle continues it from the stored ids
            log.warning("bucket %s paused by an API error; the next cycle continues it: %s", bucket_id, exc)
            self._update(bucket_id, error=str(exc)[:1000])

    def _fail(self, bucket_id: str, reason: str, error: str, *, status: str = "failed") -> None:
        """A bucket that will never be sent: its recipients become unsent errors in the same transaction."""
        now_us = to_us(self.now())
        with self.store.engine.begin() as conn:
            ledger.update_bucket(conn, bucket_id, updated_at=now_us, status=status, error=error[:1000])
            n = unsent.record_bucket(conn, bucket_id, reason=reason, detail=error[:1000], at_us=now_us)
        log.error("bucket %s %s: %d recipient(s) unsent (%s)", bucket_id, status, n, reason)

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
        campaign = self.config.campaigns.get(bucket["campaign"])
        if campaign is None:
            self._fail(bucket_id, CAMPAIGN_REMOVED, "campaign removed from the config", status="cancelled")
            return
        variant, local_date, ab_variant = self._variant_of(bucket)
        if ab_variant and ab_variant not in {v.name for v in campaign.variants}:
            self._fail(
                bucket_id,
                CAMPAIGN_REMOVED,
                f"variant {ab_variant!r} removed from the config",
                status="cancelled",
            )
            return
        mail = self.render(campaign, variant, local_date, ab_variant)
        segment_id = self._segment(api, bucket)
        mc_id = self._campaign(api, bucket, campaign, mail, segment_id)
        info_now = api.get_campaign(mc_id)
        if info_now is None:
            self._fail(bucket_id, BUCKET_FAILED,
                       f"campaign {mc_id} was deleted in Mailchimp; not re-created, so nobody is mailed twice")  # fmt: skip
            return
        if self._done_on_mailchimp(bucket_id, info_now.status):
            return
        if info_now.status != "save":
            self._fail(bucket_id, BUCKET_FAILED, f"campaign {mc_id} is {info_now.status!r} in Mailchimp")
            return
        self._deliver(api, bucket, mc_id, mail)

    def _segment(self, api: MailchimpApi, bucket: dict[str, Any]) -> int:
        """The bucket's static segment, filled; its id stored the moment it is known."""
        segment_id = bucket["segment_id"]
        if segment_id is not None:
            return int(segment_id)
        bucket_id, list_id = bucket["bucket_id"], self.config.mailchimp.list_id
        name = f"{SEND_SEGMENT_PREFIX}{bucket_id}"
        segment_id = api.static_segments(list_id).get(name) or api.create_static_segment(list_id, name)
        with self.store.engine.begin() as conn:
            emails = ledger.bucket_emails(conn, bucket_id)
        for chunk in ledger.chunked(emails, SEGMENT_CHUNK):  # adds are idempotent: safe to repeat
            api.change_segment(list_id, segment_id, add=chunk, remove=[])
        self._update(bucket_id, segment_id=segment_id)
        return int(segment_id)

    def _campaign(
        self,
        api: MailchimpApi,
        bucket: dict[str, Any],
        campaign: CampaignDef,
        mail: RenderedMail,
        segment_id: int,
    ) -> str:
        """The bucket's Mailchimp campaign: the stored id, else one with its unique title (a create
        that landed just before a crash), else a new one; stored the moment it is known."""
        mc_id: str | None = bucket["mc_campaign_id"]
        if mc_id is not None:
            return mc_id
        list_id = self.config.mailchimp.list_id
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
                list_id=list_id, segment_id=segment_id, title=bucket["title"],
                subject=mail.subject, from_name=campaign.from_name,
                reply_to=campaign.reply_to, preview_text=campaign.preview_text or None,
            )  # fmt: skip
            mc_id = info.id
        self._update(bucket["bucket_id"], mc_campaign_id=mc_id)
        return mc_id

    def _deliver(self, api: MailchimpApi, bucket: dict[str, Any], mc_id: str, mail: RenderedMail) -> None:
        """Content, then `actions/send` for a slot under 15 minutes away, else `actions/schedule`."""
        bucket_id = bucket["bucket_id"]
        api.set_content(mc_id, html=mail.html, text=mail.text)
        send_at = from_us(bucket["send_at"]) or self.now()
        if send_at - self.now() < SEND_NOW_WITHIN:
            api.send_now(mc_id)
            self._update(bucket_id, status="sent", error=None, ledger_status="sent")
            log.info("bucket %s: campaign %s sent", bucket_id, mc_id)
            return
        at = quarter_hour_ceil(send_at)
        api.schedule(mc_id, at)
        self._update(bucket_id, status="scheduled", error=None, ledger_status="scheduled")
        log.info("bucket %s: campaign %s scheduled for %s", bucket_id, mc_id, at.isoformat())

    def _variant_of(self, bucket: dict[str, Any]) -> tuple[Variant, date, str]:
        """The bucket's template dimensions, local send date and A/B variant ("" without one)."""
        v = bucket["variant"]
        variant = Variant(
            segment=v["segment"], language=v["language"], country=v["country"], season=v["season"]
        )
        return variant, date.fromisoformat(v["send_date"]), str(v.get("ab_variant", ""))
