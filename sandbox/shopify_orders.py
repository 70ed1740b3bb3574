"""The Shopify sandbox's orders: loaded from shopgen's CSV, searched, sorted, paged and shaped as GraphQL objects."""

from __future__ import annotations

import base64
import csv
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from graphql import GraphQLError

Place = tuple[str, str | None, str, str]  # (country, province, first name, last name) of a contact

# shopgen statuses → (displayFinancialStatus, cancelled)
_FINANCIAL: Final = {
    "completed": ("PAID", False),
    "paid": ("PAID", False),
    "processing": ("PAID", False),
    "partially_refunded": ("PARTIALLY_REFUNDED", False),
    "refunded": ("REFUNDED", False),
    "cancelled": ("VOIDED", True),
    "pending": ("PENDING", False),
}
_PROVINCES: Final = {  # shopgen's time zones that pin down an ISO 3166-2 subdivision
    "America/New_York": "NY",
    "America/Chicago": "IL",
    "America/Los_Angeles": "CA",
    "America/Toronto": "ON",
    "America/St_Johns": "NL",
    "Australia/Sydney": "NSW",
    "Australia/Adelaide": "SA",
}


@dataclass
class ShopifyOrder:
    """One order as the sandbox holds it; `edit_order` changes these fields."""

    number: int
    email: str | None
    created_at: str  # verbatim from the CSV
    updated_at: datetime
    total: str
    refunded: str
    currency: str
    financial_status: str
    cancelled_at: datetime | None = None
    categories: tuple[str, ...] = ()
    billing: tuple[str, str | None] | None = None  # (country, province)
    shipping: tuple[str, str | None] | None = None
    first_name: str | None = None
    last_name: str | None = None


def order_from_row(
    row: Mapping[str, str], place: Place | None, now: Callable[[], datetime], rng: random.Random
) -> ShopifyOrder:
    """One orders.csv row as served: values verbatim, updatedAt after any refund or cancellation, an address."""
    number = int((row.get("order_id") or "").lstrip("#"))
    status, cancelled = _FINANCIAL.get(row.get("status") or "", ("PENDING", False))
    created = parse_utc(row.get("created_at") or "")
    settled = row.get("status") in ("refunded", "partially_refunded", "cancelled")
    updated = min(now(), created + timedelta(hours=6 if settled else 0)) if created else now()
    order = ShopifyOrder(number=number, email=row.get("email") or None, created_at=row.get("created_at") or "",
                         updated_at=whole_second(updated), total=row.get("total") or "",
                         refunded=row.get("refunded") or "0.00", currency=row.get("currency") or "",
                         financial_status=status, cancelled_at=updated if cancelled else None,
                         categories=tuple(c for c in (row.get("categories") or "").split("|") if c))  # fmt: skip
    if place is not None:
        country, province, order.first_name, order.last_name = place
        address = (country, province)
        if rng.random() < 0.2:  # no billing address: the client must fall back to shipping
            order.shipping = address
        else:
            order.billing = order.shipping = address
    return order


def order_node(o: ShopifyOrder, *, protected_customer_data: bool) -> dict[str, Any]:
    """The order as a GraphQL `Order` object; without protected customer data, no email or customer."""
    gid = f"gid://shopify/Order/{o.number}"
    email = o.email if protected_customer_data else None
    items = [{"id": f"gid://shopify/LineItem/{o.number * 100 + k}", "quantity": 1, "name": c,
              "product": {"id": f"gid://shopify/Product/{k + 1}", "productType": c}}
             for k, c in enumerate(o.categories)]  # fmt: skip
    return {
        "id": gid, "name": f"#{o.number}", "email": email,
        "createdAt": served_time(o.created_at),
        "updatedAt": iso(o.updated_at), "processedAt": o.created_at,
        "cancelledAt": iso(o.cancelled_at) if o.cancelled_at else None,
        "displayFinancialStatus": o.financial_status, "currencyCode": o.currency,
        "totalPriceSet": _money_bag(o.total, o.currency),
        "totalRefundedSet": _money_bag(o.refunded, o.currency),
        "billingAddress": _address(o.billing), "shippingAddress": _address(o.shipping),
        "customer": None if not protected_customer_data else {
            "id": f"gid://shopify/Customer/{o.number}", "email": email,
            "firstName": o.first_name, "lastName": o.last_name},
        "lineItems": lambda info, **a: _line_items(info, items, a),
    }  # fmt: skip


def order_sort_key(sort_key: str) -> Callable[[ShopifyOrder], list[Any]]:
    if sort_key == "UPDATED_AT":
        return lambda o: [o.updated_at.timestamp(), o.number]
    if sort_key in ("CREATED_AT", "PROCESSED_AT"):
        return lambda o: [(parse_utc(o.created_at) or datetime.min.replace(tzinfo=UTC)).timestamp(), o.number]
    return lambda o: [o.number]


def matches_search(order: ShopifyOrder, query: str | None) -> bool:
    """The `updated_at` / `created_at` comparisons of Shopify's search syntax, ANDed; other terms are ignored."""
    for term in (query or "").split():
        name, _, rest = term.partition(":")
        if name not in ("updated_at", "created_at") or not rest:
            continue
        op = next(o for o in (">=", "<=", ">", "<", "") if rest.startswith(o))
        bound = parse_utc(rest[len(op) :].strip("'\""))
        value = order.updated_at if name == "updated_at" else parse_utc(order.created_at)
        if bound is None or value is None:
            continue
        ok = {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound,
              "": value.date() == bound.date()}[op]  # fmt: skip
        if not ok:
            return False
    return True


def require_page_size(info: Any, args: Mapping[str, Any]) -> None:
    """Outside a bulk query Shopify refuses a connection without `first` or `last`."""
    if args.get("first") is None and args.get("last") is None and not (info.context or {}).get("bulk"):
        raise GraphQLError("you must provide one of first or last")


def _line_items(info: Any, items: list[dict[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
    """An order's line items, paged by `first` / `after` like any connection."""
    require_page_size(info, args)
    start = decode_cursor(args["after"])[0] + 1 if args.get("after") else 0
    first = args.get("first")
    end = len(items) if first is None else start + first
    window = [(item, encode_cursor([n])) for n, item in enumerate(items)][start:end]
    return connection(window, has_next=end < len(items))


def connection(items: list[tuple[dict[str, Any], str]], *, has_next: bool) -> dict[str, Any]:
    return {
        "nodes": [node for node, _ in items],
        "edges": [{"node": node, "cursor": cursor} for node, cursor in items],
        "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": False,
                     "startCursor": items[0][1] if items else None,
                     "endCursor": items[-1][1] if items else None},
    }  # fmt: skip


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise GraphQLError("Invalid cursor for current pagination sort.") from None
    if not isinstance(key, list):
        raise GraphQLError("Invalid cursor for current pagination sort.")
    return key


def _money_bag(amount: str, currency: str) -> dict[str, Any]:
    money = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def _address(place: tuple[str, str | None] | None) -> dict[str, Any] | None:
    if place is None:
        return None
    return {"countryCodeV2": place[0], "provinceCode": place[1], "country": None, "province": None}


def contact_places(contacts_csv: Path) -> dict[str, Place]:
    places: dict[str, Place] = {}
    with open(contacts_csv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            country = (row.get("country") or "").strip()
            if country:
                places[(row.get("email") or "").strip().lower()] = (
                    country, _PROVINCES.get(row.get("timezone") or ""), row.get("first_name") or "",
                    row.get("last_name") or "")  # fmt: skip
    return places


def parse_utc(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def served_time(raw: str) -> str:
    """UTC with Z like Shopify; a value without an offset or unparseable is served as is (a malformed row)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw
    return raw if value.tzinfo is None else str(iso(value))


def whole_second(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def iso(value: datetime | None) -> str | None:
    return (
        None if value is None else value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
