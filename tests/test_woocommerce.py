"""The WooCommerce connector against the WooCommerce sandbox over real HTTP: paging, resuming, fallback, errors."""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from segmail.connector.http import ConfigurationError
from segmail.connector.records import OrderPage
from segmail.connector.woocommerce import (
    BY_CREATED,
    BY_MODIFIED,
    MAX_UTC_OFFSET,
    WooCommerceClient,
    WooSettings,
)
from segmail.sandbox.faults import Faults
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.woocommerce import WooCommerceSandbox

T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)  # the first order's creation
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the sandbox clock, for edits


def gmt(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def woo_order(order_id: int, *, minutes: int | None = None, **changes) -> dict:
    at = gmt(T0 + timedelta(minutes=order_id if minutes is None else minutes))
    order = {
        "id": order_id,
        "status": "completed",
        "currency": "EUR",
        "date_created_gmt": at,
        "date_modified_gmt": at,
        "total": "59.90",
        "customer_id": 0,
        "billing": {"email": f" Buyer{order_id}@Example.com ", "country": "DE", "state": ""},
        "shipping": {"country": "AT", "state": ""},
        "line_items": [],
        "refunds": [],
    }
    order.update(changes)
    return order


@pytest.fixture
def sandbox() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(clock=lambda: NOW) as sb:
        yield sb


def client_for(sb: WooCommerceSandbox, *, secret: str | None = None, **kw) -> WooCommerceClient:
    settings = WooSettings(
        base_url=sb.base_url,
        consumer_key=sb.consumer_key,
        consumer_secret=secret or sb.consumer_secret,
        **kw,
    )
    return WooCommerceClient(settings, sleep=lambda s: None)


def pull(
    sb: WooCommerceSandbox, cursor: str | None = None, **kw
) -> tuple[list[OrderPage], WooCommerceClient]:
    client = client_for(sb, **kw)
    try:
        return list(client.pages(cursor=cursor)), client
    finally:
        client.close()


def orders_of(pages: list[OrderPage]) -> dict[str, object]:
    return {o.order_id: o for p in pages for o in p.orders}


# https://woocommerce.github.io/woocommerce-rest-api-docs/#pagination (per_page, page, X-WP-TotalPages) and
# #list-all-orders (orderby=modified, order=asc, dates_are_gmt); Basic auth over HTTPS: #authentication-over-https.
def test_pages_to_the_end_in_ascending_modified_order(sandbox):
    for n in range(1, 251):
        sandbox.add_order(woo_order(n))
    pages, client = pull(sandbox)
    assert [len(p.orders) for p in pages] == [100, 100, 50]
    assert client.stats.requests == 3 == len(sandbox.requests_log)
    assert [p.cursor for p in pages] == [gmt(T0 + timedelta(minutes=m)) + "+00:00" for m in (100, 200, 250)]
    first = sandbox.requests_log[0]
    assert first.path == "/wp-json/wc/v3/orders"
    assert {k: v[0] for k, v in first.query.items()} == {
        "per_page": "100", "page": "1", "orderby": "modified", "order": "asc", "dates_are_gmt": "true",
    }  # fmt: skip
    user = base64.b64decode(first.headers["Authorization"].split()[1]).decode().split(":")[0]
    assert user == sandbox.consumer_key
    assert all("consumer" not in str(r.query) for r in sandbox.requests_log)
    order = orders_of(pages)["7"]
    assert order.email_key == "buyer7@example.com"
    assert order.created_at == T0 + timedelta(minutes=7)
    assert (order.total, order.currency, order.status, order.country) == (
        Decimal("59.90"),
        "EUR",
        "completed",
        "DE",
    )


def test_resume_returns_only_changed_orders_with_refunds(sandbox):
    for n in range(1, 31):
        sandbox.add_order(woo_order(n, minutes=60 * n))  # an hour apart: only #30 is in the look-back
    pages, _ = pull(sandbox)
    cursor = pages[-1].cursor
    sandbox.edit_order(5, status="cancelled")
    sandbox.refund(7, "5.00")
    again, _ = pull(sandbox, cursor)
    changed = orders_of(again)
    assert set(changed) == {"5", "7", "30"}
    assert changed["5"].status == "cancelled"
    assert (changed["7"].refunded, changed["7"].status) == (Decimal("5.00"), "completed")
    assert again[-1].cursor == NOW.isoformat()
    bound = datetime.fromisoformat(cursor) - timedelta(minutes=10)
    assert sandbox.requests_log[-1].query["modified_after"] == [gmt(bound)]
    reread, _ = pull(sandbox, again[-1].cursor)
    assert set(orders_of(reread)) == {"5", "7"} and reread[-1].cursor == NOW.isoformat()


# WooCommerce's changelog (https://github.com/woocommerce/woocommerce/blob/trunk/changelog.txt): `modified_after`
# came in 5.8, `dates_are_gmt` in 5.4, `orderby=modified` in 4.4. A 4.3 store refuses `orderby=modified` (400);
# a 5.7 store ignores `modified_after` and serves orders older than the bound. Either way the read restarts by
# creation time (https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders: `after`, "published
# after a given ISO8601 compliant date"), moved back 14 h more, since a store may read it in its own time zone.
@pytest.mark.parametrize(("version", "first_status"), [("4.3", 400), ("5.7", 200)])
def test_a_store_without_modified_after_is_read_by_creation_time(version, first_status):
    with WooCommerceSandbox(version=version, clock=lambda: NOW) as sb:
        for n in range(1, 41):
            sb.add_order(woo_order(n, minutes=60 * n))  # an hour apart
        cursor = (T0 + timedelta(hours=30)).isoformat()
        pages, client = pull(sb, cursor)
    assert client.window is BY_CREATED
    bound = T0 + timedelta(hours=30) - timedelta(minutes=10) - MAX_UTC_OFFSET
    assert sorted(map(int, orders_of(pages))) == list(range(16, 41))  # created after 15:50 h
    rejected, used = sb.requests_log
    assert (rejected.status, "modified_after" in rejected.query) == (first_status, True)
    assert used.query["after"] == [gmt(bound)] and used.query["orderby"] == ["date"]
    assert pages[-1].cursor == (T0 + timedelta(hours=40)).isoformat()


# A store older than 5.4 has no `dates_are_gmt`: WordPress compares the naive bound with `date_created`, the
# site's wall clock (#order-properties: "in the site's timezone"). At UTC-5 the bound lands 5 h late; the
# 14 h widening keeps every order created after the cursor.
def test_a_store_without_dates_are_gmt_misses_nothing_west_of_greenwich():
    with WooCommerceSandbox(version="5.3", utc_offset=timedelta(hours=-5), clock=lambda: NOW) as sb:
        for n in range(1, 41):
            sb.add_order(woo_order(n, minutes=60 * n))
        pages, client = pull(sb, (T0 + timedelta(hours=30)).isoformat())
    assert client.window is BY_CREATED
    # bound 15:50 read as local (20:50 GMT): 21..40, which holds every order created after the cursor (30..40)
    assert sorted(map(int, orders_of(pages))) == list(range(21, 41))


# WooCommerce 5.8+: `modified_after` with `dates_are_gmt=true` compares a naive GMT bound with
# `date_modified_gmt`, whatever the site's time zone (#list-all-orders, `dates_are_gmt`).
@pytest.mark.parametrize("offset_h", [-5, 0, 2])
def test_resume_is_exact_in_any_site_time_zone(offset_h):
    with WooCommerceSandbox(utc_offset=timedelta(hours=offset_h), clock=lambda: NOW) as sb:
        for n in range(1, 31):
            sb.add_order(woo_order(n, minutes=60 * n))
        cursor = (T0 + timedelta(hours=20)).isoformat()
        pages, client = pull(sb, cursor)
    assert client.window is BY_MODIFIED
    assert sorted(map(int, orders_of(pages))) == list(range(20, 31))  # modified after 19:50 h GMT


def test_rate_limits_and_server_errors_are_retried():
    faults = Faults(seed=7, rate_429=0.25, rate_500=0.25)
    with WooCommerceSandbox(faults=faults, clock=lambda: NOW) as sb:
        for n in range(1, 251):
            sb.add_order(woo_order(n))
        sleeps: list[float] = []
        settings = WooSettings(base_url=sb.base_url, consumer_key=sb.consumer_key,
                               consumer_secret=sb.consumer_secret, attempts=10)  # fmt: skip
        client = WooCommerceClient(settings, sleep=sleeps.append)
        try:
            pages = list(client.pages(cursor=None))
        finally:
            client.close()
    assert len(orders_of(pages)) == 250
    assert sb.faults_injected["429"] >= 1 and sb.faults_injected["500"] >= 1
    assert client.stats.retries == sum(sb.faults_injected.values()) == len(sleeps)
    assert 1.0 in sleeps  # Retry-After: 1 honoured


# https://woocommerce.github.io/woocommerce-rest-api-docs/#errors: 401 "Authentication or permission error,
# e.g. incorrect API keys", body {code, message, data}.
def test_wrong_secret_is_one_configuration_error_without_the_secret(sandbox):
    sandbox.add_order(woo_order(1))
    secret = "cs_wrong_secret_123456"
    with pytest.raises(ConfigurationError, match=r"refused the consumer key/secret \(401\)") as info:
        pull(sandbox, secret=secret)
    assert secret not in str(info.value) and sandbox.consumer_key not in str(info.value)
    assert len(sandbox.requests_log) == 1


def test_malformed_orders_are_reported_and_skipped(sandbox):
    sandbox.add_order(woo_order(1))
    sandbox.add_order(woo_order(2, billing={"email": "not-an-email"}))
    sandbox.add_order(woo_order(3, date_created_gmt="2025-13-45T10:00:00"))
    sandbox.add_order(woo_order(4, status="vip"))
    sandbox.add_order(woo_order(5, total="12,3x"))
    sandbox.add_order(woo_order(6, customer_id=12, billing={"email": "a@example.com", "country": ""},
                                shipping={"country": "US", "state": "ca"}))  # fmt: skip
    (page,), _ = pull(sandbox)
    assert [o.order_id for o in page.orders] == ["1", "6"]
    assert [p.split(":")[0] for p in page.problems] == ["order 2", "order 3", "order 4", "order 5"]
    assert "vip" in page.problems[2] and not any("@" in p for p in page.problems)
    assert (page.orders[1].country, page.orders[1].province) == ("US", "CA")
    assert page.cursor == gmt(T0 + timedelta(minutes=6)) + "+00:00"  # skipped orders still move it


def test_serves_the_generated_shop(tmp_path, sandbox):
    files = generate_shop(tmp_path, contacts=40, seed=3, as_of=T0)
    assert files.contacts is not None
    loaded = sandbox.load_orders(files.orders, contacts_csv=files.contacts)
    with files.orders.open(encoding="utf-8", newline="") as f:
        rows = {r["order_id"].lstrip("#"): r for r in csv.DictReader(f)}
    pages, _ = pull(sandbox)
    got = orders_of(pages)
    assert loaded == len(rows) == len(got) and not any(p.problems for p in pages)
    for order_id, order in got.items():
        row = rows[order_id]
        assert order.email_key == row["email"].strip().lower()
        assert (order.total, order.refunded) == (Decimal(row["total"]), Decimal(row["refunded"]))
        assert order.created_at == datetime.fromisoformat(row["created_at"])
    assert any(o.country for o in got.values())


# "per_page ... an integer from 1 to 100" (https://developer.wordpress.org/rest-api/using-the-rest-api/pagination/);
# Basic auth only over HTTPS (https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication-over-https).
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base_url": "http://shop.example"}, "base_url must use https"),
        ({"page_size": 140}, "page_size must be between 1 and 100, got 140"),
        ({"consumer_secret": " "}, "consumer_secret must not be empty"),
    ],
)
def test_settings_name_the_bad_field(changes, message):
    values = {"base_url": "https://shop.example", "consumer_key": "ck_x", "consumer_secret": "cs_y"} | changes
    with pytest.raises(ValueError, match=message):
        WooSettings(**values)


def test_the_default_window_is_by_modified(sandbox):
    _, client = pull(sandbox)
    assert client.window is BY_MODIFIED


def test_an_empty_read_keeps_the_cursor(sandbox):
    sandbox.add_order(woo_order(1))
    cursor = NOW.isoformat()
    pages, client = pull(sandbox, cursor)
    assert [(p.orders, p.problems, p.cursor) for p in pages] == [([], [], cursor)]
    assert client.stats.requests == 1
