"""Shopify GraphQL order nodes → `Order` records, and the `updatedAt` cursor they advance; no calls are made here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from segmail.connector import fields
from segmail.connector.fields import FieldError
from segmail.connector.records import Order
from segmail.connector.shop_status import canonical
from segmail.connector.shopify_bulk import categories
from segmail.connector.source import cursor_time


def parse_order(
    node: Mapping[str, Any], statuses: Mapping[str, str], *, categories: tuple[str, ...] | None = None
) -> Order:
    """One GraphQL order node → `Order`; raises FieldError naming the bad field (never the email)."""
    customer = node.get("customer") or {}
    raw_email = node.get("email") or customer.get("email")
    if not raw_email:
        raise FieldError("no email (protected customer data not granted?)")
    total_money = _path(node, "totalPriceSet", "shopMoney")
    total = fields.money(str(total_money.get("amount", "")), "total")
    refunded = fields.money(
        str(_path(node, "totalRefundedSet", "shopMoney").get("amount") or "0"), "refunded"
    )
    if refunded > total:
        raise FieldError(f"refunded {refunded} exceeds total {total}")
    country, province = _address(node)
    return Order(
        order_id=order_id(node),
        email_key=fields.email_key(str(raw_email)),
        created_at=fields.timestamp(str(node.get("createdAt") or ""), "createdAt", naive_is_utc=False),
        total=total,
        currency=fields.currency_code(str(total_money.get("currencyCode") or node.get("currencyCode") or "")),
        status=_status(node, statuses),
        refunded=refunded,
        categories=categories if categories is not None else _line_item_types(node),
        country=country,
        province=province,
    )


def order_id(node: Mapping[str, Any]) -> str:
    """The numeric tail of `gid://shopify/Order/123`, else the order name."""
    gid = str(node.get("id") or "")
    tail = gid.rsplit("/", 1)[-1]
    if tail.isdigit():
        return tail
    name = fields.text(node.get("name"))
    if name is None:
        raise FieldError("no id")
    return name


def _status(node: Mapping[str, Any], statuses: Mapping[str, str]) -> str:
    if node.get("cancelledAt"):
        return "cancelled"
    raw = node.get("displayFinancialStatus")
    if not raw:
        raise FieldError("no displayFinancialStatus")
    status = canonical(str(raw), statuses)
    if status is None:
        raise FieldError(f"displayFinancialStatus {str(raw)!r} is not mapped (add it to [shop.statuses])")
    return status


def _address(node: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for key in ("billingAddress", "shippingAddress"):
        addr = node.get(key) or {}
        try:
            country = fields.country_code(addr.get("countryCodeV2"))
        except FieldError:
            country = None  # e.g. "ZZ", Shopify's unknown region: no better guess than none
        if country:
            return country, fields.text(addr.get("provinceCode"), max_len=8)
    return None, None


def _line_item_types(node: Mapping[str, Any]) -> tuple[str, ...]:
    items = (node.get("lineItems") or {}).get("nodes") or []
    return categories(
        (item.get("product") or {}).get("productType") for item in items if isinstance(item, dict)
    )


def _path(node: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    value: Any = node
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def order_ref(node: Mapping[str, Any]) -> str:
    """The order's id for a problem line, or "?" when it has none."""
    try:
        return order_id(node)
    except FieldError:
        return "?"


def later_cursor(current: str | None, updated_at: Any) -> str | None:
    """The later of a cursor and an `updatedAt`, as ISO-8601 UTC; unparseable values are ignored."""
    try:
        candidate = fields.timestamp(str(updated_at), "updatedAt", naive_is_utc=False)
    except FieldError:
        return current
    if current is not None and cursor_time(current, "Shopify") >= candidate:
        return current
    return iso_z(candidate)


def iso_z(value: datetime) -> str:
    """A time as Shopify's search syntax and our cursors write it: ISO-8601 UTC to the second, with a Z."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
