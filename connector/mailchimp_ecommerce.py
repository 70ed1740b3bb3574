"""Orders from Mailchimp's e-commerce store data (for shops whose integration already fills it).

Mailchimp offers no "updated since" filter on store orders (contract §8), so every pull pages
through the whole store; orders whose `updated_at_foreign` is not newer than the cursor (minus a
look-back) are skipped instead of rewritten, and the cursor advances only after a complete pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from segmail.connector import fields
from segmail.connector.fields import FieldError
from segmail.connector.http import HttpStats
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.records import Order, OrderPage
from segmail.connector.shop_status import canonical, status_map
from segmail.connector.source import DEFAULT_LOOKBACK, cursor_time, lookback_start

ORDER_FIELDS = [
    "orders.id",
    "orders.customer.email_address",
    "orders.currency_code",
    "orders.order_total",
    "orders.financial_status",
    "orders.processed_at_foreign",
    "orders.updated_at_foreign",
    "orders.cancelled_at_foreign",
    "orders.billing_address.country_code",
    "orders.billing_address.province_code",
    "orders.shipping_address.country_code",
    "orders.shipping_address.province_code",
    "total_items",
]


class MailchimpStoreOrders:
    """One e-commerce store's orders as a page source (connector/source.py), through a Mailchimp client."""

    def __init__(
        self, api: MailchimpApi, store_id: str, *, statuses: Mapping[str, str] | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
    ) -> None:  # fmt: skip
        self.api = api
        self.store_id = store_id
        self.lookback = lookback
        self.statuses = status_map("mailchimp", statuses or {})

    def pages(self, cursor: str | None) -> Iterator[OrderPage]:
        since = lookback_start(cursor, self.lookback, "Mailchimp store orders")
        newest = None if cursor is None else cursor_time(cursor, "Mailchimp store orders")
        fetch = self.api.client.ecommerce.get_store_orders
        pages = self.api.pages("store orders", fetch, self.store_id, items="orders", fields=ORDER_FIELDS)
        raw = next(pages, [])
        while True:
            following = next(pages, None)  # one page of look-ahead: the cursor moves only with the last
            orders: list[Order] = []
            problems: list[str] = []
            for item in raw:
                try:
                    order, updated = self._order(item)
                except (FieldError, KeyError, TypeError, ValueError) as exc:
                    reason = exc if isinstance(exc, FieldError) else f"missing or malformed {exc}"
                    problems.append(f"order {item.get('id', '?')}: {reason}")
                    continue
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
                if since is None or updated is None or updated > since:
                    orders.append(order)
            done = following is None
            yield OrderPage(
                orders=orders, problems=problems, cursor=newest.isoformat() if done and newest else cursor
            )
            if following is None:
                return
            raw = following

    def close(self) -> None:
        self.api.close()

    @property
    def stats(self) -> HttpStats:
        return self.api.stats

    def _order(self, item: dict[str, Any]) -> tuple[Order, datetime | None]:
        order_id = fields.text(str(item["id"]), max_len=128)
        if order_id is None:
            raise FieldError("id is empty")
        status = canonical(str(item.get("financial_status") or ""), self.statuses)
        if item.get("cancelled_at_foreign"):
            status = "cancelled"
        if status is None:
            raise FieldError(
                f"financial_status {item.get('financial_status')!r} is not mapped; add it to [shop] statuses"
            )
        address = item.get("billing_address") or item.get("shipping_address") or {}
        total = fields.money(str(item["order_total"]), "order_total")
        refunded = total if status == "refunded" else Decimal(0)
        order = Order(
            order_id=order_id,
            email_key=fields.email_key(str((item.get("customer") or {}).get("email_address") or "")),
            created_at=fields.timestamp(
                str(item["processed_at_foreign"]), "processed_at_foreign", naive_is_utc=False
            ),
            total=total,
            refunded=refunded,
            currency=fields.currency_code(str(item["currency_code"])),
            status=status,
            country=_country(address.get("country_code")),
            province=fields.text(address.get("province_code"), max_len=64),
        )
        updated = fields.optional_timestamp(
            item.get("updated_at_foreign"), "updated_at_foreign", naive_is_utc=False
        )
        return order, updated


def _country(raw: Any) -> str | None:
    try:
        return fields.country_code(raw if isinstance(raw, str) else None)
    except FieldError:
        return None
