"""The sandbox endpoints for audiences (/ping and /lists): lists, members and their tags, static segments."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Final

from segmail.sandbox.mailchimp_json import (
    list_json,
    member_json,
    segment_json,
    stamp,
)
from segmail.sandbox.mailchimp_records import (
    MEMBER_STATUSES,
    MailingList,
    Member,
    Segment,
    StateError,
    invalid,
    not_found,
)
from segmail.sandbox.mailchimp_request import (
    EPOCH,
    NO_CONTENT,
    ApiRequest,
    ApiResponse,
    Handler,
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
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = ["AUDIENCE_ROUTES", "MAX_SEGMENT_BATCH"]

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
        members.sort(key=lambda m: (getattr(m, attr) or EPOCH, m.seq), reverse=descending)
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


AUDIENCE_ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
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
)
