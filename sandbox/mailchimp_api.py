"""The sandbox's endpoints, declared as a table of (method, path template) -> handler, without any HTTP."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

from segmail.sandbox.mailchimp_json import (
    activity_json,
    campaign_json,
    link,
    list_json,
    member_json,
    segment_json,
    stamp,
)
from segmail.sandbox.mailchimp_request import (
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
    query_bool,
    query_enum,
    query_one,
)
from segmail.sandbox.mailchimp_state import (
    MEMBER_STATUSES,
    MailingList,
    Member,
    SandboxState,
    Segment,
    StateError,
    invalid,
    not_found,
)

__all__ = ["MAX_SEGMENT_BATCH", "ROUTES", "dispatch"]

MAX_SEGMENT_BATCH: Final = 500  # "A maximum of 500 members can be sent" (members_to_add / members_to_remove)

# ---- lists and members ----------------------------------------------------------------------------


def _ping(state: SandboxState, req: ApiRequest) -> ApiResponse:
    return ok(req, {"health_status": "Everything's Chimpy!"})


def _get_list(state: SandboxState, req: ApiRequest) -> ApiResponse:
    return ok(req, list_json(state.get_list(req.params["list_id"]), req.base_url))


_TIME_FILTERS: Final = (
    ("since_last_changed", "last_changed", operator.gt),
    ("before_last_changed", "last_changed", operator.lt),
    ("since_timestamp_opt", "timestamp_opt", operator.gt),
    ("before_timestamp_opt", "timestamp_opt", operator.lt),
)
_SORT_FIELDS: Final = ("timestamp_opt", "timestamp_signup", "last_changed")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _member_filters(req: ApiRequest) -> list[Callable[[Member], bool]]:
    tests: list[Callable[[Member], bool]] = []
    if (status := query_enum(req, "status", MEMBER_STATUSES)) is not None:
        tests.append(lambda m: m.status == status)
    for param, attr, op in _TIME_FILTERS:
        if (raw := query_one(req, param)) is not None:
            tests.append(_time_test(attr, op, parse_time(raw, param)))
    if query_bool(req, "vip_only"):
        tests.append(lambda m: m.vip)
    return tests


def _time_test(
    attr: str, op: Callable[[datetime, datetime], bool], bound: datetime
) -> Callable[[Member], bool]:
    def test(member: Member) -> bool:
        value: datetime | None = getattr(member, attr)
        return value is not None and op(value, bound)

    return test


def _list_members(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst = state.get_list(req.params["list_id"])
    tests = _member_filters(req)
    members = [m for m in lst.members.values() if all(t(m) for t in tests)]
    if (field := query_enum(req, "sort_field", _SORT_FIELDS)) is not None:
        attr = "timestamp_opt" if field == "timestamp_signup" else field  # no separate sign-up time is kept
        descending = query_enum(req, "sort_dir", ("ASC", "DESC")) == "DESC"
        members.sort(key=lambda m: (getattr(m, attr) or _EPOCH, m.seq), reverse=descending)
    page = [member_json(state, lst, m, req.base_url) for m in paginate(req, members)]
    return collection(req, "members", page, len(members), list_id=lst.id)


def _member(state: SandboxState, req: ApiRequest) -> tuple[MailingList, Member]:
    lst = state.get_list(req.params["list_id"])
    member = lst.member(req.params["subscriber_hash"])
    if member is None:
        raise not_found()
    return lst, member


def _get_member(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst, member = _member(state, req)
    return ok(req, member_json(state, lst, member, req.base_url))


def _get_member_tags(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst, member = _member(state, req)
    tags = [{"id": sid, "name": lst.segments[sid].name, "date_added": stamp(added)}
            for sid, added in sorted(member.tags.items(), key=lambda kv: kv[1])]  # fmt: skip
    return collection(req, "tags", list(paginate(req, tags)), len(tags))


def _post_member_tags(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst, member = _member(state, req)
    body = body_object(req)
    tags = body.get("tags")
    if not isinstance(tags, list):
        raise invalid("tags", "tags is required and must be an array.")
    changes: list[tuple[str, bool]] = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or not tag["name"].strip():
            raise invalid(f"tags.item:{i}.name", "Each tag needs a non-empty name.")
        if tag.get("status") not in ("active", "inactive"):
            raise invalid(f"tags.item:{i}.status", "status must be 'active' or 'inactive'.")
        changes.append((tag["name"], tag["status"] == "active"))
    state.set_tags(lst, member, changes, req.now)
    return NO_CONTENT


# ---- segments -------------------------------------------------------------------------------------


def _segment(state: SandboxState, req: ApiRequest) -> tuple[MailingList, Segment]:
    lst = state.get_list(req.params["list_id"])
    raw = req.params["segment_id"]
    segment = lst.segments.get(int(raw)) if raw.isdigit() else None
    if segment is None:
        raise not_found()
    return lst, segment


def _list_segments(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst = state.get_list(req.params["list_id"])
    kind = query_enum(req, "type", ("saved", "static", "fuzzy"))
    segments = [s for s in lst.segments.values() if kind is None or s.type == kind]
    page = [segment_json(lst, s, req.base_url) for s in paginate(req, segments)]
    return collection(req, "segments", page, len(segments), list_id=lst.id)


def _create_segment(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst = state.get_list(req.params["list_id"])
    body = body_object(req)
    name = body.get("name")
    if not isinstance(name, str):
        raise invalid("name", "name is required.")
    if "options" in body:
        raise invalid("options", "The sandbox supports static segments (tags) only; send static_segment.")
    segment = state.create_segment(lst, name, body_strings(body, "static_segment"), req.now)
    return ok(req, segment_json(lst, segment, req.base_url))


def _get_segment(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst, segment = _segment(state, req)
    return ok(req, segment_json(lst, segment, req.base_url))


def _batch_segment(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst, segment = _segment(state, req)
    body = body_object(req)
    add, remove = body_strings(body, "members_to_add"), body_strings(body, "members_to_remove")
    for name, emails in (("members_to_add", add), ("members_to_remove", remove)):
        if len(emails) > MAX_SEGMENT_BATCH:
            message = f"Maximum allowed member items exceeded, please provide at most {MAX_SEGMENT_BATCH} items in {name}"
            raise StateError(400, "Invalid Resource", message, [{"field": name, "message": message}])
    added, removed, errors = state.batch_segment(lst, segment, add, remove, req.now)
    doc = {
        "members_added": [member_json(state, lst, m, req.base_url) for m in added],
        "members_removed": [member_json(state, lst, m, req.base_url) for m in removed],
        "errors": [{"email_addresses": emails, "error": error} for error, emails in errors.items()],
        "total_added": len(added),
        "total_removed": len(removed),
        "error_count": sum(len(emails) for emails in errors.values()),
        "_links": [],
    }
    return ok(req, doc)


def _segment_members(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst, segment = _segment(state, req)
    shown = {"subscribed", "pending"} | {status for status in ("cleaned", "transactional", "unsubscribed")
                                         if query_bool(req, f"include_{status}")}  # fmt: skip
    members = [lst.members[h] for h in segment.members if lst.members[h].status in shown]
    page = [member_json(state, lst, m, req.base_url) for m in paginate(req, members)]
    return collection(req, "members", page, len(members))


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
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise invalid("settings", "settings must be an object.")
    campaign = state.create_campaign(type_=body["type"], list_id=recipients["list_id"], segment_id=segment_id,
                                     settings=dict(settings), now=req.now)  # fmt: skip
    return ok(req, campaign_json(state, campaign, req.base_url))


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
        campaigns.sort(key=lambda c: getattr(c, field) or _EPOCH, reverse=descending)
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
    if campaign.status != "save":
        raise StateError(
            400, "Bad Request", f"This campaign cannot be changed: its status is {campaign.status!r}."
        )
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


# ---- the routing table ----------------------------------------------------------------------------

ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/ping", _ping),
    ("GET", "/lists/{list_id}", _get_list),
    ("GET", "/lists/{list_id}/members", _list_members),
    ("GET", "/lists/{list_id}/members/{subscriber_hash}", _get_member),
    ("GET", "/lists/{list_id}/members/{subscriber_hash}/tags", _get_member_tags),
    ("POST", "/lists/{list_id}/members/{subscriber_hash}/tags", _post_member_tags),
    ("GET", "/lists/{list_id}/segments", _list_segments),
    ("POST", "/lists/{list_id}/segments", _create_segment),
    ("GET", "/lists/{list_id}/segments/{segment_id}", _get_segment),
    ("POST", "/lists/{list_id}/segments/{segment_id}", _batch_segment),
    ("GET", "/lists/{list_id}/segments/{segment_id}/members", _segment_members),
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


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


_COMPILED: Final = tuple((method, _compile(template), handler) for method, template, handler in ROUTES)


def dispatch(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """Find the route and run it; StateError (a Mailchimp problem) propagates to the caller."""
    path_matched = False
    for method, pattern, handler in _COMPILED:
        match = pattern.match(req.path)
        if match is None:
            continue
        path_matched = True
        if method == req.method:
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            return handler(
                state, ApiRequest(req.method, req.path, req.query, req.body, req.now, req.base_url, params)
            )
    if path_matched:
        raise StateError(
            405,
            "Method Not Allowed",
            "The requested method and resource are not compatible. See the Allow header for this resource's available methods.",
        )
    raise not_found()
