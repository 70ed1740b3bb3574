"""Why a planned recipient may go without a campaign's mail: the documented rules, and errors.

A documented rule is a decision the config or the audience made, written to the ledger as a skip:
the frequency cap (`min_hours_between`), the late policy (which also covers a late slot that would
land in quiet hours; on time, quiet hours only move a slot) and a member Mailchimp would not mail
(unsubscribed, cleaned, pending, archived). Anything else that leaves a planned recipient without
the mail is an *unsent error*: recorded per recipient in `send_unsent` and shown by campaign and
reason in `segmail status`, `/healthz` and `/metrics` until the recipient is put in a bucket after
all or an operator acknowledges it (`segmail send unsent --clear`). Never only a log line.
"""

from __future__ import annotations

FREQUENCY_CAP = "frequency_cap"
LATE = "late"
_NOT_SUBSCRIBED = "status "  # + the Mailchimp status, e.g. "status unsubscribed"


def not_subscribed(status: str) -> str:
    return _NOT_SUBSCRIBED + status


def documented(reason: str) -> bool:
    """Is this skip one of the documented rules (and so not an error)?"""
    return reason in (FREQUENCY_CAP, LATE) or (
        reason.startswith(_NOT_SUBSCRIBED) and reason != _NOT_SUBSCRIBED
    )


# Unsent errors, with what an operator reads about each.
BUCKET_NOT_CREATED = "bucket_not_created"
TEMPLATE_ERROR = "template_error"
BUCKET_FAILED = "bucket_failed"
CAMPAIGN_REMOVED = "campaign_removed"
UNDOCUMENTED_SKIP = "undocumented_skip"
UNSENT_REASONS = {
    BUCKET_NOT_CREATED: "their bucket could not be written (e.g. its id was taken); retried while the slot is not late",
    TEMPLATE_ERROR: "the campaign's template or subject failed to render when its send job ran",
    BUCKET_FAILED: "Mailchimp refused the campaign for good, or it was deleted or changed in Mailchimp",
    CAMPAIGN_REMOVED: "the campaign was removed from the config while its bucket was being sent",
    UNDOCUMENTED_SKIP: "the planner skipped them for a reason that is none of the documented rules",
}
