"""The Mailchimp sandbox's in-memory audience: lists, members, static segments (tags), campaigns, activity."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from segmail.sandbox.mailchimp_records import (
    MEMBER_STATUSES,
    NAMESPACE,
    NOT_SEGMENTABLE,
    Activity,
    Campaign,
    Delivery,
    MailingList,
    MailTest,
    Member,
    Segment,
    StateError,
    digest,
    email_key,
    forgotten,
    invalid,
    not_found,
    require_unsent,
    second,
    subscriber_hash,
)

__all__ = [
    "MEMBER_STATUSES",
    "Activity",
    "Campaign",
    "Delivery",
    "MailTest",
    "MailingList",
    "Member",
    "SandboxState",
    "Segment",
    "StateError",
    "email_key",
    "invalid",
    "not_found",
    "second",
    "subscriber_hash",
]

_FIRST_SEGMENT_ID: Final = 10_001


class SandboxState:
    """All data of one sandbox. Not thread-safe by itself: the server serialises access with one lock."""

    def __init__(self, *, seed: int) -> None:
        self.seed = seed
        self.lists: dict[str, MailingList] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.stores: dict[
            str, dict[str, dict[str, Any]]
        ] = {}  # e-commerce store id -> order id -> order JSON
        self.deliveries: list[Delivery] = []
        self.test_emails: list[MailTest] = []
        # How long a delivered campaign reports "sending" before "sent", on the sandbox clock. Zero (the
        # default) goes straight to "sent"; a test sets it to see the state real Mailchimp shows for a while.
        self.sending_for = timedelta(0)
        self._next_segment_id = _FIRST_SEGMENT_ID
        self._campaigns_created = 0
        self._seq = 0

    # ---- lists and members -------------------------------------------------------------------------

    def add_list(self, list_id: str, name: str, now: datetime) -> MailingList:
        if list_id in self.lists:
            raise ValueError(f"list {list_id!r} already exists")
        lst = MailingList(list_id, name, self.web_id("list", list_id), second(now))
        self.lists[list_id] = lst
        return lst

    def get_list(self, list_id: str) -> MailingList:
        try:
            return self.lists[list_id]
        except KeyError:
            raise not_found() from None

    def add_member(
        self,
        list_id: str,
        email: str,
        *,
        status: str,
        timestamp_opt: datetime | None,
        last_changed: datetime,
        timezone: str = "",
        country_code: str = "",
        language: str = "",
        merge_fields: dict[str, str] | None = None,
        source: str = "API - Generic",
    ) -> Member:
        lst = self.get_list(list_id)
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {MEMBER_STATUSES}, got {status!r}")
        if "@" not in email:
            raise ValueError(f"email must be an address, got {email!r}")
        if lst.member(email) is not None:
            raise ValueError(f"{email} is already a member of list {list_id!r}")
        if subscriber_hash(email) in lst.forgotten:
            raise forgotten(email)
        self._seq += 1
        fields = {"FNAME": "", "LNAME": ""} | dict(merge_fields or {})
        member = Member(list_id, email, status, fields, language, timezone, country_code,
                        None if timestamp_opt is None else second(timestamp_opt), second(last_changed),
                        source, self._seq)  # fmt: skip
        lst.members[member.id] = member
        return member

    def delete_permanently(self, lst: MailingList, member: Member) -> None:
        """The member and everything about it leave the audience, its tags and every report; the
        address may never be added again ("This will make it impossible to re-import the list member")."""
        del lst.members[member.id]
        for segment in lst.segments.values():
            segment.members.pop(member.id, None)
        for campaign in self.campaigns.values():
            campaign.activity.pop(member.id, None)
            if member.id in campaign.recipients:
                campaign.recipients.remove(member.id)
        lst.forgotten.add(member.id)

    def web_id(self, *parts: object) -> int:
        return int(digest(self.seed, "web_id", *parts)[:7], 16) + 1

    def unique_email_id(self, member: Member) -> str:
        return digest(self.seed, "unique", member.list_id, member.id)[:10]

    def contact_id(self, member: Member) -> str:
        return digest(self.seed, "contact", member.id)[:32]

    # ---- static segments, which are Mailchimp's tags ------------------------------------------------

    def create_segment(self, lst: MailingList, name: str, emails: Iterable[str], now: datetime) -> Segment:
        if not name.strip():
            raise invalid("name", "This value should not be blank.")
        if lst.segment_named(name) is not None:
            raise invalid("name", f"A segment or tag named {name!r} already exists in this audience.")
        now = second(now)
        segment = Segment(self._next_segment_id, lst.id, name, now, now)
        self._next_segment_id += 1
        lst.segments[segment.id] = segment
        for email in emails:  # "Any emails provided that are not present on the list will be ignored"
            member = lst.member(email.strip())
            if member is not None and member.status not in NOT_SEGMENTABLE:
                self.tag(lst, segment, member, active=True, now=now)
        return segment

    def tag(self, lst: MailingList, segment: Segment, member: Member, *, active: bool, now: datetime) -> bool:
        """Membership is kept on both sides, because a tag *is* a static segment. True if it changed."""
        present = member.id in segment.members
        if active == present:
            return False
        if active:
            segment.members[member.id] = None
            member.tags[segment.id] = second(now)
        else:
            del segment.members[member.id]
            del member.tags[segment.id]
        segment.updated_at = second(now)
        return True

    def set_tags(self, lst: MailingList, member: Member, tags: list[tuple[str, bool]], now: datetime) -> None:
        for name, active in tags:
            segment = lst.segment_named(name)
            if segment is None:
                if not active:
                    continue
                # "If a tag that does not exist is passed in and set as 'active', a new tag will be created."
                segment = self.create_segment(lst, name, (), now)
            self.tag(lst, segment, member, active=active, now=now)

    def batch_segment(
        self, lst: MailingList, segment: Segment, add: list[str], remove: list[str], now: datetime
    ) -> tuple[list[Member], list[Member], dict[str, list[str]]]:
        """Members added, members removed, and error message -> addresses. Unknown addresses are never created."""
        if segment.type != "static":
            raise invalid("segment_id", "Members can only be added to or removed from a static segment.")
        added: list[Member] = []
        removed: list[Member] = []
        errors: dict[str, list[str]] = {}
        for emails, active, out in ((add, True, added), (remove, False, removed)):
            for email in dict.fromkeys(e.strip() for e in emails):
                member = lst.member(email) if "@" in email else None
                if member is None:
                    errors.setdefault("Email address is not subscribed to the list", []).append(email)
                elif member.status in NOT_SEGMENTABLE:
                    errors.setdefault(
                        "Archived contacts cannot be added to or removed from a segment", []
                    ).append(email)
                elif self.tag(lst, segment, member, active=active, now=now):
                    out.append(member)
        return added, removed, errors

    # ---- campaigns ---------------------------------------------------------------------------------

    def create_campaign(
        self, *, type_: str, list_id: str, segment_id: int | None, settings: dict[str, Any], now: datetime
    ) -> Campaign:
        lst = self.lists.get(list_id)
        if lst is None:
            raise invalid("recipients.list_id", f"The list {list_id!r} does not exist.")
        if segment_id is not None and segment_id not in lst.segments:
            raise invalid(
                "recipients.segment_opts.saved_segment_id", f"The segment {segment_id} does not exist."
            )
        self._campaigns_created += 1
        n = self._campaigns_created  # not len(): a deleted campaign's number is never reused
        cid = digest(self.seed, "campaign", n)[:10]
        campaign = Campaign(
            cid, self.web_id("campaign", n), type_, list_id, segment_id, settings, second(now)
        )
        self.campaigns[cid] = campaign
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise not_found() from None

    def audience_of(self, campaign: Campaign, at: datetime | None = None) -> list[Member]:
        """Who a send would reach: subscribed members of the list, within the saved segment if any.

        With `at`, only members tagged by then count: a scheduled send is delivered lazily, on the first
        request after its time, and a member tagged in between (say by a seeding helper, which does not
        deliver due campaigns first) must not receive a mail that left before they joined.
        """
        lst = self.lists[campaign.list_id]
        if campaign.segment_id is None:
            candidates: Iterable[Member] = lst.members.values()
        else:
            segment = lst.segments.get(campaign.segment_id)
            candidates = () if segment is None else (lst.members[h] for h in segment.members)
            if segment is not None and at is not None:
                candidates = (m for m in candidates if m.tags.get(segment.id, at) <= at)
        return [m for m in candidates if m.status == "subscribed"]

    def schedule(self, campaign: Campaign, when: datetime, now: datetime) -> None:
        require_unsent(campaign)
        self._require_ready(campaign)
        when = when.astimezone(UTC)
        if when.second or when.microsecond or when.minute % 15:
            raise invalid(
                "schedule_time",
                "Campaigns may only be scheduled to send on the quarter-hour (:00, :15, :30, :45).",
            )
        if when <= now:
            raise invalid("schedule_time", "The schedule time must be in the future.")
        campaign.status = "schedule"
        campaign.send_time = when

    def send(self, campaign: Campaign, now: datetime) -> None:
        require_unsent(campaign)
        self._require_ready(campaign)
        self._deliver(campaign, second(now))

    def send_test(self, campaign: Campaign, emails: list[str], send_type: str, now: datetime) -> None:
        """Test mails go to the given addresses only, never to the audience, and leave the status alone."""
        self._require_ready(campaign, audience=False)
        for email in emails:
            self.test_emails.append((campaign.id, email.strip(), send_type, second(now)))

    def delete_campaign(self, campaign: Campaign) -> None:
        if campaign.status in ("sending", "sent"):
            raise StateError(
                400, "Bad Request", f"This campaign cannot be deleted: its status is {campaign.status!r}."
            )
        del self.campaigns[campaign.id]

    def advance(self, now: datetime) -> None:
        """Scheduled campaigns whose time has come are sent; called before every request is handled."""
        for campaign in self.campaigns.values():
            if campaign.status == "schedule" and campaign.send_time is not None and campaign.send_time <= now:
                self._deliver(campaign, campaign.send_time)
            if campaign.status == "sending" and campaign.done_at is not None and campaign.done_at <= now:
                campaign.status = "sent"

    def mails_to(self, email: str) -> list[str]:
        """The campaigns that reached this address, in delivery order: a repeat shows up twice."""
        key = email_key(email)
        return [campaign_id for campaign_id, to, _ in self.deliveries if to == key]

    def _deliver(self, campaign: Campaign, at: datetime) -> None:
        members = self.audience_of(campaign, at)
        campaign.recipients = [m.id for m in members]
        campaign.activity = {m.id: [] for m in members}
        campaign.send_time = at
        if self.sending_for > timedelta(0):
            campaign.status, campaign.done_at = "sending", at + self.sending_for
        else:
            campaign.status, campaign.done_at = "sent", at
        for member in members:
            member.campaigns_received += 1
            self.deliveries.append((campaign.id, email_key(member.email), at))

    def _require_ready(self, campaign: Campaign, *, audience: bool = True) -> None:
        """The send checklist: Mailchimp refuses a send or schedule until these are set, and a test mail
        until everything but the recipients is (the testers are the recipients)."""
        missing = [
            f"settings.{k}" for k in ("subject_line", "from_name", "reply_to") if not campaign.settings.get(k)
        ]
        if not campaign.html and not campaign.plain_text:
            missing.append("content")
        if audience and not self.audience_of(campaign):
            missing.append("recipients")
        if missing:
            raise StateError(
                400,
                "Bad Request",
                "Your Campaign is not ready to send.",
                [{"field": f, "message": "This value is required to send."} for f in missing],
            )

    def simulate_engagement(
        self,
        campaign: Campaign,
        *,
        seed: int,
        open_rate: float,
        click_rate: float,
        bounce_rate: float = 0.0,
        proxy_rate: float = 0.0,
        unsubscribe_rate: float = 0.0,
    ) -> int:
        """Replace the campaign's activity with a seeded draw; the same arguments give the same events.

        `proxy_rate` of the openers open through a proxy (flagged, minutes after the send) and
        `unsubscribe_rate` of the delivered recipients unsubscribe (and become unsubscribed members).
        Both draw from a stream of their own, so the opens and clicks of a seed never change with them.
        """
        if campaign.status != "sent" or campaign.send_time is None:
            raise ValueError(f"campaign {campaign.id} has not been sent (status {campaign.status!r})")
        for name, rate in (
            ("open_rate", open_rate),
            ("click_rate", click_rate),
            ("bounce_rate", bounce_rate),
            ("proxy_rate", proxy_rate),
            ("unsubscribe_rate", unsubscribe_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if click_rate > open_rate:
            raise ValueError(
                f"click_rate must not exceed open_rate (a click implies an open), got {click_rate}"
            )
        rng = random.Random(f"{NAMESPACE}/{seed}/engagement/{campaign.id}")
        extra = random.Random(f"{NAMESPACE}/{seed}/engagement-extra/{campaign.id}")
        lst = self.lists[campaign.list_id]
        total = 0
        campaign.unsubscribes = {}
        for n, member_id in enumerate(campaign.recipients):
            member = lst.members[member_id]
            member.opened.discard(campaign.id)
            member.clicked.discard(campaign.id)
            events = _draw_activity(rng, campaign, n, open_rate, click_rate, bounce_rate)
            if proxy_rate and events and events[0].action == "open" and extra.random() < proxy_rate:
                events[0] = replace(events[0], proxy=True, timestamp=campaign.send_time + timedelta(
                    seconds=60 + int(extra.random() * 540)))  # fmt: skip
            if any(e.action == "open" for e in events):
                member.opened.add(campaign.id)
            if any(e.action == "click" for e in events):
                member.clicked.add(campaign.id)
            campaign.activity[member_id] = events
            total += len(events)
            bounced = any(e.action == "bounce" for e in events)
            if unsubscribe_rate and not bounced and extra.random() < unsubscribe_rate:
                at = max((e.timestamp for e in events), default=campaign.send_time)
                at += timedelta(seconds=60 + int(extra.random() * 1800))
                campaign.unsubscribes[member_id] = at
                member.status, member.last_changed = "unsubscribed", at
        return total


def _draw_activity(
    rng: random.Random, campaign: Campaign, n: int, open_rate: float, click_rate: float, bounce_rate: float
) -> list[Activity]:
    assert campaign.send_time is not None
    ip = f"198.51.100.{n % 254 + 1}"  # TEST-NET-2: never a real address
    if rng.random() < bounce_rate:
        return [Activity("bounce", campaign.send_time + timedelta(seconds=30), ip)]
    u = rng.random()
    if u >= open_rate:
        return []
    # Opens cluster in the first hours after the send: lognormal delay, median 3 hours, capped at 2 days.
    delay = min(48 * 3600, int(3 * 3600 * math.exp(1.3 * rng.gauss(0.0, 1.0))))
    opened = campaign.send_time + timedelta(seconds=max(delay, 1))
    events = [Activity("open", opened, ip)]
    if u < click_rate:
        clicked = opened + timedelta(seconds=5 + int(rng.random() * 600))
        events.append(Activity("click", clicked, ip, f"https://shop.example.com/?utm_campaign={campaign.id}"))
    return events
