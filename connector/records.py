"""Typed records every connector yields and the store writes (money Decimal, datetimes aware UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

CONTACT_STATUSES: Final = frozenset(
    {"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"}
)
# Never part of any segment's population: Mailchimp will not mail them and they must not be counted.
EXCLUDED_STATUSES: Final = ("cleaned", "archived")
EVENT_TYPES: Final = frozenset({"open", "click"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Contact:
    email: str
    email_key: str
    status: str
    opted_in_at: datetime | None = None
    timezone: str | None = None
    country: str | None = None
    language: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    """A Mailchimp audience member: the contact as the ESP knows it.

    `timezone` and `country` are Mailchimp's (`location.*`, guessed from IPs) and are stored apart
    from the contact's own, so the send planner can rank the sources.
    """

    email: str
    email_key: str
    status: str
    opted_in_at: datetime | None = None
    language: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    country: str | None = None
    last_changed: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Order:
    order_id: str
    email_key: str
    created_at: datetime
    total: Decimal
    currency: str
    status: str
    refunded: Decimal = Decimal(0)
    categories: tuple[str, ...] = ()
    # billing (else shipping) address: where the buyer probably lives, for time-zone guesses
    country: str | None = None  # ISO 3166 alpha-2
    province: str | None = None  # ISO 3166-2 subdivision code without the country, e.g. "CA", "NSW"


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    email_key: str
    type: str
    at: datetime
    campaign_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RowProblem:
    """A row that was skipped (error) or kept with a field dropped (warning); never carries the row's data."""

    file: str
    line: int
    reason: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.reason}"


Record = Contact | Member | Order | Event


@dataclass(frozen=True, kw_only=True)
class OrderPage:
    """One page of a shop's orders, and the cursor to save once the page is stored (a `source.Page`).

    `problems` are malformed orders, each as "order <id>: reason" (never an email); `cursor` is
    opaque to everyone but the connector that made it.
    """

    orders: list[Order]
    problems: list[str]
    cursor: str | None

    @property
    def records(self) -> list[Order]:
        """The orders under the name connector/source.py's `Page` gives every source's records."""
        return self.orders
