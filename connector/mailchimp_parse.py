"""Mailchimp answers → records (members, engagement events, campaigns, segment refusals); no calls are made here."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from segmail.connector import fields
from segmail.connector.fields import FieldError
from segmail.connector.records import Event, Member

_EMAIL_IN_TEXT = re.compile(r"[^\s@'\"<>]+@[^\s@'\"<>]+")
# the fields of a member `parse_members` reads, as GET /lists/{id}/members takes them
MEMBER_FIELDS = [
    "members.email_address",
    "members.status",
    "members.timestamp_opt",
    "members.timestamp_signup",
    "members.last_changed",
    "members.language",
    "members.merge_fields",
    "members.location.timezone",
    "members.location.country_code",
    "total_items",
]


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    id: str
    status: str  # save | paused | schedule | sending | sent | canceled | canceling | archived
    title: str
    list_id: str
    segment_id: int | None  # recipients.segment_opts.saved_segment_id
    send_time: datetime | None  # scheduled or sent time, aware UTC
    emails_sent: int


@dataclass(frozen=True)
class MemberPage:
    """One page of members; `cursor` is set by connector/mailchimp_members.py, which sees every page."""

    members: list[Member]
    problems: list[str]  # "member <hash>: reason" — never the email itself
    newest_change: datetime | None
    cursor: str | None = None

    @property
    def records(self) -> list[Member]:
        return self.members


@dataclass(frozen=True)
class ChunkResult:
    added: list[str]
    removed: list[str]
    refused: dict[str, str]


def subscriber_hash(email: str) -> str:
    return hashlib.md5(
        email.strip().lower().encode(), usedforsecurity=False
    ).hexdigest()  # Mailchimp member id


def mask_emails(text: str) -> str:
    """`text` with every address replaced by `<email>` (Mailchimp's messages may quote them)."""
    return _EMAIL_IN_TEXT.sub("<email>", text)


def chunk_result(data: dict[str, Any], *, add: Sequence[str], remove: Sequence[str]) -> ChunkResult:
    """A segment change's answer: what Mailchimp confirmed of `add`/`remove` and what it refused, and why."""
    refused: dict[str, str] = {}
    for error in data.get("errors") or []:
        message = str(error.get("error") or "refused")
        for email in error.get("email_addresses") or []:
            refused[str(email).strip().lower()] = mask_emails(message)
    return ChunkResult(
        added=[e.strip().lower() for e in add if e.strip().lower() not in refused],
        removed=[e.strip().lower() for e in remove if e.strip().lower() not in refused],
        refused=refused,
    )


def parse_members(raw: Sequence[dict[str, Any]], *, offset: int = 0) -> MemberPage:
    """Mailchimp members → Member records; a bad member is reported by position and hash and skipped."""
    members: list[Member] = []
    problems: list[str] = []
    newest: datetime | None = None
    for i, item in enumerate(raw):
        where = f"member #{offset + i + 1}"
        try:
            member = _member(item)
        except (FieldError, KeyError, TypeError, ValueError) as exc:
            email = item.get("email_address") if isinstance(item, dict) else None
            ident = f" ({subscriber_hash(email)})" if isinstance(email, str) and email else ""
            problems.append(
                f"{where}{ident}: {exc if isinstance(exc, FieldError) else f'missing or malformed {exc}'}"
            )
            continue
        members.append(member)
        if member.last_changed is not None and (newest is None or member.last_changed > newest):
            newest = member.last_changed
    return MemberPage(members=members, problems=problems, newest_change=newest)


def _member(item: dict[str, Any]) -> Member:
    email = item["email_address"]
    location = item.get("location") or {}
    merge = item.get("merge_fields") or {}
    zone = location.get("timezone") or None
    try:
        zone = fields.timezone_name(zone)
    except FieldError:
        zone = None  # Mailchimp guesses zones from IPs; an unknown one falls through to the next source
    try:
        country = fields.country_code(location.get("country_code"))
    except FieldError:
        country = None
    opted = fields.optional_timestamp(
        item.get("timestamp_opt") or item.get("timestamp_signup"), "timestamp_opt", naive_is_utc=True
    )
    return Member(
        email=str(email).strip(),
        email_key=fields.email_key(str(email)),
        status=fields.contact_status(str(item["status"])),
        opted_in_at=opted,
        language=fields.text(item.get("language"), max_len=16),
        first_name=fields.text(merge.get("FNAME") if isinstance(merge.get("FNAME"), str) else None),
        last_name=fields.text(merge.get("LNAME") if isinstance(merge.get("LNAME"), str) else None),
        timezone=zone,
        country=country,
        last_changed=fields.optional_timestamp(item.get("last_changed"), "last_changed", naive_is_utc=True),
    )


def parse_activity(campaign_id: str, emails: Sequence[dict[str, Any]]) -> Iterator[Event]:
    for entry in emails:
        try:
            key = fields.email_key(str(entry["email_address"]))
        except (FieldError, KeyError):
            continue
        for act in entry.get("activity") or []:
            action = act.get("action")
            if action not in ("open", "click"):
                continue  # bounces are not engagement
            try:
                at = fields.timestamp(str(act["timestamp"]), "timestamp", naive_is_utc=True)
            except (FieldError, KeyError):
                continue
            yield Event(email_key=key, type=action, at=at, campaign_id=campaign_id)


def parse_campaign(data: dict[str, Any]) -> CampaignInfo:
    recipients = data.get("recipients") or {}
    saved = (recipients.get("segment_opts") or {}).get("saved_segment_id")
    return CampaignInfo(
        id=str(data["id"]),
        status=str(data.get("status") or ""),
        title=str((data.get("settings") or {}).get("title") or ""),
        list_id=str(recipients.get("list_id") or ""),
        # Mailchimp may answer 0 for "no saved segment"; ids start at 1
        segment_id=saved if isinstance(saved, int) and not isinstance(saved, bool) and saved > 0 else None,
        send_time=optional_time(data.get("send_time")),
        emails_sent=int(data.get("emails_sent") or 0),
    )


def iso(value: datetime) -> str:
    """A time as Mailchimp takes it: ISO-8601 in UTC, to the second."""
    return value.astimezone(UTC).isoformat(timespec="seconds")


def optional_time(value: Any) -> datetime | None:
    """A time Mailchimp answered, aware UTC; None when absent or unreadable."""
    try:
        return fields.optional_timestamp(value if isinstance(value, str) else None, "time", naive_is_utc=True)
    except FieldError:
        return None
