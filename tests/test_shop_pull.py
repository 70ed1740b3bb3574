"""`segmail shop pull` wiring: config and secrets to a connector, pages and cursors into the store."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from segmail.jobs.cli import main
from segmail.jobs.shop_pull import pull_orders
from segmail.jobs.wiring import WiringError, open_shop
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.woocommerce import WooCommerceSandbox
from segmail.store import cursors
from segmail.store.schema import orders
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
    source = open_shop(c, woo_env(woo), sleep=lambda _s: None)
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
    with pytest.raises(WiringError, match="WC_CONSUMER_KEY"):
        open_shop(config(shop={"kind": "woocommerce", "url": woo.base_url}), {})
    with pytest.raises(WiringError, match="import orders FILE"):
        open_shop(config(), {})


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

    from segmail.sandbox.shopify import ShopifySandbox, _schema_path

    assert hashlib.sha256(_schema_path().read_bytes()).hexdigest() == (
        "e76728a6f19a87dbdee2afa2da94985b0e775292a5d96f011929a5bc93f573e3"
    )
    files = generate_shop(tmp_path / "shop", contacts=150, seed=8, as_of=T - timedelta(days=1))
    # a Shopify Plus bucket: `sleep` below does not sleep, so a small bucket would throttle to the end
    with ShopifySandbox(maximum_available=20_000, restore_rate=1_000) as box:
        box.load_orders(files.orders, contacts_csv=files.contacts)
        c = config(shop={"kind": "shopify", "url": box.base_url})
        source = open_shop(c, {"SHOPIFY_ACCESS_TOKEN": box.access_token}, sleep=lambda _s: None)
        try:
            summary = pull_orders(store, c, source, now=T)
        finally:
            source.close()
    with store.engine.connect() as conn:
        stored = conn.execute(select(orders.c.order_id)).all()
    assert summary.orders == len(stored) > 100 and summary.cursor is not None
    with pytest.raises(WiringError, match="SHOPIFY_ACCESS_TOKEN"):
        open_shop(c, {})


def test_each_stored_page_is_one_progress_line(woo, store, caplog):
    caplog.set_level(logging.INFO, logger="segmail.shop")
    c = config(shop={"kind": "woocommerce", "url": woo.base_url, "page_size": 50})
    source = open_shop(c, woo_env(woo), sleep=lambda _s: None)
    try:
        summary = pull_orders(store, c, source, now=T)
    finally:
        source.close()
    lines = [
        r.getMessage() for r in caplog.records if r.name == "segmail.shop" and "stored" in r.getMessage()
    ]
    assert summary.pages > 3 and len(lines) == summary.pages
    assert lines[0].startswith("woocommerce pull: page 1 stored, 50 orders so far")
    assert lines[-1] == (f"woocommerce pull: page {summary.pages} stored, {summary.orders} orders so far "
                         f"({summary.skipped} skipped), cursor {summary.cursor}")  # fmt: skip


@pytest.fixture
def shopify_cli(tmp_path, store_url, monkeypatch):
    """`segmail shop pull --once` against a Shopify sandbox; retries do not sleep."""
    from segmail.sandbox.shopify import ShopifySandbox

    files = generate_shop(tmp_path / "shop", contacts=60, seed=4, as_of=T - timedelta(days=1))
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.setattr("segmail.connector.shopify_graphql.time.sleep", lambda _s: None)

    def run(box: ShopifySandbox, url: str | None = None, token: str | None = None) -> int:
        box.load_orders(files.orders, contacts_csv=files.contacts)
        conf = tmp_path / "segmail.toml"
        conf.write_text(f'[shop]\nkind = "shopify"\nurl = "{url or box.base_url}"\n')
        monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", token or box.access_token)
        return main(["--config", str(conf), "shop", "pull", "--once"])

    return run


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        (
            "unreachable",
            1,
            "Shopify orders count: no response (ConnectionError), on every attempt — check the URL",
        ),
        ("retries exhausted", 1, "Shopify orders count: HTTP 500: Internal Server Error, on every attempt"),
        ("graphql error", 1, "Shopify orders count: GraphQL errors: Internal error. Looks like"),
        ("bad token", 2, "Shopify orders count: HTTP 401"),
    ],
)
def test_cli_shopify_failures_are_one_line_without_a_traceback(shopify_cli, capsys, monkeypatch, case,
                                                                status, says):  # fmt: skip
    from graphql import GraphQLError

    from segmail.sandbox.faults import Faults
    from segmail.sandbox.shopify import ShopifySandbox

    def broken(*_a, **_k):
        raise GraphQLError("Internal error. Looks like something went wrong on our end.")

    faults = Faults(seed=1, rate_500=1.0) if case == "retries exhausted" else None
    with ShopifySandbox(faults=faults) as box:
        if case == "graphql error":
            monkeypatch.setattr(box, "_resolve_count", broken)
        url = "http://127.0.0.1:9" if case == "unreachable" else None  # the discard port: nothing listens
        token = "shpat_wrong_token_for_the_test" if case == "bad token" else None
        assert shopify_cli(box, url=url, token=token) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert says in err and "error:" in err
    assert box.access_token not in err and "shpat_wrong_token_for_the_test" not in err
