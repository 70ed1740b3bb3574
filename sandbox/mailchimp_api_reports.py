"""The sandbox endpoints for campaign reports: figures, unsubscribes and open details (email activity is
served with the campaigns, in mailchimp_api_campaigns.py).

Figures are counted from the campaign's simulated activity exactly as the report describes them
[SPEC `CampaignReport`, `Opens`, `Clicks`, `Bounces`]: `opens_total` every open, `proxy_excluded_*`
without the opens flagged as a proxy's, `unique_subscriber_clicks` the recipients who clicked.
"""

from __future__ import annotations

import operator
from typing import Any, Final

from segmail.sandbox.mailchimp_json import link, stamp
from segmail.sandbox.mailchimp_records import Campaign, not_found
from segmail.sandbox.mailchimp_request import (
    EPOCH,
    ApiRequest,
    ApiResponse,
    Handler,
    collection,
    ok,
    paginate,
    parse_time,
    query_enum,
    query_one,
)
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = ["REPORT_ROUTES"]

_SENT: Final = ("sending", "sent")
_TIME_FILTERS: Final = (("since_send_time", operator.gt), ("before_send_time", operator.lt))


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def report_json(state: SandboxState, c: Campaign, base: str) -> dict[str, Any]:
    lst = state.lists[c.list_id]
    everything = [a for acts in c.activity.values() for a in acts]
    opens = [a for a in everything if a.action == "open"]
    clicks = [a for a in everything if a.action == "click"]
    openers = [acts for acts in c.activity.values() if any(a.action == "open" for a in acts)]
    human = [acts for acts in openers if any(a.action == "open" and not a.proxy for a in acts)]
    clickers = sum(1 for acts in c.activity.values() if any(a.action == "click" for a in acts))
    bounced = [acts[0] for acts in c.activity.values() if acts and acts[0].action == "bounce"]
    sent = len(c.recipients)
    opens_doc: dict[str, Any] = {
        "opens_total": len(opens),
        "proxy_excluded_opens": sum(1 for a in opens if not a.proxy),
        "unique_opens": len(openers),
        "proxy_excluded_unique_opens": len(human),
        "open_rate": _rate(len(openers), sent),
        "proxy_excluded_open_rate": _rate(len(human), sent),
    }
    if opens:
        opens_doc["last_open"] = stamp(max(a.timestamp for a in opens))
    clicks_doc: dict[str, Any] = {
        "clicks_total": len(clicks),
        "unique_clicks": clickers,  # one link per sandbox mail: unique per link is unique per recipient
        "unique_subscriber_clicks": clickers,
        "click_rate": _rate(clickers, sent),
    }
    if clicks:
        clicks_doc["last_click"] = stamp(max(a.timestamp for a in clicks))
    doc: dict[str, Any] = {
        "id": c.id,
        "campaign_title": str(c.settings.get("title") or ""),
        "type": c.type,
        "list_id": lst.id,
        "list_is_active": True,
        "list_name": lst.name,
        "subject_line": str(c.settings.get("subject_line") or ""),
        "preview_text": str(c.settings.get("preview_text") or ""),
        "emails_sent": sent,
        "abuse_reports": 0,
        "unsubscribed": len(c.unsubscribes),
        "bounces": {"hard_bounces": len(bounced), "soft_bounces": 0, "syntax_errors": 0},
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": opens_doc,
        "clicks": clicks_doc,
        "_links": [link(base, "self", f"/reports/{c.id}", "Reports/Response.json")],
    }
    if c.send_time is not None:
        doc["send_time"] = stamp(c.send_time)
    return doc


def _sent(state: SandboxState, campaign_id: str) -> Campaign:
    campaign = state.get_campaign(campaign_id)
    if campaign.status not in _SENT:
        raise not_found()  # reports exist only for campaigns that went out
    return campaign


def _list_reports(state: SandboxState, req: ApiRequest) -> ApiResponse:
    kind = query_enum(req, "type", ("regular", "plaintext", "absplit", "rss", "variate"))
    bounds = [(op, parse_time(raw, param)) for param, op in _TIME_FILTERS if (raw := query_one(req, param))]
    found = [
        c
        for c in state.campaigns.values()
        if c.status in _SENT
        and c.send_time is not None
        and (kind is None or c.type == kind)
        and all(op(c.send_time, bound) for op, bound in bounds)
    ]
    found.sort(key=lambda c: c.send_time or EPOCH)
    page = [report_json(state, c, req.base_url) for c in paginate(req, found)]
    return collection(req, "reports", page, len(found))


def _get_report(state: SandboxState, req: ApiRequest) -> ApiResponse:
    return ok(req, report_json(state, _sent(state, req.params["campaign_id"]), req.base_url))


def _member_doc(state: SandboxState, c: Campaign, member_id: str) -> dict[str, Any]:
    member = state.lists[c.list_id].members[member_id]
    return {
        "email_id": member_id,
        "email_address": member.email,
        "list_id": c.list_id,
        "list_is_active": True,
        "campaign_id": c.id,
        "vip": member.vip,
        "_links": [],
    }


def _unsubscribed(state: SandboxState, req: ApiRequest) -> ApiResponse:
    c = _sent(state, req.params["campaign_id"])
    items = list(c.unsubscribes.items())
    page = [
        _member_doc(state, c, member_id) | {"timestamp": stamp(at), "reason": "N/A (Unsubscribed by admin)"}
        for member_id, at in paginate(req, items)
    ]
    return collection(req, "unsubscribes", page, len(items), campaign_id=c.id)


def _open_details(state: SandboxState, req: ApiRequest) -> ApiResponse:
    c = _sent(state, req.params["campaign_id"])
    since = parse_time(raw, "since") if (raw := query_one(req, "since")) else None
    openers = []
    for member_id in c.recipients:
        opens = [a for a in c.activity.get(member_id, ()) if a.action == "open"]
        if since is not None:
            opens = [a for a in opens if a.timestamp > since]
        if opens:
            openers.append((member_id, opens))
    members = state.lists[c.list_id].members
    page = [
        _member_doc(state, c, member_id)
        | {
            "contact_status": members[member_id].status,
            "opens_count": len(opens),
            "proxy_excluded_opens_count": sum(1 for a in opens if not a.proxy),
            "opens": [{"timestamp": stamp(a.timestamp), "is_proxy_open": a.proxy} for a in opens],
        }
        for member_id, opens in paginate(req, openers)
    ]
    every = [a for _, opens in openers for a in opens]
    return collection(
        req, "members", page, len(openers), campaign_id=c.id, total_opens=len(every),
        total_proxy_excluded_opens=sum(1 for a in every if not a.proxy),
    )  # fmt: skip


REPORT_ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/reports", _list_reports),
    ("GET", "/reports/{campaign_id}", _get_report),
    ("GET", "/reports/{campaign_id}/unsubscribed", _unsubscribed),
    ("GET", "/reports/{campaign_id}/open-details", _open_details),
)
