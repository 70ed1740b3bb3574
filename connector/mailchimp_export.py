"""Mailchimp's audience export: the CSVs in the export zip (or the zip itself) as audience members.

The export (Audience > All contacts > Export Audience, or an account export's audiences stage,
https://mailchimp.com/developer/marketing/docs/account-exports/) is a zip with one CSV per
status: `subscribed_…`, `unsubscribed_…`, `cleaned_…` and, in recent exports, `nonsubscribed_…`;
older exports name them `subscribed_members_export_<id>.csv` and so on. Every file starts with
the audience's merge fields by their labels ("Email Address", "First Name", "Last Name", ...)
and ends with Mailchimp's own columns: MEMBER_RATING, OPTIN_TIME, OPTIN_IP, CONFIRM_TIME,
CONFIRM_IP, LATITUDE, LONGITUDE, GMTOFF, DSTOFF, TIMEZONE, CC, REGION, LAST_CHANGED, LEID, EUID,
NOTES and TAGS; the unsubscribed file adds UNSUB_TIME, UNSUB_CAMPAIGN_TITLE, UNSUB_CAMPAIGN_ID,
UNSUB_REASON, UNSUB_REASON_OTHER and the cleaned file CLEAN_TIME, CLEAN_CAMPAIGN_TITLE,
CLEAN_CAMPAIGN_ID. (Column list as found in real exports published in public repositories;
Mailchimp's help pages name the files and statuses but publish no column reference. The
CLEAN_* names are unverified.)

A row's status comes from the file it is in; a file renamed beyond recognition is read by its
UNSUB_TIME or CLEAN_TIME column, else refused. "Non-subscribed" is the API's `transactional`
(https://mailchimp.com/help/view-unsubscribed-contacts/ defines the four statuses). Times such
as `2024-03-05 14:22:10` are UTC; TIMEZONE is Mailchimp's IANA guess and CC its country guess,
both from the contact's IP, so they are stored as Mailchimp's view (like an API pull), apart
from the contact's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from segmail.connector import fields
from segmail.connector.csv_format import CsvFormat, ParseContext, Warn, per_row
from segmail.connector.csv_tables import CsvFileError, Getter
from segmail.connector.fields import FieldError
from segmail.connector.records import Member

# file-name prefix → member status; checked against the name of the CSV itself, not the zip
_BY_FILE: Final = (
    ("nonsubscribed", "transactional"),
    ("non_subscribed", "transactional"),
    ("unsubscribed", "unsubscribed"),
    ("subscribed", "subscribed"),
    ("cleaned", "cleaned"),
)
_BY_COLUMN: Final = (("clean_time", "cleaned"), ("unsub_time", "unsubscribed"))


def status_of(ctx: ParseContext) -> tuple[str, str]:
    """The status of every row in this table, and where it was read from."""
    base = ctx.basename.lower()
    for prefix, status in _BY_FILE:
        if base.startswith((f"{prefix}_", f"{prefix}-")):
            return status, "the file name"
    for column, status in _BY_COLUMN:
        if column in ctx.header:
            return status, f"its {column.upper()} column"
    raise CsvFileError(
        f"{ctx.name}: a Mailchimp audience export, but its status cannot be told: the file name does "
        "not start with subscribed_, unsubscribed_, cleaned_ or nonsubscribed_ (as in the export zip) "
        "and it has no UNSUB_TIME or CLEAN_TIME column; import the zip, or restore the file's name"
    )


def _prepare(ctx: ParseContext) -> str:
    status, origin = status_of(ctx)
    return f"status {status} (from {origin})"


def _guess(value: str | None, check: Callable[[str | None], str | None], what: str, warn: Warn) -> str | None:
    try:
        return check(value)
    except FieldError as exc:
        warn(f"{exc}; Mailchimp's {what} guess left empty")
        return None


def _member(get: Getter, ctx: ParseContext, warn: Warn) -> Member:
    raw_email = get("email address") or ""
    return Member(
        email=raw_email.strip(),
        email_key=fields.email_key(raw_email),
        status=status_of(ctx)[0],  # a few prefix checks: cheaper than caching per table
        opted_in_at=fields.optional_timestamp(
            get("confirm_time") or get("optin_time"), "CONFIRM_TIME/OPTIN_TIME", naive_is_utc=True
        ),
        first_name=fields.text(get("first name")),
        last_name=fields.text(get("last name")),
        timezone=_guess(get("timezone"), fields.timezone_name, "TIMEZONE", warn),
        country=_guess(get("cc"), fields.country_code, "CC (country)", warn),
        last_changed=fields.optional_timestamp(get("last_changed"), "LAST_CHANGED", naive_is_utc=True),
    )


FORMAT: Final = CsvFormat(
    name="mailchimp",
    title="Mailchimp audience export",
    kind="contacts",
    required=("Email Address", "MEMBER_RATING", "LAST_CHANGED"),
    optional=(
        "First Name",
        "Last Name",
        "OPTIN_TIME",
        "CONFIRM_TIME",
        "TIMEZONE",
        "CC",
        "UNSUB_TIME",
        "CLEAN_TIME",
    ),
    read=per_row(_member),
    source="mailchimp",
    prepare=_prepare,
    fills={
        "opted_in_at": ("CONFIRM_TIME", "OPTIN_TIME"),
        "first_name": ("First Name",),
        "last_name": ("Last Name",),
        "mc_timezone": ("TIMEZONE",),
        "mc_country": ("CC",),
        "language": (),  # the export has none: an API pull's stays
    },
)
