"""`segmail shop pull --once`: a shop's orders into the store through the one pull loop (jobs/pull.py).

The source comes from jobs/wiring.py; what is shop-specific is only where the orders go (the
`[shop] kind` as their source, stream "orders") and, for Shopify, the currency its amounts are in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Final

from segmail.connector.records import Order
from segmail.connector.source import Page, PageSource
from segmail.jobs.config import AppConfig
from segmail.jobs.pull import PullSummary, Stream, pull
from segmail.jobs.stopping import StopCheck, never
from segmail.store.currency import record_shop_currency
from segmail.store.db import Store

if TYPE_CHECKING:  # annotations only: SQL stays in store/
    from sqlalchemy.engine import Connection

log = logging.getLogger("segmail.shop")

STREAM: Final = "orders"
OrderSource = PageSource[Order]


def orders_stream(kind: str) -> Stream[Order]:
    """Where a shop's orders go: `kind` is their source; a Shopify page also records its currency."""
    return Stream(
        source=kind, name=STREAM, item=f"{kind} order", noun="orders", log=log,
        on_page=_shop_currency if kind == "shopify" else None,
    )  # fmt: skip


def _shop_currency(conn: Connection, page: Page[Order]) -> None:
    if page.records:  # Shopify's amounts are shopMoney: in the shop's currency
        record_shop_currency(conn, page.records[0].currency)


def pull_orders(
    store: Store, config: AppConfig, source: OrderSource, *, now: datetime, stop: StopCheck = never
) -> PullSummary:
    return pull(store, source, orders_stream(config.shop.kind), now=now, stop=stop)
