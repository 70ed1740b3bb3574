"""Shopify's calculated query cost, pinned to costs worked out by hand from the documents.

The rule (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits, "Cost calculation"):
scalar 0, enum 0, object 1, interface/union the maximum of the possible selections, connection sized
by `first`/`last`, mutation 10; "A single query may not exceed a cost of 1,000 points". A connection
costs two points plus the objects it returns (Shopify Engineering,
https://shopify.engineering/rate-limiting-graphql-apis-calculating-query-complexity). The choices
where the documents are silent are listed in connector/shopify_cost.py.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from graphql import GraphQLNamedType, get_named_type, is_leaf_type, parse, validate

from segmail.connector.shopify_cost import MAX_QUERY_COST, actual_cost, requested_cost
from segmail.connector.shopify_queries import (
    BULK_ORDERS_QUERY,
    BULK_POLL_QUERY,
    BULK_RUN_MUTATION,
    ORDER_LINE_ITEMS_QUERY,
    ORDERS_COUNT_QUERY,
    ORDERS_QUERY,
    PagePlan,
    client_schema,
    cost,
    line_items_first,
    plan_page,
)
from segmail.sandbox.shopify import GRAPHQL_PATH, ShopifySandbox, load_schema

# One order node of ORDERS_QUERY: Order 1 + totalPriceSet 1 + its shopMoney 1 + totalRefundedSet 1
# + its shopMoney 1 + billingAddress 1 + shippingAddress 1 + customer 1 = 8 (scalars and enums 0),
# plus lineItems: 2 + L * (LineItem 1 + product 1) = 2 + 2L; so an order costs 10 + 2L.
SEGMAIL_PAGE = [
    ({"first": 33, "lineItems": 10}, 992),  # 2 + 33 * (10 + 2*10) = 2 + 33*30 = 992: the default page
    ({"first": 100, "lineItems": 20}, 5002),  # 2 + 100 * (10 + 40) = 5002: the old default, refused
    ({"first": 1, "lineItems": 250}, 512),  # 2 + 1 * (10 + 500) = 512
    ({"first": 0, "lineItems": 10}, 2),  # an empty page still costs the connection's two points
]

FRAGMENTS_AND_VARIABLES = """
query Probe($n: Int!, $m: Int = 4) {
  shop { name }
  orders(first: $n) { edges { cursor node { ...Bits } } pageInfo { hasNextPage } }
}
fragment Bits on Order {
  id
  customer { id }
  lineItems(first: $m) { nodes { ... on LineItem { product { id } } } }
}"""
# shop 1 + orders: 2 + n * (Order 1 + customer 1 + lineItems (2 + m * (LineItem 1 + product 1)))
# with n = 3 and m = 4 by its default: 1 + 2 + 3 * (1 + 1 + 2 + 4*2) = 3 + 3*12 = 39

INTERFACE = """{ node(id: "gid://shopify/Order/1") {
  ... on Order { customer { id } }
  ... on Product { variants(first: 5) { nodes { id } } }
} }"""
# Node is an interface: the costliest possible selection. As an Order: 1 + customer 1 = 2; as a
# Product: 1 + variants (2 + 5 * 1) = 8; every other type: 1. So 8.

UNION = """{ order(id: "gid://shopify/Order/1") { purchasingEntity {
  ... on Customer { id }
  ... on PurchasingCompany { company { id } location { id } }
} } }"""
# order 1 + purchasingEntity, a union of Customer (1) and PurchasingCompany (1 + 1 + 1 = 3): 1 + 3 = 4


@pytest.mark.parametrize(("variables", "expected"), SEGMAIL_PAGE)
def test_segmail_page_query_costs_what_the_rule_says(variables, expected) -> None:
    assert cost(ORDERS_QUERY, variables) == expected
    assert requested_cost(load_schema(), ORDERS_QUERY, variables) == expected


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (ORDERS_COUNT_QUERY, {"limit": 10_000}, 1),  # ordersCount returns a Count object: 1
        (BULK_POLL_QUERY, {}, 1),  # currentBulkOperation: one BulkOperation object
        # the mutation 10 in place of its payload object's 1, + bulkOperation 1 + userErrors 1 (a list
        # of objects, priced as one object) = 12
        (BULK_RUN_MUTATION, {"query": BULK_ORDERS_QUERY}, 12),
        # order 1 + lineItems (2 + 250 * (LineItem 1 + product 1)) = 503
        (ORDER_LINE_ITEMS_QUERY, {"id": "gid://shopify/Order/1", "first": 250}, 503),
        (FRAGMENTS_AND_VARIABLES, {"n": 3}, 39),
        (FRAGMENTS_AND_VARIABLES, {"n": 3, "m": 10}, 3 + 3 * (1 + 1 + 2 + 10 * 2)),  # 75
        (INTERFACE, {}, 8),
        (UNION, {}, 4),
        # the blog's own example: shop is an object, its scalars and enums are free: 1
        ("{ shop { id name timezoneOffsetMinutes customerAccounts } }", {}, 1),
        # two aliases are two connections; a repeated response key is one field (GraphQL merges it)
        ("{ a: orders(first: 2) { nodes { id } } b: orders(last: 3) { nodes { id } } }", {}, 4 + 5),
        ("{ shop { id } shop { name } }", {}, 1),
    ],
)
def test_known_queries_cost_what_the_rule_says(query, variables, expected) -> None:
    assert validate(load_schema(), parse(query)) == []
    assert requested_cost(load_schema(), query, variables) == expected
    if query in (ORDERS_COUNT_QUERY, BULK_POLL_QUERY, BULK_RUN_MUTATION, ORDER_LINE_ITEMS_QUERY):
        assert cost(query, variables) == expected  # the client's schema slice prices it the same


def test_actual_cost_counts_what_came_back() -> None:
    query = "{ orders(first: 5) { nodes { id customer { email } } } }"
    assert requested_cost(load_schema(), query) == 2 + 5 * 2  # 12
    # two orders came back, one without a customer: 2 + (1 + 0) + (1 + 1) = 5
    data = {"orders": {"nodes": [{"id": "1", "customer": None}, {"id": "2", "customer": {"email": "x"}}]}}
    assert actual_cost(load_schema(), query, data) == 5


def test_manual_field_costs_replace_the_default() -> None:
    # "Shopify also reserves the right to set manual costs on fields": customer at 5 instead of 1
    assert requested_cost(load_schema(), ORDERS_QUERY, {"first": 33, "lineItems": 10},
                          field_costs={"Order.customer": 5}) == 992 + 33 * 4  # fmt: skip


def test_the_client_schema_is_a_faithful_slice_of_the_published_one() -> None:
    """Every field and argument the client prices with exists in 2025-01 with the same type
    (enums are scalars in the slice: both cost 0)."""
    full = load_schema()

    def shape(type_: object) -> str:
        named = get_named_type(type_)  # type: ignore[arg-type]
        leaf = (
            "LEAF" if is_leaf_type(named) and named.name not in ("String", "Int", "ID", "Boolean") else None
        )
        assert isinstance(named, GraphQLNamedType)
        return str(type_).replace(named.name, leaf or named.name)

    checked = 0
    for name, mine in client_schema().type_map.items():
        if name.startswith("__") or not hasattr(mine, "fields"):
            continue
        theirs = full.get_type(name)
        assert theirs is not None and hasattr(theirs, "fields"), name
        for field_name, field in mine.fields.items():
            published = theirs.fields.get(field_name)
            assert published is not None, f"{name}.{field_name}"
            assert shape(field.type) == shape(published.type), f"{name}.{field_name}"
            for arg, value in field.args.items():
                assert shape(value.type) == shape(published.args[arg].type), f"{name}.{field_name}({arg})"
            checked += 1
    assert checked > 40


def test_every_client_document_validates_and_fits() -> None:
    for query in (
        ORDERS_QUERY,
        ORDER_LINE_ITEMS_QUERY,
        ORDERS_COUNT_QUERY,
        BULK_RUN_MUTATION,
        BULK_POLL_QUERY,
    ):
        assert validate(load_schema(), parse(query)) == []
        assert validate(client_schema(), parse(query)) == []


def test_page_plans_fill_the_budget_and_never_exceed_it() -> None:
    # defaults: orders fit with 10 line items: (1000 - 2) // 30 = 33; then line items: 2 + 33 * (10 + 2L)
    # <= 1000 gives L = 10
    assert plan_page(100, MAX_QUERY_COST) == PagePlan(orders=33, line_items=10, cost=992)
    # page_size 25 bounds the orders; the budget left buys more line items: 2 + 25 * (10 + 2L) <= 1000 -> 14
    assert plan_page(25, MAX_QUERY_COST) == PagePlan(orders=25, line_items=14, cost=952)
    # a 100-point bucket: (100 - 2) // 30 = 3 orders; 2 + 3 * (10 + 2L) <= 100 -> L = 11
    assert plan_page(250, 100) == PagePlan(orders=3, line_items=11, cost=98)
    assert line_items_first(MAX_QUERY_COST) == 250  # 3 + 2 * 250 = 503 <= 1000; 250 is the page maximum
    assert line_items_first(100) == 48  # 3 + 2n <= 100
    for page_size in (1, 7, 33, 34, 100, 250):
        for budget in (30, 100, 500, 999, 1000):
            try:
                plan = plan_page(page_size, budget)
            except ValueError:
                assert budget < 2 + 30  # not even one order with 10 line items
                continue
            assert plan.cost <= budget and plan.orders <= page_size
            assert plan.cost == cost(ORDERS_QUERY, {"first": plan.orders, "lineItems": plan.line_items})


# ---- the sandbox answers as Shopify does ------------------------------------------------------------


def _post(box: ShopifySandbox, query: str, variables: dict | None = None) -> tuple[int, dict]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(box.base_url + GRAPHQL_PATH, data=body, method="POST",
                                     headers={"X-Shopify-Access-Token": box.access_token,
                                              "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def box():
    with ShopifySandbox(maximum_available=2000.0, restore_rate=100.0, clock=lambda: 0.0) as sandbox:
        yield sandbox


def test_over_1000_points_is_refused_before_running_as_shopify_does(box) -> None:
    # Captured responses: the message in https://github.com/Shopify/shopify-app-js/issues/577, the
    # extensions in https://github.com/edstevo/laravel-shopify-graph's tests; HTTP 200, no data.
    status, body = _post(box, ORDERS_QUERY, {"first": 100, "lineItems": 20})
    assert status == 200 and "data" not in body
    [error] = body["errors"]
    assert error["message"].startswith(
        "Query cost is 5002, which exceeds the single query max cost limit (1000)."
    )
    assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 5002, "maxCost": 1000,
                                   "documentation": "https://shopify.dev/api/usage/limits#rate-limits"}  # fmt: skip
    assert box.lowest_available == 2000.0  # refused before execution: nothing taken from the bucket


def test_cost_is_reported_and_the_bucket_refunded_to_the_actual_cost(box) -> None:
    status, body = _post(box, ORDERS_QUERY, {"first": 33, "lineItems": 10})  # an empty shop
    assert status == 200 and body["data"]["orders"]["nodes"] == []
    # requested 992; nothing came back, so the actual cost is the connection's 2 points, and the
    # bucket is refunded the difference: 2000 - 992 + 990 = 1998
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 992, "actualQueryCost": 2,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1998.0, "restoreRate": 100.0},
    }  # fmt: skip


def test_a_connection_without_first_or_last_is_refused(box) -> None:
    _, body = _post(box, "{ orders(sortKey: ID) { nodes { id } } }")
    assert [e["message"] for e in body["errors"]] == ["you must provide one of first or last"]
