"""Planning a campaign: each recipient's zone, slot and mail variant, grouped into buckets.

Pure: recipients come in as rows, plans go out; the caller reads the store and writes the ledger.
A bucket is every recipient of one campaign with the same send instant and the same rendered mail,
so the number of Mailchimp campaigns is the floor of distinct (campaign, instant, variant) triples. Only the dimensions the
template really uses split a bucket (Renderer.dimensions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from segmail.sending.campaigns import CampaignDef, SendSettings
from segmail.sending.render import Variant, normalize_language
from segmail.sending.season import season_for
from segmail.sending.timezones import (
    ZoneResolver,
    apply_late_policy,
    local_date_of,
    next_slot,
    slot_instant,
)
from segmail.sending.unsent import FREQUENCY_CAP, LATE, not_subscribed
from segmail.store.codec import from_us, to_us
from segmail.store.ledger import RecipientRow, occurrence_of

SENDABLE = "subscribed"  # Mailchimp delivers campaigns to subscribed members only


class PlannedSend(NamedTuple):
    """One recipient's plan. A NamedTuple: built a million times per plan, it must be cheap."""

    email_key: str
    email: str
    occurrence: str
    zone: str
    tz_source: str
    slot: datetime  # the planned local slot as a UTC instant
    send_at: datetime | None  # None: skipped (see `action`)
    action: str  # on_time | send_now | next_day | moved (frequency cap) | skip
    reason: str  # why skipped or moved, "" otherwise
    variant: Variant
    local_date: date
    job_slot: datetime  # the instant whose send job handles it (a late send rides its original slot's job)
    bucket_key: str  # same key, same Mailchimp campaign


def bucket_key(
    campaign: str, job_slot: datetime, send_at: datetime | None, variant: Variant, local_date: date
) -> str:
    """The campaign is part of the key: two campaigns whose recipients share an instant and a
    variant (e.g. `still_interested` and `last_chance` a week later) are two Mailchimp campaigns."""
    raw = json.dumps(
        [
            campaign,
            job_slot.isoformat(),
            send_at.isoformat() if send_at else None,
            *variant_fields(variant),
            local_date.isoformat(),
        ]
    )
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def variant_fields(variant: Variant) -> tuple[str, str, str, str]:
    return variant.segment, variant.language, variant.country, variant.season


# PlannedSend's fields after email_key, email and occurrence
_Outcome = tuple[str, str, datetime, datetime | None, str, str, Variant, date, datetime, str]


class Planner:
    """Plans one campaign at `now`; reused across recipients so zone and slot caches stay warm."""

    def __init__(
        self,
        campaign: CampaignDef,
        settings: SendSettings,
        *,
        dimensions: frozenset[str],
        languages: Sequence[str],
        resolver: ZoneResolver,
        now: datetime,
        recent: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.campaign = campaign
        self.settings = settings
        self.dims = dimensions
        self.languages = tuple(languages)
        self.resolver = resolver
        self.now = now
        self.recent = recent or {}
        self.cap = timedelta(hours=settings.min_hours_between)
        self.quiet = settings.quiet
        self._variants: dict[tuple[str, str, date], Variant] = {}
        self._memo: dict[tuple[object, ...], _Outcome] = {}
        self.day = campaign.date.isoformat() if campaign.date else None

    def plan(self, rows: Iterable[RecipientRow]) -> Iterator[PlannedSend]:
        for row in rows:
            yield self.plan_one(row)

    def plan_one(self, row: RecipientRow) -> PlannedSend:
        """Recipients with the same zone inputs, language and status share one outcome (memoised):
        a million recipients are a few thousand distinct profiles, so most cost one dict lookup."""
        c = self.campaign
        occurrence = occurrence_of(c.trigger, self.day, row.entered_at)
        if self.recent.get(row.email_key):  # a frequency cap applies: this one is planned alone
            outcome = self._outcome(row)
        else:
            key = (
                row.mc_timezone, row.timezone, row.order_address, row.country, row.mc_country, row.language,
                row.status, row.entered_at if c.trigger == "on_enter" else 0,
            )  # fmt: skip
            memo = self._memo.get(key)
            if memo is None:
                memo = self._memo[key] = self._outcome(row)
            outcome = memo
        return PlannedSend(row.email_key, row.email, occurrence, *outcome)

    def _outcome(self, row: RecipientRow) -> _Outcome:
        c = self.campaign
        order_country, _, province = (row.order_address or "").partition("|")
        choice = self.resolver.resolve(
            mc_timezone=row.mc_timezone,
            contact_timezone=row.timezone,
            order_country=order_country or row.country,
            order_province=province or None,
            mc_country=row.mc_country,
        )
        zone = choice.zone
        if c.trigger == "at":
            assert c.date is not None
            slot = slot_instant(c.date, c.local_time, zone)
        else:
            entered = from_us(row.entered_at) or self.now
            slot = next_slot(entered + c.delay, zone, c.local_time, days=c.days, quiet_hours=self.quiet)
        action, reason = "on_time", ""
        send_at: datetime | None = slot
        if row.status != SENDABLE:
            send_at, action, reason = None, "skip", not_subscribed(row.status)
        if send_at is not None and self.cap:
            send_at, action, reason = self._cap(row.email_key, slot, zone)
        if send_at is not None and send_at < self.now:
            late = apply_late_policy(
                send_at, self.now, self.settings.late_policy, within=self.settings.send_if_within,
                zone=zone, local_time=c.local_time, days=c.days, quiet_hours=self.quiet,
            )  # fmt: skip
            send_at, action = late.send_at, late.action
            reason = LATE if late.action == "skip" else reason
        local = local_date_of(send_at or slot, zone)
        country = (order_country or row.country or row.mc_country or "").upper()
        variant = self._variant(row.language, country if len(country) == 2 else "", local)
        job_slot = slot if action == "send_now" or send_at is None else send_at
        key = bucket_key(c.name, job_slot, send_at, variant, local)
        return zone, choice.source, slot, send_at, action, reason, variant, local, job_slot, key

    def _cap(self, key: str, slot: datetime, zone: str) -> tuple[datetime | None, str, str]:
        """No two segmail mails to one person within min_hours_between: skip, or move an on_enter slot."""
        times = self.recent.get(key)
        if not times:
            return slot, "on_time", ""
        cap_us = self.cap // timedelta(microseconds=1)
        candidate = slot
        for _ in range(8):  # each move passes one earlier mail; a few suffice
            clash = [t for t in times if abs(t - to_us(candidate)) < cap_us]
            if not clash:
                return (
                    candidate,
                    ("on_time" if candidate == slot else "moved"),
                    ("" if candidate == slot else FREQUENCY_CAP),
                )
            if self.campaign.trigger == "at" or self.settings.frequency_cap_on_enter == "skip":
                return None, "skip", FREQUENCY_CAP
            after = (from_us(max(clash)) or candidate) + self.cap
            c = self.campaign
            candidate = next_slot(after, zone, c.local_time, days=c.days, quiet_hours=self.quiet)
        return None, "skip", FREQUENCY_CAP

    def _variant(self, language: str | None, country: str, local: date) -> Variant:
        dims = self.dims
        lang = normalize_language(language, self.languages) if "language" in dims else ""
        seasonal = "season" in dims
        # the season depends on the country's hemisphere even where the template ignores the country
        key = (lang, country if seasonal or "country" in dims else "", local if seasonal else date.min)
        variant = self._variants.get(key)
        if variant is None:
            variant = make_variant(
                self.dims, segment=self.campaign.segment, language=lang, country=country, local_date=local
            )
            self._variants[key] = variant
        return variant


def make_variant(
    dims: frozenset[str], *, segment: str, language: str, country: str, local_date: date
) -> Variant:
    """The mail a recipient gets: dimensions the template does not use are blanked, so they never split a bucket."""
    return Variant(
        segment=segment if "segment" in dims else "",
        language=language if "language" in dims else "",
        country=country if "country" in dims else "",
        season=season_for(country or None, local_date) if "season" in dims else "",
    )
