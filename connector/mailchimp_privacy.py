"""Mailchimp calls for erasure: delete a member permanently, take segmail's tags off one, and find who is gone.

All through the official client (`MailchimpApi.call`), like every other Mailchimp call:
- `POST /lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent` (`lists.delete_list_member_permanent`):
  "Delete all personally identifiable information related to a list member, and remove them from a list.
  This will make it impossible to re-import the list member." [SPEC]. 204, empty.
- `POST /lists/{list_id}/members/{subscriber_hash}/tags` (`lists.update_list_member_tags`) with
  `status: "inactive"` takes tags off one member in one call (contract §3); 204, empty.
- `GET /lists/{list_id}/members/{subscriber_hash}` answers 404 for an address the audience does not hold,
  and the member (with `status: "archived"` for an archived one) otherwise.
A 404 on a delete or an untag means the member is not there: nothing to do, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from segmail.connector.http import ItemError
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.mailchimp_parse import subscriber_hash

__all__ = [
    "delete_permanently",
    "member_ids",
    "member_status",
    "member_total",
    "remove_tags",
    "subscriber_hash",
]


def delete_permanently(api: MailchimpApi, list_id: str, email: str) -> bool:
    """Delete the member and all its data in Mailchimp; False when the audience does not hold it."""
    fn = api.client.lists.delete_list_member_permanent
    return _unless_missing(lambda: api.call("delete member permanently", fn, list_id, subscriber_hash(email)))


def remove_tags(api: MailchimpApi, list_id: str, email: str, tags: Sequence[str]) -> bool:
    """Take these tags off the member (others stay); False when the audience does not hold it."""
    if not tags:
        return True
    body = {"tags": [{"name": tag, "status": "inactive"} for tag in tags]}
    fn = api.client.lists.update_list_member_tags
    return _unless_missing(lambda: api.call("remove member tags", fn, list_id, subscriber_hash(email), body))


def member_tags(api: MailchimpApi, list_id: str, email: str) -> list[str] | None:
    """The names of the member's tags, or None when the audience does not hold it."""
    fn = api.client.lists.get_list_member_tags
    try:
        pages = api.pages("list member tags", fn, list_id, subscriber_hash(email), items="tags")
        return [str(tag.get("name") or "") for page in pages for tag in page]
    except ItemError as exc:
        if exc.status == 404:
            return None
        raise


def member_status(api: MailchimpApi, list_id: str, member_id: str) -> str | None:
    """The member's status (`archived` included), or None when Mailchimp has no such member."""
    try:
        data = api.call(
            "get member", api.client.lists.get_list_member, list_id, member_id, fields=["id", "status"]
        )
    except ItemError as exc:
        if exc.status == 404:
            return None
        raise
    return str((data or {}).get("status") or "")


def member_total(api: MailchimpApi, list_id: str) -> int:
    """How many members the audience lists, whatever their status: one small request."""
    fn = api.client.lists.get_list_members_info
    data = api.call("count members", fn, list_id, count=1, fields=["total_items"]) or {}
    return int(data.get("total_items") or 0)


def member_ids(api: MailchimpApi, list_id: str) -> Iterator[str]:
    """Every member id (the MD5 of the lower-cased address) of the audience, 1,000 a request."""
    fn = api.client.lists.get_list_members_info
    for page in api.pages(
        "list member ids", fn, list_id, items="members", fields=["members.id", "total_items"]
    ):
        for member in page:
            yield str(member.get("id") or "")


def _unless_missing(call: Callable[[], object]) -> bool:
    try:
        call()
    except ItemError as exc:
        if exc.status == 404:
            return False
        raise
    return True
