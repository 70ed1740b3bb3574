"""Planning a campaign: each recipient's zone, slot and mail variant, grouped into buckets.

Pure: recipients come in as rows, plans go out; the caller reads the store and writes the ledger.
A bucket is every recipient of one campaign with the same send instant and the same rendered mail,
so the number of Mailchimp campaigns is the floor of distinct (campaign, instant, variant) triples. Only the dimensions the
template really uses split a bucket (Renderer.dimensions). An A/B variant (campaign.variants) is one
more bucket field; a held-out recipient (holdout_percent) is planned with action "holdout" and no send
time, so no bucket holds them (sending/assign.py decides both).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import NamedTuple

from segmail.sending.assign import Draw, VariantPicker, draw, held_out, in_test
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
HOLDOUT = "holdout"  # the action and reason of a held-out recipient (written to the ledger as status holdout)
TEST, WINNER = "test", "winner"  # the phases of a test-then-winner broadcast


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
    bucket_key: str  # same key, same Mailchimp campaign; "" when held out
    ab_variant: str = ""  # the A/B variant (campaign.variants), "" without any
    ab_phase: str = ""  # TEST or WINNER in a test-then-winner broadcast, else ""


def bucket_key(
    campaign: str,
    job_slot: datetime,
    send_at: datetime | None,
    variant: Variant,
    local_date: date,
    ab_variant: str = "",
    ab_phase: str = "",
) -> str:
    """The campaign is part of the key: two campaigns whose recipients share an instant and a
    variant (e.g. `still_interested` and `last_chance` a week later) are two Mailchimp campaigns.
    The A/B variant joins the key only when there is one, so other campaigns keep their keys."""
    raw = json.dumps(
        [
            campaign,
            job_slot.isoformat(),
            send_at.isoformat() if send_at else None,
            *variant_fields(variant),
            local_date.isoformat(),
            *((ab_variant, ab_phase) if ab_variant else ()),
        ]
    )
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def variant_fields(variant: Variant) -> tuple[str, str, str, str]:
    return variant.segment, variant.language, variant.country, variant.season


# PlannedSend's fields after email_key, email and occurrence
_Outcome = tuple[str, str, datetime, datetime | None, str, str, Variant, date, datetime, str, str, str]
Arm = tuple[str, str]  # (phase, A/B variant): ("", "") for a campaign without variants


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
        variant_dimensions: Mapping[str, frozenset[str]] | None = None,
        winner: str | None = None,
    ) -> None:
        """`variant_dimensions`: each A/B variant's template dimensions (default `dimensions`);
        `winner`: a test-then-winner broadcast's decided variant, None while undecided (then only the
        test group is planned: the others wait for the winner)."""
        self.campaign = campaign
        self.settings = settings
        self.dims = dimensions
        self.languages = tuple(languages)
        self.resolver = resolver
        self.now = now
        self.recent = recent or {}
        self.cap = timedelta(hours=settings.min_hours_between)
        self.quiet = settings.quiet
        self.variant_dims = dict(variant_dimensions or {})
        self.winner = winner
        self._variants: dict[tuple[str, str, str, date], Variant] = {}
        self._memo: dict[tuple[object, ...], _Outcome] = {}
        self._arms: dict[Arm, CampaignDef] = {}
        self._draws = bool(campaign.variants) or campaign.holdout_percent > 0
        self._pick = VariantPicker(campaign.variants) if campaign.variants else None
        self.day = campaign.date.isoformat() if campaign.date else None

    def plan(self, rows: Iterable[RecipientRow]) -> Iterator[PlannedSend]:
        for row in rows:
            p = self.plan_one(row)
            if p is not None:
                yield p

    def plan_one(self, row: RecipientRow) -> PlannedSend | None:
        """The recipient's plan; None while they wait for a test-then-winner broadcast's winner.

        A test mail is never sent late: a test-group recipient whose test slot has passed (e.g. who
        entered the segment after it) gets the winner on `date` instead."""
        c = self.campaign
        occurrence = occurrence_of(c.trigger, self.day, row.entered_at)
        d = draw(c.name, occurrence, row.email_key) if self._draws else None
        arm = self._arm(d, test=True)
        if arm is None:
            return None
        outcome = self._planned(row, arm)
        if arm[0] == TEST and outcome[2] < self.now:  # outcome[2]: the planned slot
            arm = self._arm(d, test=False)
            if arm is None:
                return None
            outcome = self._planned(row, arm)
        p = PlannedSend(row.email_key, row.email, occurrence, *outcome)
        if d is not None and p.send_at is not None and held_out(d, c.holdout_percent):
            # planned like everyone else, then not sent: its slot is when it would have gone out
            return p._replace(slot=p.send_at, send_at=None, action=HOLDOUT, reason=HOLDOUT, bucket_key="")
        return p

    def _arm(self, d: Draw | None, *, test: bool) -> Arm | None:
        if d is None or self._pick is None:
            return ("", "")
        t = self.campaign.ab_test
        if t is None:
            return ("", self._pick(d))
        if test and in_test(d, t.percent):
            return (TEST, self._pick(d))
        return (WINNER, self.winner) if self.winner else None

    def _arm_def(self, arm: Arm) -> CampaignDef:
        """The campaign as this arm mails it: the variant's subject, template and local time; a test
        phase on the test date."""
        found = self._arms.get(arm)
        if found is None:
            phase, name = arm
            found = self.campaign.as_variant(name)
            if phase == TEST and found.ab_test is not None:
                found = replace(found, date=found.ab_test.test_date)
            self._arms[arm] = found
        return found

    def _planned(self, row: RecipientRow, arm: Arm) -> _Outcome:
        """Recipients with the same zone inputs, language, status and arm share one outcome (memoised):
        a million recipients are a few thousand distinct profiles, so most cost one dict lookup."""
        c = self.campaign
        if self.recent.get(row.email_key):  # a frequency cap applies: this one is planned alone
            return self._outcome(row, arm)
        key = (
            row.mc_timezone, row.timezone, row.order_address, row.country, row.mc_country, row.language,
            row.status, row.entered_at if c.trigger == "on_enter" else 0, arm,
        )  # fmt: skip
        memo = self._memo.get(key)
        if memo is None:
            memo = self._memo[key] = self._outcome(row, arm)
        return memo

    def _outcome(self, row: RecipientRow, arm: Arm) -> _Outcome:
        c = self._arm_def(arm)
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
            send_at, action, reason = self._cap(c, row.email_key, slot, zone)
        if send_at is not None and send_at < self.now:
            late = apply_late_policy(
                send_at, self.now, self.settings.late_policy, within=self.settings.send_if_within,
                zone=zone, local_time=c.local_time, days=c.days, quiet_hours=self.quiet,
            )  # fmt: skip
            send_at, action = late.send_at, late.action
            reason = LATE if late.action == "skip" else reason
        local = local_date_of(send_at or slot, zone)
        country = (order_country or row.country or row.mc_country or "").upper()
        phase, name = arm
        variant = self._variant(row.language, country if len(country) == 2 else "", local, name)
        job_slot = slot if action == "send_now" or send_at is None else send_at
        key = bucket_key(c.name, job_slot, send_at, variant, local, name, phase)
        return zone, choice.source, slot, send_at, action, reason, variant, local, job_slot, key, name, phase

    def _cap(self, c: CampaignDef, key: str, slot: datetime, zone: str) -> tuple[datetime | None, str, str]:
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
            if c.trigger == "at" or self.settings.frequency_cap_on_enter == "skip":
                return None, "skip", FREQUENCY_CAP
            after = (from_us(max(clash)) or candidate) + self.cap
            candidate = next_slot(after, zone, c.local_time, days=c.days, quiet_hours=self.quiet)
        return None, "skip", FREQUENCY_CAP

    def _variant(self, language: str | None, country: str, local: date, ab_variant: str) -> Variant:
        dims = self.variant_dims.get(ab_variant, self.dims)
        lang = normalize_language(language, self.languages) if "language" in dims else ""
        seasonal = "season" in dims
        # the season depends on the country's hemisphere even where the template ignores the country
        key = (
            ab_variant,
            lang,
            country if seasonal or "country" in dims else "",
            local if seasonal else date.min,
        )
        variant = self._variants.get(key)
        if variant is None:
            variant = make_variant(
                dims, segment=self.campaign.segment, language=lang, country=country, local_date=local
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
