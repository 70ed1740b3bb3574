"""The Mailchimp sandbox's records (members, segments, lists, campaigns, activity) and the errors it raises."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "MEMBER_STATUSES",
    "NAMESPACE",
    "NOT_SEGMENTABLE",
    "Activity",
    "Campaign",
    "Delivery",
    "MailTest",
    "MailingList",
    "Member",
    "Segment",
    "StateError",
    "digest",
    "email_key",
    "forgotten",
    "invalid",
    "not_found",
    "require_unsent",
    "second",
    "subscriber_hash",
]

MEMBER_STATUSES: Final = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
# The spec's segment-member schemas (ListMembers3, ListMembers5) have no "archived" status: archived
# contacts cannot be put into or shown in a static segment.
NOT_SEGMENTABLE: Final = frozenset({"archived"})
NAMESPACE: Final = "segmail-sandbox/v1"


class StateError(Exception):
    """A request the audience refuses; the API layer turns it into a problem document."""

    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.lower().encode()).hexdigest()


def email_key(email: str) -> str:
    """How the project identifies a contact (segmail.connector.fields.email_key), so delivery logs compare directly."""
    return email.strip().lower()


def second(dt: datetime) -> datetime:
    """Aware UTC, whole seconds: what the API shows, so comparisons match what clients saw."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"datetimes must be timezone-aware, got {dt!r}")
    return dt.astimezone(UTC).replace(microsecond=0)


def digest(*parts: object) -> str:
    """A stable id part: SHA-256 of the parts under the sandbox namespace."""
    return hashlib.sha256("/".join(map(str, (NAMESPACE, *parts))).encode()).hexdigest()


@dataclass(eq=False)
class Member:
    list_id: str
    email: str
    status: str
    merge_fields: dict[str, str]
    language: str
    timezone: str
    country_code: str
    timestamp_opt: (
        datetime | None
    )  # None: unknown (real Mailchimp sends "", which the spec's date-time rejects)
    last_changed: datetime
    source: str
    seq: int
    vip: bool = False
    tags: dict[int, datetime] = field(default_factory=dict)  # static segment id -> when it was added
    campaigns_received: int = 0
    opened: set[str] = field(default_factory=set)  # campaign ids
    clicked: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return subscriber_hash(self.email)


@dataclass(eq=False)
class Segment:
    id: int
    list_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    type: str = "static"
    members: dict[str, None] = field(default_factory=dict)  # subscriber hashes, in the order added


@dataclass(eq=False)
class MailingList:
    id: str
    name: str
    web_id: int
    date_created: datetime
    members: dict[str, Member] = field(default_factory=dict)  # by subscriber hash, in the order added
    segments: dict[int, Segment] = field(default_factory=dict)
    # subscriber hashes of permanently deleted members: "This will make it impossible to re-import the list member"
    forgotten: set[str] = field(default_factory=set)

    def member(self, email_or_hash: str) -> Member | None:
        """Like the API: the path accepts the hash or the address itself."""
        key = subscriber_hash(email_or_hash) if "@" in email_or_hash else email_or_hash.lower()
        return self.members.get(key)

    def segment_named(self, name: str) -> Segment | None:
        return next((s for s in self.segments.values() if s.name == name), None)


@dataclass(frozen=True)
class Activity:
    action: str  # open | click | bounce
    timestamp: datetime
    ip: str
    url: str | None = None
    proxy: bool = (
        False  # an open Mailchimp flags as a proxy's (`is_proxy_open`, e.g. Apple Mail Privacy Protection)
    )


@dataclass(eq=False)
class Campaign:
    id: str
    web_id: int
    type: str
    list_id: str
    segment_id: int | None
    settings: dict[str, Any]
    create_time: datetime
    status: str = "save"
    send_time: datetime | None = None
    html: str | None = None
    plain_text: str | None = None
    recipients: list[str] = field(default_factory=list)  # subscriber hashes frozen at send time
    activity: dict[str, list[Activity]] = field(default_factory=dict)  # by subscriber hash
    unsubscribes: dict[str, datetime] = field(default_factory=dict)  # subscriber hash -> when, in order
    # segment_opts.conditions as sent (one StaticSegment condition: `segment_id` holds its segment)
    conditions: list[dict[str, Any]] | None = None
    done_at: datetime | None = None  # when a "sending" campaign becomes "sent"


# (campaign id, email key, delivered at): one row per mail that reached an audience member
Delivery = tuple[str, str, datetime]
# (campaign id, address, send_type, sent at): test mails, which never count as deliveries
MailTest = tuple[str, str, str, datetime]


def not_found() -> StateError:
    return StateError(404, "Resource Not Found", "The requested resource could not be found.")


def forgotten(email: str) -> StateError:
    """Adding back a permanently deleted address, as Mailchimp answers it (body captured at
    https://pastebin.com/QYm97nCC; contract §9)."""
    return StateError(
        400,
        "Forgotten Email Not Subscribed",
        f"{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe to get "
        "back on the list.",
    )


def invalid(field_name: str, message: str) -> StateError:
    return StateError(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        [{"field": field_name, "message": message}],
    )


def require_unsent(campaign: Campaign) -> None:
    if campaign.status != "save":
        raise StateError(
            400, "Bad Request", f"This campaign cannot be changed: its status is {campaign.status!r}."
        )
