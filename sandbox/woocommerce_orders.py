"""shopgen's CSV files as the WooCommerce order JSON a store would serve (for `segmail.sandbox.woocommerce`).

Field names and types follow the REST API's order properties
(https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties): money as strings, dates naive,
refunds as negative totals, guests with `customer_id` 0. The site-local `date_*` fields are left to the
sandbox, which knows the site's time zone.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

__all__ = ["abs_money", "order_from_row", "read_contacts"]

_GMT: Final = "%Y-%m-%dT%H:%M:%S"
# shopgen's canonical statuses back to the WooCommerce statuses a store would show
_WOO_STATUS: Final = {
    "paid": "processing",
    "processing": "processing",
    "completed": "completed",
    "partially_refunded": "completed",
    "refunded": "refunded",
    "cancelled": "cancelled",
    "pending": "pending",
}


def read_contacts(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        # the row number stands in for the WordPress user id of a registered customer
        return {
            row["email"].strip().lower(): {**row, "user_id": str(n)}
            for n, row in enumerate(csv.DictReader(f), 1)
        }


def order_from_row(
    row: Mapping[str, str], contacts: Mapping[str, Mapping[str, str]], refund_id: Callable[[], int]
) -> dict[str, Any]:
    email = row["email"].strip()
    contact = contacts.get(email.lower())
    created = _csv_time(row["created_at"])
    return {
        "id": int("".join(c for c in row["order_id"] if c.isdigit()) or 0),
        "number": row["order_id"].lstrip("#"),
        "status": _WOO_STATUS.get(row["status"].strip(), row["status"].strip()),
        "currency": row["currency"],
        "date_created_gmt": created,
        "date_modified_gmt": created,
        "total": row["total"],
        "customer_id": int(contact["user_id"]) if contact else 0,  # 0 = guest
        "billing": _billing(email, contact),
        "shipping": {k: v for k, v in _billing(email, contact).items() if k not in ("email", "phone")},
        "line_items": _line_items(row.get("categories") or ""),
        "refunds": _refunds(row.get("refunded") or "", refund_id),
        "meta_data": [],
    }


def _csv_time(raw: str) -> str:
    """shopgen writes UTC or shop-local times with an offset; WooCommerce's `_gmt` fields are naive GMT."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw  # served as is: the client must report it
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(_GMT)


def _billing(email: str, contact: Mapping[str, str] | None) -> dict[str, str]:
    contact = contact or {}
    return {
        "first_name": contact.get("first_name", ""),
        "last_name": contact.get("last_name", ""),
        "company": "",
        "address_1": "",
        "address_2": "",
        "city": "",
        "state": "",
        "postcode": "",
        "country": contact.get("country", ""),
        "email": email,
        "phone": "",
    }


def _line_items(categories: str) -> list[dict[str, Any]]:
    # WooCommerce line items name products, not categories; the product name stands in for one here
    return [{"id": n + 1, "name": name.title(), "product_id": 1000 + n, "variation_id": 0, "quantity": 1,
             "sku": name.upper()[:8], "meta_data": []}
            for n, name in enumerate(filter(None, categories.split("|")))]  # fmt: skip


def _refunds(raw: str, refund_id: Callable[[], int]) -> list[dict[str, Any]]:
    amount = abs_money(raw) if raw.strip() else Decimal(0)
    if amount <= 0:
        return []
    return [{"id": refund_id(), "reason": "", "total": f"-{amount:.2f}"}]


def abs_money(raw: str) -> Decimal:
    try:
        return abs(Decimal(raw.strip()))
    except InvalidOperation:
        return Decimal(0)
