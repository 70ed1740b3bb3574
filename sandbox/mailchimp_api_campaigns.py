"""The sandbox endpoints for campaigns (content and send actions), their reports and e-commerce orders."""

from __future__ import annotations

import operator
import re
from typing import Any, Final

from segmail.sandbox.mailchimp_json import (
    activity_json,
    campaign_json,
    link,
)
from segmail.sandbox.mailchimp_records import (
    invalid,
    not_found,
    require_unsent,
)
from segmail.sandbox.mailchimp_request import (
    EPOCH,
    NO_CONTENT,
    ApiRequest,
    ApiResponse,
    Handler,
    body_json,
    body_object,
    body_strings,
    collection,
    ok,
    paginate,
    parse_time,
    query_enum,
    query_one,
)
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = ["CAMPAIGN_ROUTES"]

# ---- campaigns and reports ------------------------------------------------------------------------

_CAMPAIGN_TYPES: Final = ("regular", "plaintext")
_CAMPAIGN_STATUSES: Final = ("save", "paused", "schedule", "sending", "sent")


def _create_campaign(state: SandboxState, req: ApiRequest) -> ApiResponse:
    body = body_object(req)
    if body.get("type") not in _CAMPAIGN_TYPES:
        raise invalid("type", f"type must be one of {', '.join(_CAMPAIGN_TYPES)} in the sandbox.")
    recipients = body.get("recipients")
    if not isinstance(recipients, dict) or not isinstance(recipients.get("list_id"), str):
        raise invalid("recipients.list_id", "recipients.list_id is required.")
    opts = recipients.get("segment_opts") or {}
    segment_id = opts.get("saved_segment_id") if isinstance(opts, dict) else None
    if segment_id is not None and not isinstance(segment_id, int):
        raise invalid("recipients.segment_opts.saved_segment_id", "saved_segment_id must be an integer.")
    conditions = opts.get("conditions") if isinstance(opts, dict) else None
    if conditions is not None:
        segment_id = _static_condition(conditions, segment_id)
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise invalid("settings", "settings must be an object.")
    campaign = state.create_campaign(type_=body["type"], list_id=recipients["list_id"], segment_id=segment_id,
                                     settings=dict(settings), now=req.now)  # fmt: skip
    campaign.conditions = conditions
    return ok(req, campaign_json(state, campaign, req.base_url))


def _static_condition(conditions: Any, saved: int | None) -> int:
    """The one condition the sandbox understands: members of one static segment (a tag), as a marketer
    targets a tag in Mailchimp's campaign builder."""
    ok_ = saved is None and isinstance(conditions, list) and len(conditions) == 1
    c = conditions[0] if ok_ else {}
    if not (isinstance(c, dict) and c.get("condition_type") == "StaticSegment" and c.get("op") == "static_is"
            and isinstance(c.get("value"), int)):  # fmt: skip
        raise invalid(
            "recipients.segment_opts.conditions",
            "The sandbox takes one StaticSegment condition with op static_is and no saved_segment_id.",
        )
    return int(c["value"])


_CAMPAIGN_TIME_FILTERS: Final = (
    ("since_send_time", "send_time", operator.gt),
    ("before_send_time", "send_time", operator.lt),
    ("since_create_time", "create_time", operator.gt),
    ("before_create_time", "create_time", operator.lt),
)


def _list_campaigns(state: SandboxState, req: ApiRequest) -> ApiResponse:
    status = query_enum(req, "status", _CAMPAIGN_STATUSES)
    kind = query_enum(req, "type", (*_CAMPAIGN_TYPES, "absplit", "rss", "variate"))
    list_id = query_one(req, "list_id")
    bounds = [(attr, op, parse_time(raw, param)) for param, attr, op in _CAMPAIGN_TIME_FILTERS
              if (raw := query_one(req, param))]  # fmt: skip
    campaigns = [
        c
        for c in state.campaigns.values()
        if (status is None or c.status == status)
        and (kind is None or c.type == kind)
        and (list_id is None or c.list_id == list_id)
        and all((value := getattr(c, attr)) is not None and op(value, bound) for attr, op, bound in bounds)
    ]
    if (field := query_enum(req, "sort_field", ("create_time", "send_time"))) is not None:
        descending = query_enum(req, "sort_dir", ("ASC", "DESC")) == "DESC"
        # sorted() is stable, so campaigns created in the same second keep their creation order
        campaigns.sort(key=lambda c: getattr(c, field) or EPOCH, reverse=descending)
    page = [campaign_json(state, c, req.base_url) for c in paginate(req, campaigns)]
    return collection(req, "campaigns", page, len(campaigns))


def _get_campaign(state: SandboxState, req: ApiRequest) -> ApiResponse:
    return ok(req, campaign_json(state, state.get_campaign(req.params["campaign_id"]), req.base_url))


def _delete_campaign(state: SandboxState, req: ApiRequest) -> ApiResponse:
    state.delete_campaign(state.get_campaign(req.params["campaign_id"]))
    return NO_CONTENT


def _content_json(req: ApiRequest, html: str | None, plain_text: str | None) -> dict[str, Any]:
    path = f"/campaigns/{req.params['campaign_id']}/content"
    return {
        "html": html or "",
        "plain_text": plain_text or "",
        "_links": [link(req.base_url, "self", path, "")],
    }


def _get_content(state: SandboxState, req: ApiRequest) -> ApiResponse:
    campaign = state.get_campaign(req.params["campaign_id"])
    return ok(req, _content_json(req, campaign.html, campaign.plain_text))


def _set_content(state: SandboxState, req: ApiRequest) -> ApiResponse:
    campaign = state.get_campaign(req.params["campaign_id"])
    body = body_object(req)
    html, plain = body.get("html"), body.get("plain_text")
    if not isinstance(html, str) and not isinstance(plain, str):
        raise invalid("html", "The sandbox takes content as html and/or plain_text.")
    require_unsent(campaign)
    campaign.html = html if isinstance(html, str) else None
    # "If left unspecified, we'll generate this automatically"
    campaign.plain_text = plain if isinstance(plain, str) else re.sub(r"<[^>]+>", "", html or "").strip()
    return ok(req, _content_json(req, campaign.html, campaign.plain_text))


def _schedule(state: SandboxState, req: ApiRequest) -> ApiResponse:
    campaign = state.get_campaign(req.params["campaign_id"])
    body = body_object(req)
    if "schedule_time" not in body:
        raise invalid("schedule_time", "schedule_time is required.")
    if body.get("timewarp") and body.get("batch_delivery"):
        raise invalid("timewarp", "Timewarp cannot be used together with batch_delivery.")
    state.schedule(campaign, parse_time(body["schedule_time"], "schedule_time"), req.now)
    return NO_CONTENT


def _send(state: SandboxState, req: ApiRequest) -> ApiResponse:
    campaign = state.get_campaign(req.params["campaign_id"])
    body_json(req)  # the official client sends the literal `null`: accepted, like any well-formed JSON
    state.send(campaign, req.now)
    return NO_CONTENT


def _send_test(state: SandboxState, req: ApiRequest) -> ApiResponse:
    campaign = state.get_campaign(req.params["campaign_id"])
    body = body_object(req)
    emails = body_strings(body, "test_emails")
    if not emails:
        raise invalid("test_emails", "test_emails is required: at least one address.")
    for i, email in enumerate(emails):
        if "@" not in email:
            raise invalid(f"test_emails.item:{i}", "This value should be a valid email address.")
    if body.get("send_type") not in ("html", "plaintext"):
        raise invalid("send_type", "send_type must be 'html' or 'plaintext'.")
    state.send_test(campaign, emails, body["send_type"], req.now)
    return NO_CONTENT


def _email_activity(state: SandboxState, req: ApiRequest) -> ApiResponse:
    campaign = state.get_campaign(req.params["campaign_id"])
    since = parse_time(raw, "since") if (raw := query_one(req, "since")) else None
    lst = state.lists[campaign.list_id]
    emails = []
    for member_id in campaign.recipients:
        acts = [a for a in campaign.activity.get(member_id, ()) if since is None or a.timestamp > since]
        if since is not None and not acts:
            continue  # `since` restricts the report to recipients with activity after it
        emails.append((member_id, acts))
    page = [
        {"campaign_id": campaign.id, "list_id": lst.id, "list_is_active": True, "email_id": member_id,
         "email_address": lst.members[member_id].email, "activity": [activity_json(a) for a in acts],
         "_links": []}
        for member_id, acts in paginate(req, emails)
    ]  # fmt: skip
    return collection(req, "emails", page, len(emails), campaign_id=campaign.id)


def _store_orders(state: SandboxState, req: ApiRequest) -> ApiResponse:
    store = state.stores.get(req.params["store_id"])
    if store is None:
        raise not_found()
    orders = list(store.values())
    return collection(
        req, "orders", list(paginate(req, orders)), len(orders), store_id=req.params["store_id"]
    )


CAMPAIGN_ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/campaigns", _list_campaigns),
    ("POST", "/campaigns", _create_campaign),
    ("GET", "/campaigns/{campaign_id}", _get_campaign),
    ("DELETE", "/campaigns/{campaign_id}", _delete_campaign),
    ("GET", "/campaigns/{campaign_id}/content", _get_content),
    ("PUT", "/campaigns/{campaign_id}/content", _set_content),
    ("POST", "/campaigns/{campaign_id}/actions/schedule", _schedule),
    ("POST", "/campaigns/{campaign_id}/actions/send", _send),
    ("POST", "/campaigns/{campaign_id}/actions/test", _send_test),
    ("GET", "/reports/{campaign_id}/email-activity", _email_activity),
    ("GET", "/ecommerce/stores/{store_id}/orders", _store_orders),
)
