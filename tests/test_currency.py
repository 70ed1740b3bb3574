"""One reporting currency: orders in another are kept as orders but never added into money features."""

from __future__ import annotations

import logging
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from segmail.connector.records import Order, OrderPage
from segmail.jobs.compute import evaluate
from segmail.jobs.config import ConfigError
from segmail.jobs.importer import import_csv
from segmail.jobs.shop_pull import pull_orders
from segmail.store.currency import record_shop_currency, reporting_currency
from segmail.store.schema import orders
from tests.conftest import T
from tests.shop import Shop, config, days


@pytest.fixture
def shop(store):
    return Shop(store)


def foreign(shop: Shop, email: str, total: str, currency: str = "USD") -> None:
    shop.records.append(
        Order(
            order_id=f"usd-{email}-{total}",
            email_key=email,
            created_at=T - days(3),
            total=Decimal(total),
            currency=currency,
            status="paid",
        )
    )


def threshold(shop: Shop, cfg) -> Fraction | None:
    shop.flush(T)
    with shop.store.engine.begin() as conn:
        return evaluate(conn, cfg, as_of=T).stats.top_spenders_threshold(Fraction(10))


def ten_buyers(shop: Shop) -> list[str]:
    buyers = [shop.contact(f"b{i}@example.com") for i in range(1, 11)]
    for i, b in enumerate(buyers, start=1):
        shop.order(b, T - days(5), total=f"{i * 10}.00")  # 10 … 100 EUR
    return buyers


@pytest.mark.parametrize("configured", [{"currency": "EUR"}, {}])
def test_a_foreign_currency_order_does_not_move_the_vip_threshold(shop, configured):
    cfg = config(shop=configured)
    buyers = ten_buyers(shop)
    assert threshold(shop, cfg) == 100
    vip_before = shop.segments(T, cfg)["vip"]
    assert vip_before == {buyers[-1]}
    # a new buyer whose only order is 5,000 USD, another buyer's extra 900 USD: neither is euros
    usd = shop.contact("usd@example.com")
    foreign(shop, usd, "5000.00")
    foreign(shop, buyers[0], "900.00")
    # without [shop] currency the store's most common currency (EUR) is the reporting one
    assert threshold(shop, cfg) == 100
    assert shop.segments(T, cfg)["vip"] == vip_before
    # the USD orders still count as orders
    assert shop.segments(T, cfg)["repeat_buyer"] == {buyers[0]}


def test_the_reporting_currency_decides_which_orders_are_money(shop):
    ten_buyers(shop)
    usd = shop.contact("usd@example.com")
    foreign(shop, usd, "5000.00")
    assert threshold(shop, config(shop={"currency": "USD"})) == 5000
    assert threshold(shop, config(shop={"currency": "EUR"})) == 100


def test_avg_order_value_divides_by_orders_in_the_reporting_currency(shop):
    b = shop.contact("b@example.com")
    shop.order(b, T - days(5), total="10.00")
    foreign(shop, b, "900.00")
    cfg = config(
        {"big_baskets": {"rule": "avg_order_value >= 10 and avg_order_value < 11", "tag": "big"}},
        shop={"currency": "EUR"},
    )
    assert shop.segments(T, cfg)["big_baskets"] == {b}


def test_reporting_currency_resolution(store, caplog):
    with store.engine.begin() as conn:
        assert reporting_currency(conn, None) is None  # no orders: nothing to choose
    shop = Shop(store)
    a = shop.contact("a@example.com")
    shop.order(a, T - days(1))
    shop.order(a, T - days(2))
    foreign(shop, a, "5.00")
    shop.flush(T)
    with store.engine.begin() as conn, caplog.at_level(logging.WARNING):
        assert reporting_currency(conn, None) == "EUR"  # two EUR orders, one USD
        assert "set [shop] currency" in caplog.text
        assert reporting_currency(conn, "GBP") == "GBP"
        record_shop_currency(conn, "USD")  # what a shop API reports wins over the orders
        assert reporting_currency(conn, None) == "USD"


def test_a_shopify_pull_records_the_shop_currency(store):
    class Source:  # a Shopify connector's pages: shopMoney amounts, in the shop's currency
        def pages(self, cursor):
            order = Order(
                order_id="1",
                email_key="a@example.com",
                created_at=T,
                total=Decimal(5),
                currency="CHF",
                status="paid",
            )
            yield OrderPage(orders=[order], problems=[], cursor="c1")

    pull_orders(store, config(shop={"kind": "shopify", "url": "https://x.myshopify.com"}), Source(), now=T)
    with store.engine.begin() as conn:
        assert reporting_currency(conn, None) == "CHF"


def test_an_order_is_converted_when_the_file_gives_the_shop_currency_amount(store, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,email,created_at,total,currency,status,refunded,shop_total\n"
        "1,a@example.com,2026-05-01T10:00:00Z,100.00,USD,partially_refunded,10.00,92.00\n"
        "2,a@example.com,2026-05-02T10:00:00Z,50.00,USD,paid,,\n"
        "3,a@example.com,2026-05-03T10:00:00Z,20.00,EUR,paid,,\n"
    )
    summary = import_csv(store, path, "orders", now=T, shop_currency="EUR")
    assert summary.accepted == 3 and summary.warnings == 1
    (problem,) = summary.problems
    assert (problem.line, problem.severity) == (3, "warning")
    assert (
        "order 2 is in USD, not the shop's EUR (shop.currency), and the file gives no EUR amount"
        in problem.reason
    )
    with store.engine.connect() as conn:
        got = {r.order_id: (r.total_e4, r.refunded_e4, r.currency) for r in conn.execute(select(orders))}
    assert got == {"1": (920_000, 92_000, "EUR"), "2": (500_000, 0, "USD"), "3": (200_000, 0, "EUR")}
    assert dict(summary.currencies) == {"EUR": 2, "USD": 1}


def test_shop_currency_config_is_validated_and_send_currency_follows_it():
    assert config(shop={"currency": "chf"}).shop.currency == "CHF"
    assert config(shop={"currency": "CHF"}).send.currency == "CHF"  # mails show the shop's currency
    assert config().send.currency == "EUR" and config().shop.currency is None
    with pytest.raises(ConfigError) as caught:
        config(shop={"currency": "EURO"})
    assert any(
        p.startswith("shop.currency: 'EURO' is not an ISO 4217 currency code") for p in caught.value.problems
    )
    with pytest.raises(ConfigError) as caught:
        config(shop={"currency": "CHF"}, send={"currency": "EUR"})
    assert any(
        p.startswith("send.currency: 'EUR' differs from shop.currency 'CHF'") for p in caught.value.problems
    )
    assert config(shop={"currency": "CHF"}, send={"currency": "CHF"}).send.currency == "CHF"
