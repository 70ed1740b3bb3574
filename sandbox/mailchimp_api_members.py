"""The sandbox endpoints that add a member and delete one permanently (the privacy side of an audience).

- `POST /lists/{list_id}/members` (`lists.add_list_member`): body `email_address` and `status`, both required
  [SPEC `AddListMembers1`]; answers the member. An address already there is refused (Mailchimp's "Member
  Exists"), and so is one that was permanently deleted: 400 "Forgotten Email Not Subscribed", "<email> was
  permanently deleted and cannot be re-imported" (contract §9).
- `POST /lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent`
  (`lists.delete_list_member_permanent`): "Delete all personally identifiable information related to a
  list member, and remove them from a list. This will make it impossible to re-import the list member."
  [SPEC]; 204, empty. The path takes the hash only (its parameter says so, unlike the other member paths).
"""

from __future__ import annotations

from typing import Final

from segmail.sandbox.mailchimp_json import member_json
from segmail.sandbox.mailchimp_records import MEMBER_STATUSES, StateError, invalid, not_found
from segmail.sandbox.mailchimp_request import NO_CONTENT, ApiRequest, ApiResponse, Handler, body_object, ok
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = ["MEMBER_ROUTES"]

_ADDABLE: Final = tuple(s for s in MEMBER_STATUSES if s != "archived")  # the spec's enum for a new member


def _add_member(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst = state.get_list(req.params["list_id"])
    body = body_object(req)
    email, status = body.get("email_address"), body.get("status")
    if not isinstance(email, str) or "@" not in email:
        raise invalid("email_address", "Please provide a valid email address.")
    if status not in _ADDABLE:
        raise invalid("status", f"status must be one of {', '.join(_ADDABLE)}.")
    if lst.member(email.strip()) is not None:
        raise StateError(
            400,
            "Member Exists",
            f"{email.strip()} is already a list member. Use PUT to insert or update list members.",
        )
    raw = body.get("merge_fields")
    fields: dict[str, object] = raw if isinstance(raw, dict) else {}
    member = state.add_member(
        lst.id, email.strip(), status=status, timestamp_opt=req.now, last_changed=req.now,
        merge_fields={str(k): str(v) for k, v in fields.items()},
    )  # fmt: skip
    return ok(req, member_json(state, lst, member, req.base_url))


def _delete_permanent(state: SandboxState, req: ApiRequest) -> ApiResponse:
    lst = state.get_list(req.params["list_id"])
    member = lst.members.get(req.params["subscriber_hash"].lower())
    if member is None:
        raise not_found()
    state.delete_permanently(lst, member)
    return NO_CONTENT


MEMBER_ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("POST", "/lists/{list_id}/members", _add_member),
    ("POST", "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent", _delete_permanent),
)
