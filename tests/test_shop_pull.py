"""`segmail shop pull` wiring: config and secrets to a connector, pages and cursors into the store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.cli import main
from jobs.shop_pull import ShopConfigError, open_source, pull_orders
from sandbox.shopgen import generate_shop
from sandbox.woocommerce import WooCommerceSandbox
from store import cursors
from store.schema import orders
from tests.conftest import T
from tests.shop import config


@pytest.fixture
def woo(tmp_path):
    files = generate_shop(tmp_path / "shop", contacts=200, seed=6, as_of=T - timedelta(days=1))
    with WooCommerceSandbox(clock=lambda: T) as box:
        box.load_orders(files.orders, contacts_csv=files.contacts)
        yield box


def woo_env(box):
    return {"WC_CONSUMER_KEY": box.consumer_key, "WC_CONSUMER_SECRET": box.consumer_secret}


def test_woocommerce_pull_stores_orders_and_saves_the_cursor_with_each_page(woo, store):
    c = config(shop={"kind": "woocommerce", "url": woo.base_url})
    source = open_source(c, woo_env(woo), sleep=lambda _s: None)
    try:
        summary = pull_orders(store, c, source, now=T)
    finally:
        source.close()
    with store.engine.connect() as conn:
        stored = conn.execute(select(orders.c.order_id, orders.c.source)).all()
        cursor = cursors.get_cursor(conn, "woocommerce", "orders")
    assert summary.orders + summary.skipped == len(woo.orders)
    assert len(stored) == summary.orders and {s for _, s in stored} == {"woocommerce"}
    assert cursor == summary.cursor and cursor is not None


def test_missing_secrets_and_urls_are_one_clear_error(woo):
    with pytest.raises(ShopConfigError, match="WC_CONSUMER_KEY"):
        open_source(config(shop={"kind": "woocommerce", "url": woo.base_url}), {})
    with pytest.raises(ShopConfigError, match="import orders FILE"):
        open_source(config(), {})


def test_cli_shop_pull_once(woo, store_url, tmp_path, monkeypatch, capsys):
    conf = tmp_path / "segmail.toml"
    conf.write_text(f'[shop]\nkind = "woocommerce"\nurl = "{woo.base_url}"\n')
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    for k, v in woo_env(woo).items():
        monkeypatch.setenv(k, v)
    assert main(["--config", str(conf), "shop", "pull", "--once"]) == 0
    assert "woocommerce:" in capsys.readouterr().out
    monkeypatch.setenv("WC_CONSUMER_SECRET", "cs_wrong")
    assert main(["--config", str(conf), "shop", "pull", "--once"]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "cs_wrong" not in err


def test_shopify_pull_through_the_job(tmp_path, store):
    import hashlib

    from sandbox.shopify import ShopifySandbox, _schema_path

    assert hashlib.sha256(_schema_path().read_bytes()).hexdigest() == (
        "e76728a6f19a87dbdee2afa2da94985b0e775292a5d96f011929a5bc93f573e3"
    )
    files = generate_shop(tmp_path / "shop", contacts=150, seed=8, as_of=T - timedelta(days=1))
    # a Shopify Plus bucket: `sleep` below does not sleep, so a small bucket would throttle to the end
    with ShopifySandbox(maximum_available=20_000, restore_rate=1_000) as box:
        box.load_orders(files.orders, contacts_csv=files.contacts)
        c = config(shop={"kind": "shopify", "url": box.base_url})
        source = open_source(c, {"SHOPIFY_ACCESS_TOKEN": box.access_token}, sleep=lambda _s: None)
        try:
            summary = pull_orders(store, c, source, now=T)
        finally:
            source.close()
    with store.engine.connect() as conn:
        stored = conn.execute(select(orders.c.order_id)).all()
    assert summary.orders == len(stored) > 100 and summary.cursor is not None
    with pytest.raises(ShopConfigError, match="SHOPIFY_ACCESS_TOKEN"):
        open_source(c, {})
