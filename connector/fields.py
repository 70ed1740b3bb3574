"""Field parsers shared by every connector: each returns the clean value or raises FieldError."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Final

import pytz

from segmail.connector.records import CONTACT_STATUSES

_EMAIL: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
_COUNTRIES: Final = frozenset(pytz.country_names)
_ZONES: Final = frozenset(pytz.all_timezones)


class FieldError(ValueError):
    """A value that cannot be used; the message names the field but never echoes personal data."""


def email_key(raw: str) -> str:
    """The identity of a contact: `email.strip().lower()`, validated.

    `.invalid` is reserved (RFC 2606) and never receives mail: it is what erasers leave behind, e.g.
    WordPress's `wp_privacy_anonymize_data('email')` returns `deleted@site.invalid` for the orders
    WooCommerce anonymises (https://developer.wordpress.org/reference/functions/wp_privacy_anonymize_data/).
    Such an order is nobody's, so it is skipped like one without an email.
    """
    key = raw.strip().lower()
    if not key:
        raise FieldError("email is empty")
    if len(key) > 254 or _EMAIL.fullmatch(key) is None:
        raise FieldError("email is not a valid address")
    if key.endswith(".invalid"):
        raise FieldError("email is an anonymised placeholder (.invalid), as an eraser leaves it")
    return key


def timestamp(raw: str, field: str, *, naive_is_utc: bool) -> datetime:
    """ISO 8601 → aware UTC. Naive values are UTC only where the source's convention says so."""
    return zoned_timestamp(raw, field, naive_zone=UTC if naive_is_utc else None)


def zoned_timestamp(raw: str, field: str, *, naive_zone: tzinfo | None) -> datetime:
    """ISO 8601 (also `2024-03-05 14:22:10 -0500`) → aware UTC; a naive value is read in `naive_zone`.

    Without a zone a naive value is refused: whether it is shop-local or UTC is a guess. A local
    time inside a daylight-saving fold is read as its first occurrence (`fold=0`).
    """
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"{field} {text!r} is not an ISO 8601 date-time (YYYY-MM-DD hh:mm:ss)") from None
    if value.tzinfo is None:
        if naive_zone is None:
            raise FieldError(f"{field} {text!r} has no UTC offset (add Z or +HH:MM)")
        return value.replace(tzinfo=naive_zone).astimezone(UTC)
    return value.astimezone(UTC)


def optional_timestamp(raw: str | None, field: str, *, naive_is_utc: bool) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    return timestamp(raw, field, naive_is_utc=naive_is_utc)


def money(raw: str, field: str) -> Decimal:
    text = raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FieldError(f"{field} {text!r} is not a decimal amount") from None
    if not value.is_finite():
        raise FieldError(f"{field} {text!r} is not a finite amount")
    if value < 0:
        raise FieldError(f"{field} {text!r} is negative")
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise FieldError(f"{field} {text!r} has more than four decimals")
    return value


def contact_status(raw: str) -> str:
    status = raw.strip().lower()
    if status not in CONTACT_STATUSES:
        raise FieldError(f"status {raw.strip()!r} is not one of {', '.join(sorted(CONTACT_STATUSES))}")
    return status


def timezone_name(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    name = raw.strip()
    if name not in _ZONES:
        raise FieldError(f"timezone {name!r} is not an IANA time zone")
    return name


def country_code(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().upper()
    if code not in _COUNTRIES:
        raise FieldError(f"country {raw.strip()!r} is not an ISO 3166 alpha-2 code")
    return code


def currency_code(raw: str) -> str:
    code = raw.strip().upper()
    if _CURRENCY.fullmatch(code) is None:
        raise FieldError(f"currency {raw.strip()!r} is not an ISO 4217 code")
    return code


def text(raw: str | None, *, max_len: int = 255) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    return value[:max_len] or None
