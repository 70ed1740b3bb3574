"""The Shopify connector against the GraphQL sandbox: paging, resume, throttling, bulk, scopes, bad rows."""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from graphql import parse, validate

from segmail.connector.http import ApiError, ConfigurationError
from segmail.connector.records import Order, OrderPage
from segmail.connector.shop_status import status_map
from segmail.connector.shopify import (
    BULK_ORDERS_QUERY,
    BULK_POLL_QUERY,
    BULK_RUN_MUTATION,
    ORDERS_COUNT_QUERY,
    ORDERS_QUERY,
    ShopifyClient,
    ShopifySettings,
    parse_order,
)
from segmail.connector.shopify_queries import PagePlan
from segmail.sandbox.faults import Faults
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.shopify import GRAPHQL_PATH, ShopifySandbox, load_schema

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TOKEN = "shpat_0123456789abcdef_secret"


@dataclass
class FakeTime:
    """One clock for the sandbox's bucket and the client; `sleep` only moves it forward."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class WallDate:
    """The sandbox's calendar time, moved by hand."""

    value: datetime = AS_OF + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.value


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    files = generate_shop(
        tmp_path_factory.mktemp("shop"), contacts=120, seed=11, as_of=AS_OF, messy_rows=True
    )
    assert files.contacts is not None
    return files.orders, files.contacts


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
def wall() -> WallDate:
    return WallDate()


def make_sandbox(shop: tuple[Path, Path], ft: FakeTime, wall: WallDate, **kwargs) -> ShopifySandbox:
    kwargs.setdefault("access_token", TOKEN)
    sandbox = ShopifySandbox(clock=ft.clock, now=wall, seed=5, **kwargs)
    sandbox.load_orders(*shop)
    return sandbox


@pytest.fixture
def sandbox(shop, ft, wall) -> Iterator[ShopifySandbox]:
    with make_sandbox(shop, ft, wall) as sb:
        yield sb


def client_for(sb: ShopifySandbox, ft: FakeTime, **kwargs) -> ShopifyClient:
    kwargs.setdefault("page_size", 25)
    kwargs.setdefault("bulk_threshold", 10_000)
    kwargs.setdefault("access_token", TOKEN)
    settings = ShopifySettings(shop_url=sb.base_url, bulk_poll_s=2.0, **kwargs)
    return ShopifyClient(settings, sleep=ft.sleep, clock=ft.clock)


def pull(sb: ShopifySandbox, ft: FakeTime, cursor: str | None = None, **kwargs) -> list[OrderPage]:
    with client_for(sb, ft, **kwargs) as client:
        return list(client.pages(cursor=cursor))


def all_orders(pages: list[OrderPage]) -> dict[str, Order]:
    return {o.order_id: o for page in pages for o in page.orders}


def graphql_queries(sb: ShopifySandbox) -> list[str]:
    return [e.graphql["query"] for e in sb.requests_log if e.path == GRAPHQL_PATH and "query" in e.graphql]


def csv_rows(shop: tuple[Path, Path]) -> dict[str, dict[str, str]]:
    with open(shop[0], encoding="utf-8", newline="") as f:
        return {row["order_id"].lstrip("#"): row for row in csv.DictReader(f)}


# ---- queries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", [ORDERS_QUERY, ORDERS_COUNT_QUERY, BULK_ORDERS_QUERY, BULK_RUN_MUTATION, BULK_POLL_QUERY]
)
def test_every_query_constant_validates_against_the_2025_01_schema(query: str) -> None:
    assert validate(load_schema(), parse(query)) == []


def test_sandbox_rejects_an_invalid_query_like_shopify(sandbox, ft) -> None:
    with client_for(sandbox, ft) as client, pytest.raises(ApiError, match="Cannot query field 'bogus'"):
        client.call("probe", "{ orders(first: 1) { nodes { bogus } } }", {})


# ---- paging -------------------------------------------------------------------------------------
# Cursor paging with first/after and pageInfo { hasNextPage endCursor }, at most 250 per page:
# https://shopify.dev/docs/api/usage/pagination-graphql; `updated_at:>` search syntax:
# https://shopify.dev/docs/api/admin-graphql/2025-01/queries/orders


def test_pages_to_the_end_with_every_order_mapped(sandbox, ft, shop) -> None:
    pages = pull(sandbox, ft)
    orders = all_orders(pages)
    problems = [p for page in pages for p in page.problems]
    assert len(orders) + len(problems) == len(sandbox.order_numbers())
    assert all(len(page.orders) + len(page.problems) <= 25 for page in pages)
    cursors = [page.cursor for page in pages]
    assert cursors == sorted(cursors) and cursors[-1] is not None

    rows = csv_rows(shop)
    for oid, order in orders.items():
        row = rows[oid]
        assert order.total == Decimal(row["total"]) and order.refunded == Decimal(row["refunded"])
        assert order.currency == row["currency"]
        assert order.categories == tuple(sorted(set(row["categories"].split("|"))))
        expected = {"completed": "paid", "processing": "paid"}.get(row["status"], row["status"])
        assert order.status == expected
        assert order.created_at.tzinfo is not None
    assert sum(o.country is not None for o in orders.values()) > len(orders) / 2
    assert any(o.province for o in orders.values())
    # every query the client sent is valid 2025-01 GraphQL
    assert all(validate(load_schema(), parse(q)) == [] for q in graphql_queries(sandbox))


def test_malformed_orders_are_skipped_and_reported_without_emails(sandbox, ft) -> None:
    sandbox.edit_order(100_001, financial_status="EXPIRED", email=None)
    pages = pull(sandbox, ft)
    problems = [p for page in pages for p in page.problems]
    assert "order 100001: no email (protected customer data not granted?)" in problems
    reasons = " | ".join(problems)
    for fragment in ("is not a decimal amount", "is not an ISO 8601", "email is not a valid address",
                     "exceeds total", "has no UTC offset"):  # fmt: skip
        assert fragment in reasons
    assert all(p.startswith("order ") and "@" not in p for p in problems)


def test_resume_returns_only_changed_orders_with_the_refund(sandbox, ft, wall) -> None:
    first = pull(sandbox, ft)
    cursor = first[-1].cursor
    before = all_orders(first)
    target, other = sorted(before)[3], sorted(before)[7]
    wall.value += timedelta(hours=2)
    sandbox.refund(int(target), "5.00")
    sandbox.edit_order(int(other), categories=("hats",))

    again = pull(sandbox, ft, cursor=cursor, lookback=timedelta(0))
    changed = all_orders(again)
    assert set(changed) == {target, other}
    assert changed[target].refunded == before[target].refunded + Decimal("5.00")
    assert changed[target].status in ("partially_refunded", "refunded")
    assert changed[other].categories == ("hats",)
    assert again[-1].cursor is not None and again[-1].cursor > str(cursor)
    # written twice (look-back re-reads) is the same record: keyed by order id, nothing double-counted
    with_lookback = all_orders(pull(sandbox, ft, cursor=cursor))
    assert {target, other} <= set(with_lookback)
    assert with_lookback[target] == changed[target]
    query = [q for e in sandbox.requests_log if (q := e.graphql.get("variables", {}).get("query"))][-1]
    assert query.startswith("updated_at:>'") and query.endswith("Z'")


# ---- throttling ---------------------------------------------------------------------------------
# A leaky bucket of cost points per app and store, its state in extensions.cost.throttleStatus
# (maximumAvailable, currentlyAvailable, restoreRate): https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits;
# a throttled answer is errors[].extensions.code == "THROTTLED" (shared/contracts/shops.md §A4).


def test_a_small_bucket_makes_the_client_wait_instead_of_being_throttled(shop, ft, wall) -> None:
    with make_sandbox(shop, ft, wall, maximum_available=100.0, restore_rate=10.0) as sb:
        with client_for(sb, ft, page_size=10) as client:
            pages = list(client.pages(cursor=None))
            assert client.stats.throttle_waits > 0
        assert sb.throttled == 0
        assert sb.lowest_available >= 0
    assert sum(len(p.orders) + len(p.problems) for p in pages) == len(sb.order_numbers())
    assert ft.sleeps and max(ft.sleeps) <= 100 / 10


def test_a_throttled_error_is_waited_out_and_retried(sandbox, ft) -> None:
    sandbox.drain(0.0)  # another client emptied the bucket; the client has not seen it yet
    with client_for(sandbox, ft) as client:
        pages = list(client.pages(cursor=None))
        assert client.stats.throttled_errors == sandbox.throttled >= 1
    assert sum(len(p.orders) + len(p.problems) for p in pages) == len(sandbox.order_numbers())
    outcomes = ["THROTTLED" in (e.response_body or b"").decode() for e in sandbox.requests_log]
    assert not any(a and b for a, b in pairwise(outcomes))  # waited, then got through
    assert ft.sleeps[0] > 0


def test_http_faults_are_retried_through_the_policy(shop, ft, wall) -> None:
    faults = Faults(seed=3, rate_429=0.15, rate_500=0.15)
    with make_sandbox(shop, ft, wall, faults=faults) as sb:
        pages = pull(sb, ft)
        injected = [e.fault for e in sb.requests_log if e.fault]
        assert sum(len(p.orders) + len(p.problems) for p in pages) == len(sb.order_numbers())
    assert "429" in injected and "500" in injected
    assert ft.sleeps


# ---- bulk ---------------------------------------------------------------------------------------
# bulkOperationRunQuery, currentBulkOperation polling and JSONL children with __parentId in no
# promised order: https://shopify.dev/docs/api/usage/bulk-operations/queries


def test_bulk_import_with_children_out_of_order_matches_paging(sandbox, ft) -> None:
    paged = pull(sandbox, ft)
    with client_for(sandbox, ft, bulk_threshold=0) as client:
        bulk = list(client.pages(cursor=None))
        assert client.pull.bulk
    assert all_orders(bulk) == all_orders(paged)
    assert sorted(p for page in bulk for p in page.problems) == sorted(
        p for page in paged for p in page.problems
    )
    assert [page.cursor for page in bulk[:-1]] == [None] * (len(bulk) - 1)
    assert bulk[-1].cursor == paged[-1].cursor
    assert all(len(page.orders) + len(page.problems) <= 25 for page in bulk)

    download = next(e for e in sandbox.requests_log if e.path.startswith("/bulk-results/"))
    assert TOKEN not in json.dumps(download.headers)  # the pre-signed URL gets no token
    lines = [json.loads(line) for line in (download.response_body or b"").splitlines()]
    position = {line["id"]: n for n, line in enumerate(lines) if "__parentId" not in line}
    children = [(n, line["__parentId"]) for n, line in enumerate(lines) if "__parentId" in line]
    assert any(n < position[parent] for n, parent in children)  # some child precedes its parent
    statuses = [e.json["data"]["currentBulkOperation"]["status"] for e in sandbox.requests_log
                if e.json and "currentBulkOperation" in (e.json.get("data") or {})]  # fmt: skip
    assert statuses == ["RUNNING", "COMPLETED"]
    assert all(validate(load_schema(), parse(q)) == [] for q in graphql_queries(sandbox))
    inner = [e.graphql["variables"]["query"] for e in sandbox.requests_log if "bulkOperationRunQuery" in
             e.graphql.get("query", "")]  # fmt: skip
    assert inner and validate(load_schema(), parse(inner[0])) == []


def test_first_import_of_a_small_shop_pages_instead_of_bulk(sandbox, ft) -> None:
    with client_for(sandbox, ft, bulk_threshold=10_000) as client:
        list(client.pages(cursor=None))
        assert not client.pull.bulk
    assert not any("bulkOperationRunQuery" in q for q in graphql_queries(sandbox))


# ---- access -------------------------------------------------------------------------------------


def test_a_bad_token_is_one_configuration_error_without_the_token(sandbox, ft) -> None:
    client = client_for(sandbox, ft, access_token="shpat_wrong_token_value")
    with client, pytest.raises(ConfigurationError, match="read_orders") as caught:
        list(client.pages(cursor=None))
    assert "shpat_wrong_token_value" not in str(caught.value)
    assert len(sandbox.requests_log) == 1 and sandbox.requests_log[0].status == 401


@pytest.mark.parametrize("bulk_threshold", [0, 10_000])
def test_a_missing_scope_is_a_configuration_error_naming_it(shop, ft, wall, bulk_threshold) -> None:
    with make_sandbox(shop, ft, wall, scopes={"read_products"}) as sb:
        with client_for(sb, ft, bulk_threshold=bulk_threshold) as client:
            pages: list[OrderPage] = []
            with pytest.raises(ConfigurationError, match=r"read_orders.*read_all_orders.*level 2") as caught:
                pages.extend(client.pages(cursor=None))
        assert pages == [] and len(sb.requests_log) == 1
    assert TOKEN not in str(caught.value)


def test_redacted_customer_data_is_reported_per_order(shop, ft, wall) -> None:
    with make_sandbox(shop, ft, wall, protected_customer_data=False) as sb:
        pages = pull(sb, ft)
    assert all_orders(pages) == {}
    problems = [p for page in pages for p in page.problems]
    assert sum("protected customer data not granted" in p for p in problems) >= len(problems) - 5


def test_settings_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="page_size must be between 1 and 250, got 300"):
        ShopifySettings(shop_url="https://example.myshopify.com", access_token="x", page_size=300)


def test_a_bulk_operation_left_running_by_a_crashed_pull_is_adopted(sandbox, ft) -> None:
    with client_for(sandbox, ft, bulk_threshold=0) as crashed:  # started the operation, then died
        started = crashed.call("bulk operation start", BULK_RUN_MUTATION, {"query": BULK_ORDERS_QUERY})
    assert started["bulkOperationRunQuery"]["userErrors"] == []
    with client_for(sandbox, ft, bulk_threshold=0) as client:
        pages = list(client.pages(cursor=None))
    assert all_orders(pages) == all_orders(pull(sandbox, ft))
    runs = [e for e in sandbox.requests_log if "bulkOperationRunQuery" in e.graphql.get("query", "")]
    assert len(runs) == 2  # the second was told "already in progress" and polled the first one


def test_bulk_import_in_many_partitions_matches_paging(sandbox, ft, monkeypatch) -> None:
    import segmail.connector.shopify_bulk as bulk_module

    monkeypatch.setattr(bulk_module, "PARTITION_BYTES", 4_000)  # dozens of partitions for this shop
    with client_for(sandbox, ft, bulk_threshold=0) as client:
        bulk = list(client.pages(cursor=None))
    paged = pull(sandbox, ft)
    assert all_orders(bulk) == all_orders(paged)
    assert bulk[-1].cursor == paged[-1].cursor and all(p.cursor is None for p in bulk[:-1])


# ---- the query-cost limit -----------------------------------------------------------------------
# https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits: "A single query may not exceed
# a cost of 1,000 points"; the sandbox prices every query by that page's rule (tests/test_shopify_cost.py).


def _requested_costs(sb: ShopifySandbox) -> list[int]:
    costs = []
    for e in sb.requests_log:
        body = e.json or {}
        assert "MAX_COST_EXCEEDED" not in json.dumps(body.get("errors") or [])
        if (body.get("extensions") or {}).get("cost"):
            costs.append(body["extensions"]["cost"]["requestedQueryCost"])
    return costs


@pytest.mark.parametrize("page_size", [250, 100])
def test_no_query_goes_over_the_limit_and_pages_are_sized_by_cost(sandbox, ft, page_size) -> None:
    with client_for(sandbox, ft, page_size=page_size) as client:
        pages = list(client.pages(cursor=None))
        assert client.pull.page == PagePlan(orders=33, line_items=10, cost=992)  # 2 + 33 * (10 + 2*10)
    costs = _requested_costs(sandbox)
    assert max(costs) == 992 and all(c <= 1000 for c in costs)
    assert max(len(p.orders) + len(p.problems) for p in pages) == 33
    firsts = {
        e.graphql["variables"]["first"]
        for e in sandbox.requests_log
        if "SegmailOrders(" in e.graphql.get("query", "")
    }
    assert firsts == {33}


def test_an_order_with_more_line_items_than_a_page_holds_gets_them_all(sandbox, ft) -> None:
    kinds = tuple(f"kind {k:02d}" for k in range(60))  # 60 line items, one product type each
    sandbox.edit_order(100_002, categories=kinds)
    with client_for(sandbox, ft, page_size=100) as client:
        orders = all_orders(list(client.pages(cursor=None)))
        assert client.pull.line_item_requests == 1  # 10 with the order, the other 50 in one follow-up
    assert orders["100002"].categories == kinds
    follow_ups = [e for e in sandbox.requests_log if "SegmailOrderLineItems" in e.graphql.get("query", "")]
    assert [e.graphql["variables"]["first"] for e in follow_ups] == [250]  # 3 + 2 * 250 = 503 points
    assert all(c <= 1000 for c in _requested_costs(sandbox))


def test_a_page_shopify_prices_above_the_limit_is_asked_again_smaller(shop, ft, wall, caplog) -> None:
    caplog.set_level(logging.INFO, logger="segmail.connector.shopify")
    # Shopify "reserves the right to set manual costs on fields": customer at 5 points, not 1, makes
    # the default page 992 + 33 * 4 = 1124 points, which Shopify refuses
    with make_sandbox(shop, ft, wall, field_costs={"Order.customer": 5}) as sb:
        with client_for(sb, ft, page_size=100) as client:
            pages = list(client.pages(cursor=None))
            plan = client.pull.page
        refused = [e for e in sb.requests_log if b"MAX_COST_EXCEEDED" in (e.response_body or b"")]
        assert len(refused) == 1
        assert sum(len(p.orders) + len(p.problems) for p in pages) == len(sb.order_numbers())
    # 1124 / 992 of the rule: the budget is 1000 * 992 / 1124 = 882 rule points, (882 - 2) // 30 = 29
    # orders; Shopify then charges 2 + 29 * 34 = 988
    assert plan == PagePlan(orders=29, line_items=10, cost=872)
    assert "costs 1124 points, not the 992 of the documented rule" in caplog.text


def test_a_higher_reported_cost_is_logged_and_paced_by(shop, ft, wall, caplog) -> None:
    caplog.set_level(logging.INFO, logger="segmail.connector.shopify")
    # page_size 10 leaves room for 44 line items: 2 + 10 * (10 + 88) = 982 by the rule; Shopify charges
    # 992 (customer at 2). Accepted, so 1000 * 982 / 992 = 989 rule points still hold the same page,
    # but the bucket is now waited on for Shopify's 992, not the rule's 982
    with make_sandbox(shop, ft, wall, field_costs={"Order.customer": 2}) as sb:
        with client_for(sb, ft, page_size=10) as client:
            list(client.pages(cursor=None))
        costs = _requested_costs(sb)
        assert sb.throttled == 0
    assert max(costs) == 992
    assert "the orders page costs 992 points, not the 982 of the documented rule" in caplog.text
    waits = [r.getMessage() for r in caplog.records if "before the orders page" in r.getMessage()]
    assert waits and all("costs about 992 points" in w for w in waits)


def test_the_bulk_decision_reads_the_count_precision(sandbox, ft) -> None:
    n = len(sandbox.order_numbers())
    for threshold, bulk in ((n - 1, True), (n, False), (10_000, False)):
        with client_for(sandbox, ft, bulk_threshold=threshold) as client:
            list(client.pages(cursor=None))
            assert client.pull.bulk is bulk, threshold
    limits = [
        e.graphql["variables"]["limit"]
        for e in sandbox.requests_log
        if "ordersCount" in e.graphql.get("query", "")
    ]
    assert limits == [n, n + 1, 10_000]  # threshold + 1, but never past the 10,000 Shopify counts to
    with pytest.raises(ValueError, match="bulk_threshold must be between 0 and 10000"):
        ShopifySettings(shop_url="https://example.myshopify.com", access_token="x", bulk_threshold=50_000)


def test_orders_count_stops_at_10000_with_at_least(sandbox, ft, monkeypatch) -> None:
    # 2025-01 QueryRoot.ordersCount: "Limited to a maximum of 10000."; CountPrecision.AT_LEAST: "The
    # count is at least the value. A limit was imposed and reached." (a smaller cap stands in for 10,000)
    import segmail.sandbox.shopify as sandbox_module

    monkeypatch.setattr(sandbox_module, "_ORDERS_COUNT_CAP", 50)
    n = len(sandbox.order_numbers())
    with client_for(sandbox, ft) as client:
        counts = [client.call("count", ORDERS_COUNT_QUERY, {"limit": limit})["ordersCount"]
                  for limit in (None, 20_000, 10, n + 1)]  # fmt: skip
    at_least = [{"count": c, "precision": "AT_LEAST"} for c in (50, 50, 10, 50)]
    assert counts == at_least  # the limit is obeyed below the cap, never above it
    monkeypatch.setattr(sandbox_module, "_ORDERS_COUNT_CAP", 10_000)
    with client_for(sandbox, ft) as client:
        assert client.call("count", ORDERS_COUNT_QUERY, {"limit": n + 1})["ordersCount"] == {
            "count": n, "precision": "EXACT"}  # fmt: skip


def test_every_wait_is_one_log_line_with_its_seconds(shop, ft, wall, caplog) -> None:
    caplog.set_level(logging.INFO, logger="segmail.connector.shopify")
    with make_sandbox(shop, ft, wall, maximum_available=100.0, restore_rate=10.0) as sb:
        sb.drain(0.0)  # someone else emptied the bucket: the first call is THROTTLED
        with client_for(sb, ft, page_size=10) as client:
            list(client.pages(cursor=None))
            stats = client.stats
    waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    bucket = [w for w in waits if "before the orders page" in w]
    throttled = [w for w in waits if "before trying again: Shopify orders count: throttled" in w]
    assert len(bucket) == stats.throttle_waits > 0 and len(throttled) == stats.throttled_errors == 1
    assert len(waits) == len(ft.sleeps)  # every sleep was announced
    assert all(re.match(r"Shopify: waiting \d+\.\d s ", w) for w in waits)
    assert all(r.levelno == logging.INFO for r in caplog.records if "waiting" in r.getMessage())


def test_amounts_and_currency_are_the_shop_currency() -> None:
    # 2025-01 schema: MoneyBag.shopMoney "Amount in shop currency."; Order.currencyCode "The shop currency
    # when the order was placed." The page asks for shopMoney only, never presentmentMoney.
    assert "presentmentMoney" not in ORDERS_QUERY and "presentmentMoney" not in BULK_ORDERS_QUERY
    node = {
        "id": "gid://shopify/Order/7", "email": "a@example.com", "createdAt": "2026-06-01T10:00:00Z",
        "displayFinancialStatus": "PAID", "currencyCode": "EUR",
        "totalPriceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "EUR"},
                          "presentmentMoney": {"amount": "11.70", "currencyCode": "USD"}},
        "totalRefundedSet": {"shopMoney": {"amount": "1.00"}, "presentmentMoney": {"amount": "1.17"}},
    }  # fmt: skip
    order = parse_order(node, status_map("shopify", {}))
    assert (order.total, order.refunded, order.currency) == (Decimal("10.00"), Decimal("1.00"), "EUR")
