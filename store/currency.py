"""The shop's one reporting currency: which orders money features may add up.

An order stays in the currency the source gave it; only orders in the reporting currency count
towards money features (total_spent, avg_order_value, the VIP threshold), so two currencies are
never added as if they were one. The reporting currency is `[shop] currency`; else the one a shop
API reported (recorded by `shop pull`: a Shopify order's `shopMoney` amounts are in the shop's
currency); else the store's only order currency; else, with several and none configured, the one
most orders use, logged with the key to set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from segmail.store.db import get_meta, set_meta
from segmail.store.schema import orders

log = logging.getLogger(__name__)

SHOP_CURRENCY_KEY = "shop_currency"  # what a shop API says its currency is
ORDER_CURRENCIES_KEY = "order_currencies"  # every currency ever written to orders (never shrinks)


def record_shop_currency(conn: Connection, code: str) -> None:
    """Remember the currency the shop's API reports its amounts in."""
    if get_meta(conn, SHOP_CURRENCY_KEY) != code:
        set_meta(conn, SHOP_CURRENCY_KEY, code)


def known_shop_currency(conn: Connection) -> str | None:
    value = get_meta(conn, SHOP_CURRENCY_KEY)
    return str(value) if value else None


def note_order_currencies(conn: Connection, codes: Iterable[str]) -> None:
    """Add currencies just written to orders to the set a compute chooses from (one small meta row)."""
    new = set(codes)
    if not new:
        return
    seen = get_meta(conn, ORDER_CURRENCIES_KEY)
    if seen is not None and new <= set(seen):
        return
    set_meta(conn, ORDER_CURRENCIES_KEY, sorted(new | set(seen or _stored(conn))))


def reporting_currency(conn: Connection, configured: str | None) -> str | None:
    """The currency money features count in; None when the store has no order to count."""
    if configured:
        return configured
    if known := known_shop_currency(conn):
        return known
    seen = get_meta(conn, ORDER_CURRENCIES_KEY)
    if seen is None:  # a store written before the set was kept: read it once
        seen = sorted(_stored(conn))
        if seen:
            set_meta(conn, ORDER_CURRENCIES_KEY, seen)
    if len(seen) <= 1:
        return str(seen[0]) if seen else None
    counts = conn.execute(select(orders.c.currency, func.count()).group_by(orders.c.currency)).all()
    chosen = str(min(counts, key=lambda row: (-row[1], row[0]))[0])  # most orders; a tie by code
    log.warning(
        "orders are in %s and shop.currency is not set: money features count only %s orders, the "
        "most common; set [shop] currency to choose",
        ", ".join(str(c) for c in seen),
        chosen,
    )
    return chosen


def _stored(conn: Connection) -> set[str]:
    return {str(c) for c in conn.execute(select(orders.c.currency).distinct()).scalars()}
