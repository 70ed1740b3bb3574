"""How the sandbox's state looks on the wire: Mailchimp's JSON shapes, timestamps and partial responses."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from segmail.sandbox.mailchimp_records import Activity, Campaign, MailingList, Member, Segment
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = [
    "activity_json",
    "apply_fields",
    "campaign_json",
    "list_json",
    "member_json",
    "segment_json",
    "stamp",
]

_SCHEMA: Final = "https://us1.api.mailchimp.com/schema/3.0"
_MAX_TAGS_SHOWN: Final = 50  # "Returns up to 50 tags applied to this member"


def stamp(dt: datetime) -> str:
    """Mailchimp's timestamp format: `2026-01-31T10:00:00+00:00`."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def link(base: str, rel: str, path: str, target: str) -> dict[str, str]:
    return {"rel": rel, "href": base + path, "method": "GET", "targetSchema": f"{_SCHEMA}/{target}"}


@cache
def _offsets(tz: str) -> tuple[int, int]:
    """Whole hours from GMT in January and July, the spec's integer gmtoff/dstoff."""
    try:
        zone = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 0, 0

    def hours(month: int) -> int:
        offset = datetime(2025, month, 1, 12, tzinfo=zone).utcoffset()
        return 0 if offset is None else int(offset.total_seconds() // 3600)

    winter, summer = hours(1), hours(7)
    return min(winter, summer), max(winter, summer)


def member_json(state: SandboxState, lst: MailingList, m: Member, base: str) -> dict[str, Any]:
    received = m.campaigns_received
    open_rate = len(m.opened) / received if received else 0.0
    click_rate = len(m.clicked) / received if received else 0.0
    gmtoff, dstoff = _offsets(m.timezone) if m.timezone else (0, 0)
    tags = sorted(m.tags.items(), key=lambda kv: kv[1])
    path = f"/lists/{lst.id}/members/{m.id}"
    doc: dict[str, Any] = {
        "id": m.id,
        "email_address": m.email,
        "unique_email_id": state.unique_email_id(m),
        "contact_id": state.contact_id(m),
        "full_name": f"{m.merge_fields.get('FNAME', '')} {m.merge_fields.get('LNAME', '')}".strip(),
        "web_id": state.web_id("member", lst.id, m.id),
        "email_type": "html",
        "status": m.status,
        "consents_to_one_to_one_messaging": True,
        "merge_fields": dict(m.merge_fields),
        "interests": {},
        "stats": {"avg_open_rate": round(open_rate, 4), "avg_click_rate": round(click_rate, 4)},
        "ip_signup": "",
        "ip_opt": "",
        "member_rating": min(5, 2 + round(3 * open_rate)),
        "last_changed": stamp(m.last_changed),
        "language": m.language,
        "vip": m.vip,
        "email_client": "",
        "location": {
            "latitude": 0,
            "longitude": 0,
            "gmtoff": gmtoff,
            "dstoff": dstoff,
            "country_code": m.country_code,
            "timezone": m.timezone,
            "region": "",
        },
        "source": m.source,
        "tags_count": len(tags),
        "tags": [{"id": sid, "name": lst.segments[sid].name} for sid, _ in tags[:_MAX_TAGS_SHOWN]],
        "list_id": lst.id,
        "_links": [link(base, "self", path, "Lists/Members/Response.json")],
    }
    # Real Mailchimp sends "" for an unknown opt-in time, which the spec's `format: date-time` rejects;
    # the sandbox leaves the key out instead.
    if m.timestamp_opt is not None:
        doc["timestamp_opt"] = stamp(m.timestamp_opt)
    return doc


def segment_json(lst: MailingList, s: Segment, base: str) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "member_count": sum(1 for h in s.members if lst.members[h].status in ("subscribed", "pending")),
        "type": s.type,
        "created_at": stamp(s.created_at),
        "updated_at": stamp(s.updated_at),
        "options": {"match": "any", "conditions": []},
        "list_id": lst.id,
        "_links": [link(base, "self", f"/lists/{lst.id}/segments/{s.id}", "Lists/Segments/Response.json")],
    }


def list_json(lst: MailingList, base: str) -> dict[str, Any]:
    counts = {status: 0 for status in ("subscribed", "unsubscribed", "cleaned")}
    for m in lst.members.values():
        if m.status in counts:
            counts[m.status] += 1
    return {
        "id": lst.id,
        "web_id": lst.web_id,
        "name": lst.name,
        "date_created": stamp(lst.date_created),
        "list_rating": 0,
        "email_type_option": False,
        "visibility": "prv",
        "double_optin": False,
        "marketing_permissions": False,
        "stats": {
            "member_count": counts["subscribed"],
            "unsubscribe_count": counts["unsubscribed"],
            "cleaned_count": counts["cleaned"],
            "total_contacts": len(lst.members),
        },
        "_links": [link(base, "self", f"/lists/{lst.id}", "Lists/Response.json")],
    }


def campaign_json(state: SandboxState, c: Campaign, base: str) -> dict[str, Any]:
    lst = state.lists[c.list_id]
    sent = c.status in ("sending", "sent")  # the recipients are frozen once delivery has begun
    recipients: dict[str, Any] = {
        "list_id": lst.id,
        "list_is_active": True,
        "list_name": lst.name,
        "segment_text": "",
        "recipient_count": len(c.recipients) if sent else len(state.audience_of(c)),
    }
    if c.conditions is not None:
        recipients["segment_opts"] = {"match": "all", "conditions": c.conditions}
    elif c.segment_id is not None:
        recipients["segment_opts"] = {"saved_segment_id": c.segment_id, "match": "all"}
    doc: dict[str, Any] = {
        "id": c.id,
        "web_id": c.web_id,
        "type": c.type,
        "create_time": stamp(c.create_time),
        "archive_url": f"https://mailchi.mp/example/{c.id}",
        "long_archive_url": f"https://us1.campaign-archive.com/?id={c.id}",
        "status": c.status,
        "emails_sent": len(c.recipients) if sent else 0,
        "content_type": "html" if c.html is not None else "template",
        "needs_block_refresh": False,
        "resendable": False,
        "recipients": recipients,
        "settings": {"title": "", "subject_line": "", "from_name": "", "reply_to": ""} | c.settings,
        "tracking": {"opens": True, "html_clicks": True, "text_clicks": False},
        "delivery_status": {"enabled": False},
        "_links": [link(base, "self", f"/campaigns/{c.id}", "Campaigns/Response.json")],
    }
    if (
        c.send_time is not None
    ):  # "" until scheduled or sent in real Mailchimp; left out here (see member_json)
        doc["send_time"] = stamp(c.send_time)
    if c.status == "sent":
        doc["report_summary"] = _report_summary(state, c)
    return doc


def _report_summary(state: SandboxState, c: Campaign) -> dict[str, Any]:
    opens = sum(1 for acts in c.activity.values() for a in acts if a.action == "open")
    clicks = sum(1 for acts in c.activity.values() for a in acts if a.action == "click")
    unique_opens = sum(1 for acts in c.activity.values() if any(a.action == "open" for a in acts))
    clickers = sum(1 for acts in c.activity.values() if any(a.action == "click" for a in acts))
    n = len(c.recipients)
    return {
        "opens": opens,
        "unique_opens": unique_opens,
        "open_rate": unique_opens / n if n else 0.0,
        "clicks": clicks,
        "subscriber_clicks": clickers,
        "click_rate": clickers / n if n else 0.0,
    }


def activity_json(a: Activity) -> dict[str, Any]:
    doc: dict[str, Any] = {"action": a.action, "timestamp": stamp(a.timestamp), "ip": a.ip}
    if a.url is not None:
        doc["url"] = a.url
    if a.action == "bounce":
        doc["type"] = "hard"
    return doc


# ---- partial responses ----------------------------------------------------------------------------

_Trie = dict[str, "_Trie | None"]  # None marks a leaf: the whole value at that path


def _trie(paths: list[str]) -> _Trie:
    root: _Trie = {}
    for path in paths:
        node = root
        parts = [p for p in path.strip().split(".") if p]
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = None
                break
            child = node.get(part, {})
            if child is None:  # a shorter path already keeps the whole value
                break
            node[part] = child
            node = child
    return root


def _pick(value: Any, node: _Trie) -> Any:
    if isinstance(value, list):
        return [_pick(v, node) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k in node:
            sub = node[k]
            out[k] = v if sub is None else _pick(v, sub)
    return out


def _drop(value: Any, node: _Trie) -> Any:
    if isinstance(value, list):
        return [_drop(v, node) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k not in node:
            out[k] = v
        elif (sub := node[k]) is not None:
            out[k] = _drop(v, sub)
    return out


def apply_fields(doc: dict[str, Any], fields: list[str], exclude: list[str]) -> dict[str, Any]:
    """Mailchimp's partial responses: comma-separated dotted paths, applied through lists."""
    out: dict[str, Any] = _pick(doc, _trie(fields)) if fields else doc
    return _drop(out, _trie(exclude)) if exclude else out
