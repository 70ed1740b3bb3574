"""A shop pull after `forget`: the erased buyer's orders are dropped and counted, never stored again, and
an order WordPress has anonymised (`deleted@site.invalid`) is nobody's."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from segmail.jobs.privacy import ErasureRequest, erase
from segmail.jobs.shop_pull import pull_orders
from segmail.jobs.wiring import open_shop
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.woocommerce import WooCommerceSandbox
from segmail.store.erasure import ERASED_PREFIX
from segmail.store.schema import cursors, orders
from tests.conftest import T
from tests.shop import config


@pytest.fixture
def woo(tmp_path):
    files = generate_shop(tmp_path / "shop", contacts=80, seed=9, as_of=T - timedelta(days=1))
    with WooCommerceSandbox(clock=lambda: T) as box:
        box.load_orders(files.orders, contacts_csv=files.contacts)
        yield box


def pull(woo, store, c):
    env = {"WC_CONSUMER_KEY": woo.consumer_key, "WC_CONSUMER_SECRET": woo.consumer_secret}
    source = open_shop(c, env, sleep=lambda _s: None)
    try:
        return pull_orders(store, c, source, now=T)
    finally:
        source.close()


def owners(store) -> Counter[str]:
    with store.engine.connect() as conn:
        return Counter(conn.execute(select(orders.c.email_key)).scalars())


def test_a_shop_pull_does_not_bring_an_erased_buyer_back(woo, store, caplog):
    c = config(shop={"kind": "woocommerce", "url": woo.base_url})
    first = pull(woo, store, c)
    buyer, n = owners(store).most_common(1)[0]
    total = sum(owners(store).values())
    erase(store, c, ErasureRequest(emails=(buyer,)), now=T, command="test", api=None, mode="skip")
    with store.engine.begin() as conn:  # read the whole shop again, as a first import would
        conn.execute(delete(cursors))
    caplog.set_level(logging.INFO, logger="segmail.shop")
    again = pull(woo, store, c)
    assert again.suppressed == n and again.orders == first.orders - n
    assert buyer not in owners(store)
    assert sum(owners(store).values()) == total  # her anonymous orders plus everyone else's: nothing twice
    assert sum(v for k, v in owners(store).items() if k.startswith(ERASED_PREFIX)) == n
    assert any(f"({again.skipped} skipped, {n} suppressed)" in r.getMessage() for r in caplog.records)


def test_an_order_wordpress_anonymised_is_skipped(woo, store):
    c = config(shop={"kind": "woocommerce", "url": woo.base_url})
    pull(woo, store, c)
    order_id = next(iter(woo.orders))
    woo.edit_order(order_id, billing={**woo.orders[order_id]["billing"], "email": "deleted@site.invalid"})
    again = pull(woo, store, c)
    assert again.skipped >= 1 and any("anonymised placeholder" in p for p in again.problems)
    with store.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).where(orders.c.email_key == "deleted@site.invalid")).scalar()
            == 0
        )
