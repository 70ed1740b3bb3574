"""`segmail shop pull --once`: a shop's orders into the store, incrementally and resumably.

Each connector yields pages with the cursor that covers them; the page and its cursor are
written in one transaction, so a killed pull resumes after the last stored page.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from connector.http import ConfigurationError, HttpStats
from connector.records import OrderPage
from jobs.config import AppConfig
from jobs.stopping import StopCheck, check, never
from jobs.sync import SyncConfigError, api_key_from
from store import cursors
from store.codec import to_us
from store.currency import record_shop_currency
from store.db import Store
from store.writer import write_records

log = logging.getLogger("segmail.shop")

ENV_SHOPIFY_TOKEN = "SHOPIFY_ACCESS_TOKEN"
ENV_WC_KEY = "WC_CONSUMER_KEY"
ENV_WC_SECRET = "WC_CONSUMER_SECRET"
STREAM = "orders"
KEEP_PROBLEMS = 1000


class ShopConfigError(Exception):
    """The shop cannot be pulled as configured (kind, URL or secrets); the message says what to set."""


class OrderSource(Protocol):
    def orders(self, *, cursor: str | None) -> Iterator[OrderPage]: ...

    @property
    def stats(self) -> HttpStats: ...

    def close(self) -> None: ...


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ShopConfigError(f"set {name} in the environment")
    return value


def open_source(
    config: AppConfig, env: Mapping[str, str] | None = None, *, sleep: Callable[[float], None] | None = None
) -> OrderSource:
    """The connector `[shop] kind` names, with its secrets from the environment."""
    env = os.environ if env is None else env
    shop = config.shop
    lookback = timedelta(minutes=shop.lookback_minutes)
    if shop.kind == "csv":
        raise ShopConfigError("shop.kind = 'csv': import order files with `segmail import orders FILE`")
    if shop.kind == "mailchimp":
        from connector.mailchimp import MailchimpApi
        from connector.mailchimp_ecommerce import MailchimpStoreOrders

        mc = config.mailchimp
        try:
            api = MailchimpApi(api_key=api_key_from(env), api_url=mc.api_url, timeout_s=mc.timeout_s,
                               attempts=mc.attempts, max_connections=mc.max_connections, sleep=sleep)  # fmt: skip
        except (ConfigurationError, SyncConfigError) as exc:
            raise ShopConfigError(str(exc)) from None
        assert shop.store_id is not None
        return MailchimpStoreOrders(api, shop.store_id, statuses=shop.statuses, lookback=lookback)
    if shop.kind == "woocommerce":
        from connector.woocommerce import WooCommerceClient, WooSettings

        assert shop.url is not None
        try:
            settings = WooSettings(
                base_url=shop.url, consumer_key=_secret(env, ENV_WC_KEY), consumer_secret=_secret(env, ENV_WC_SECRET),
                page_size=min(shop.page_size, 100), timeout_s=shop.timeout_s, lookback=lookback,
            )  # fmt: skip
        except ValueError as exc:
            raise ShopConfigError(f"shop: {exc}") from None
        return WooCommerceClient(settings, statuses=shop.statuses, sleep=sleep)
    from connector.shopify import ShopifyClient, ShopifySettings

    assert shop.kind == "shopify" and shop.url is not None
    try:
        shopify = ShopifySettings(
            shop_url=shop.url, access_token=_secret(env, ENV_SHOPIFY_TOKEN), api_version=shop.api_version,
            page_size=shop.page_size, timeout_s=shop.timeout_s, lookback=lookback,
        )  # fmt: skip
    except ValueError as exc:
        raise ShopConfigError(f"shop: {exc}") from None
    return ShopifyClient(shopify, statuses=shop.statuses, sleep=sleep)


@dataclass
class ShopPullSummary:
    kind: str
    pages: int = 0
    orders: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)  # first KEEP_PROBLEMS
    cursor: str | None = None


def pull_orders(
    store: Store,
    config: AppConfig,
    source: OrderSource,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    stop: StopCheck = never,
) -> ShopPullSummary:
    kind = config.shop.kind
    summary = ShopPullSummary(kind=kind)
    with store.engine.begin() as conn:
        summary.cursor = cursors.get_cursor(conn, kind, STREAM)
    for page in source.orders(cursor=summary.cursor):
        for problem in page.problems:
            log.warning("skipped a %s order: %s", kind, problem)
        summary.problems += page.problems[: max(0, KEEP_PROBLEMS - len(summary.problems))]
        summary.skipped += len(page.problems)
        with store.engine.begin() as conn:  # the page and the cursor that covers it, together
            write_records(conn, page.orders, source=kind, now_us=to_us(now))
            if kind == "shopify" and page.orders:  # its amounts are shopMoney: in the shop's currency
                record_shop_currency(conn, page.orders[0].currency)
            if page.cursor is not None and page.cursor != summary.cursor:
                cursors.set_cursor(conn, kind, STREAM, page.cursor, now_us=to_us(now))
                summary.cursor = page.cursor
        summary.pages += 1
        summary.orders += len(page.orders)
        log.info("%s pull: page %d stored, %d orders so far (%d skipped), cursor %s", kind, summary.pages,
                 summary.orders, summary.skipped, summary.cursor or "(none yet)")  # fmt: skip
        if progress is not None:
            progress(summary.orders)
        check(stop)  # the page and its cursor are stored
    return summary
