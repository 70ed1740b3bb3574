"""Campaign requests shaped and checked before they are sent, and non-idempotent actions settled after a lost answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from segmail.connector.http import ItemError
from segmail.connector.mailchimp_parse import CampaignInfo, iso

CAMPAIGN_FIELDS = [
    "id",
    "status",
    "settings.title",
    "recipients.list_id",
    "recipients.segment_opts.saved_segment_id",
    "send_time",
    "emails_sent",
]
# The `status` filter of GET /campaigns takes fewer values than a campaign's status can have.
CAMPAIGN_STATUS_FILTERS = ("save", "paused", "schedule", "sending", "sent")
TEST_SEND_TYPES = ("html", "plaintext")


def schedule_time(at: datetime) -> datetime:
    """`at` in UTC, once checked to be aware and on a UTC quarter hour.

    Checked here because Mailchimp refuses any other time with a 400 only after a round trip, and a
    naive time would silently be read as UTC.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"schedule time must be timezone-aware, got {at!r}")
    utc = at.astimezone(UTC)
    if utc.minute % 15 or utc.second or utc.microsecond:
        raise ValueError(f"schedule time must be on a UTC quarter hour (:00/:15/:30/:45), got {iso(at)}")
    return utc


def test_send_body(emails: Sequence[str], send_type: str) -> dict[str, Any]:
    if send_type not in TEST_SEND_TYPES:
        raise ValueError(f"send_type must be one of {', '.join(TEST_SEND_TYPES)}, got {send_type!r}")
    if not emails:
        raise ValueError("send_test needs at least one address")
    return {"test_emails": list(emails), "send_type": send_type}


def list_params(
    *, list_id: str | None, status: str | None, since_create_time: datetime | None
) -> dict[str, Any]:
    """GET /campaigns parameters, oldest created first; a status it does not filter on is refused."""
    params: dict[str, Any] = {
        "fields": [f"campaigns.{f}" for f in CAMPAIGN_FIELDS] + ["total_items"],
        "sort_field": "create_time",
        "sort_dir": "ASC",
    }
    if status is not None:
        if status not in CAMPAIGN_STATUS_FILTERS:
            raise ValueError(f"status must be one of {', '.join(CAMPAIGN_STATUS_FILTERS)}, got {status!r}")
        params["status"] = status
    if list_id is not None:
        params["list_id"] = list_id
    if since_create_time is not None:
        params["since_create_time"] = iso(since_create_time)
    return params


def settled_action(
    call: Callable[..., Any],
    get_campaign: Callable[[str], CampaignInfo | None],
    what: str,
    fn: Callable[..., Any],
    campaign_id: str,
    *args: Any,
    landed: Callable[[CampaignInfo], bool],
) -> None:
    """A campaign action that is not idempotent, through `call` (the retry policy).

    When an attempt's answer is lost (a reset after the write, a timeout) the retry is refused
    because the first one worked; so a refusal after such an attempt is settled by reading the
    campaign instead of being reported as a failure that did not happen.
    """
    attempts = 0

    def once(*a: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return fn(*a)

    try:
        call(what, once, campaign_id, *args)
    except ItemError:
        if attempts > 1:
            info = get_campaign(campaign_id)
            if info is not None and landed(info):
                return
        raise
