"""Mailchimp's campaign reports: each sent campaign's figures, its target, and what each recipient did.

Reads, through the one client (MailchimpApi: its retry policy, connection limit and stats):
- `GET /reports` (`reports.get_all_campaign_reports`): the figures of every sent campaign, one page of
  up to 1,000 campaigns a request; `since_send_time` bounds it to the campaigns still worth watching.
  Its totals (opens, proxy opens, clicks, bounces, unsubscribes) are what tells the caller whether a
  campaign's activity moved since the last read, so an unchanged campaign costs no request at all;
- `GET /campaigns/{id}` and `GET /campaigns?status=sent` (`recipients.segment_opts`): a campaign's target;
- `GET /reports/{id}/email-activity`: opens, clicks and bounces per recipient (`since`);
- `GET /reports/{id}/unsubscribed`: the campaign's unsubscribes (the API has no `since` for these);
- `GET /reports/{id}/open-details`: opens with `is_proxy_open`, "Indicates if the open was from an email
  client that use proxies" [SPEC `MemberActivity2`]; email-activity does not carry that flag, so it is
  read only for a campaign whose report counts proxy opens (`opens_total` > `proxy_excluded_opens`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from segmail.connector import fields
from segmail.connector.fields import FieldError
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.mailchimp_parse import iso, optional_time
from segmail.connector.records import Event

REPORT_FIELDS: Final = [
    *(
        f"reports.{f}"
        for f in (
            "id",
            "list_id",
            "campaign_title",
            "emails_sent",
            "send_time",
            "opens.opens_total",
            "opens.proxy_excluded_opens",
            "opens.unique_opens",
            "clicks.clicks_total",
            "clicks.unique_subscriber_clicks",
            "unsubscribed",
            "bounces",
        )
    ),
    "total_items",
]
TARGET_FIELDS: Final = ["id", "recipients.list_id", "recipients.segment_opts", "settings.title", "send_time"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignReport:
    """One sent campaign's figures as Mailchimp counts them."""

    id: str
    list_id: str
    title: str
    send_time: datetime | None
    emails_sent: int
    opens_total: int
    proxy_opens: int  # opens_total - proxy_excluded_opens
    unique_opens: int
    clicks_total: int
    unique_clicks: int  # recipients who clicked (unique_subscriber_clicks)
    unsubscribed: int
    bounces: int  # hard + soft + syntax errors

    @property
    def activity(self) -> tuple[int, int, int]:
        """The totals email-activity reports on: a change in any is new activity to read."""
        return self.opens_total, self.clicks_total, self.bounces


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignTarget:
    """Who a campaign was sent to: its saved segment, or the static segments its conditions name."""

    id: str
    list_id: str
    title: str
    saved_segment_id: int | None
    # set only when the conditions are exactly one `StaticSegment` / `static_is` (one static segment)
    condition_segment_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientActivity:
    """What a recipient did besides opens and clicks: a bounce, an unsubscribe, or a machine open."""

    email_key: str
    kind: str  # bounce | unsubscribe | proxy_open
    at: datetime
    detail: str | None = None  # a bounce's type: hard, soft


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_report(data: dict[str, Any]) -> CampaignReport:
    opens = data.get("opens") or {}
    clicks = data.get("clicks") or {}
    bounces = data.get("bounces") or {}
    total = _int(opens.get("opens_total"))
    return CampaignReport(
        id=str(data["id"]),
        list_id=str(data.get("list_id") or ""),
        title=str(data.get("campaign_title") or ""),
        send_time=optional_time(data.get("send_time")),
        emails_sent=_int(data.get("emails_sent")),
        opens_total=total,
        # a missing proxy figure (an old campaign) means no open is known to be a proxy's
        proxy_opens=max(0, total - _int(opens.get("proxy_excluded_opens", total))),
        unique_opens=_int(opens.get("unique_opens")),
        clicks_total=_int(clicks.get("clicks_total")),
        unique_clicks=_int(clicks.get("unique_subscriber_clicks")),
        unsubscribed=_int(data.get("unsubscribed")),
        bounces=sum(_int(bounces.get(k)) for k in ("hard_bounces", "soft_bounces", "syntax_errors")),
    )


def _segment_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None  # Mailchimp may answer 0 for "no saved segment"
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    return None


def parse_target(data: dict[str, Any]) -> CampaignTarget:
    recipients = data.get("recipients") or {}
    opts = recipients.get("segment_opts") or {}
    conditions = opts.get("conditions") or []
    condition_id = None
    if len(conditions) == 1 and isinstance(conditions[0], dict):
        c = conditions[0]
        if c.get("condition_type") == "StaticSegment" and c.get("op") == "static_is":
            condition_id = _segment_id(c.get("value"))
    return CampaignTarget(
        id=str(data["id"]),
        list_id=str(recipients.get("list_id") or ""),
        title=str((data.get("settings") or {}).get("title") or ""),
        saved_segment_id=_segment_id(opts.get("saved_segment_id")),
        condition_segment_id=condition_id,
    )


def _key(entry: dict[str, Any]) -> str | None:
    try:
        return fields.email_key(str(entry["email_address"]))
    except (FieldError, KeyError):
        return None


def _time(value: Any) -> datetime | None:
    try:
        return fields.timestamp(str(value), "timestamp", naive_is_utc=True)
    except FieldError:
        return None


def parse_email_activity(
    campaign_id: str, emails: Sequence[dict[str, Any]]
) -> tuple[list[Event], list[RecipientActivity]]:
    """Opens and clicks (engagement events, as the features read them) and bounces of one page."""
    events: list[Event] = []
    other: list[RecipientActivity] = []
    for entry in emails:
        key = _key(entry)
        if key is None:
            continue
        for act in entry.get("activity") or []:
            action, at = act.get("action"), _time(act.get("timestamp"))
            if at is None:
                continue
            if action in ("open", "click"):
                events.append(Event(email_key=key, type=action, at=at, campaign_id=campaign_id))
            elif action == "bounce":
                kind = act.get("type")
                detail = kind if kind in ("hard", "soft") else None
                other.append(RecipientActivity(email_key=key, kind="bounce", at=at, detail=detail))
    return events, other


def parse_unsubscribes(entries: Sequence[dict[str, Any]]) -> list[RecipientActivity]:
    out = []
    for entry in entries:
        key, at = _key(entry), _time(entry.get("timestamp"))
        if key is not None and at is not None:
            out.append(RecipientActivity(email_key=key, kind="unsubscribe", at=at))
    return out


def parse_proxy_opens(members: Sequence[dict[str, Any]]) -> list[RecipientActivity]:
    out = []
    for member in members:
        key = _key(member)
        if key is None:
            continue
        for o in member.get("opens") or []:
            at = _time(o.get("timestamp"))
            if o.get("is_proxy_open") is True and at is not None:
                out.append(RecipientActivity(email_key=key, kind="proxy_open", at=at))
    return out


class MailchimpReports:
    """The report reads, on an existing MailchimpApi (its client, retry policy, pool and stats)."""

    def __init__(self, api: MailchimpApi) -> None:
        self.api = api
        self._reports = api.client.reports

    def reports(self, *, since_send_time: datetime | None) -> Iterator[CampaignReport]:
        """Every sent campaign's report (all audiences), those sent after `since_send_time` when given."""
        params: dict[str, Any] = {"fields": REPORT_FIELDS}
        if since_send_time is not None:
            params["since_send_time"] = iso(since_send_time)
        fetch = self._reports.get_all_campaign_reports
        for page in self.api.pages("list reports", fetch, items="reports", **params):
            yield from (parse_report(r) for r in page)

    def target(self, campaign_id: str) -> CampaignTarget:
        data = self.api.call("get campaign", self.api.client.campaigns.get, campaign_id, fields=TARGET_FIELDS)
        return parse_target(data or {"id": campaign_id})

    def targets(self, list_id: str, *, since_send_time: datetime) -> Iterator[CampaignTarget]:
        """The targets of the audience's campaigns sent after `since_send_time`, oldest first."""
        params: dict[str, Any] = {
            "status": "sent",
            "list_id": list_id,
            "since_send_time": iso(since_send_time),
            "sort_field": "send_time",
            "sort_dir": "ASC",
            "fields": [f"campaigns.{f}" for f in TARGET_FIELDS] + ["total_items"],
        }
        fetch = self.api.client.campaigns.list
        for page in self.api.pages("list campaigns", fetch, items="campaigns", **params):
            yield from (parse_target(c) for c in page)

    def email_activity(
        self, campaign_id: str, *, since: datetime | None
    ) -> Iterator[tuple[list[Event], list[RecipientActivity]]]:
        params: dict[str, Any] = {} if since is None else {"since": iso(since)}
        fetch = self._reports.get_email_activity_for_campaign
        for page in self.api.pages("email activity", fetch, campaign_id, items="emails", **params):
            yield parse_email_activity(campaign_id, page)

    def unsubscribes(self, campaign_id: str) -> Iterator[list[RecipientActivity]]:
        fields_ = ["unsubscribes.email_address", "unsubscribes.timestamp", "total_items"]
        fetch = self._reports.get_unsubscribed_list_for_campaign
        for page in self.api.pages("unsubscribes", fetch, campaign_id, items="unsubscribes", fields=fields_):
            yield parse_unsubscribes(page)

    def proxy_opens(self, campaign_id: str, *, since: datetime | None) -> Iterator[list[RecipientActivity]]:
        params: dict[str, Any] = {"fields": ["members.email_address", "members.opens", "total_items"]}
        if since is not None:
            params["since"] = iso(since)
        fetch = self._reports.get_campaign_open_details
        for page in self.api.pages("open details", fetch, campaign_id, items="members", **params):
            yield parse_proxy_opens(page)
