"""The GraphQL documents segmail sends to Shopify, what they cost, and how big a page fits under the limit.

Shopify refuses a query whose requested cost is over 1,000 points (connector/shopify_cost.py), and an
orders page costs 2 + orders * (10 + 2 * line items per order) points by that rule. So the page is
not a setting but a result: `plan_page` picks the most orders (at most `page_size`) that fit with
`MIN_LINE_ITEMS` line items each, then the most line items that still fit; an order with more line
items than that gets the rest from `ORDER_LINE_ITEMS_QUERY`. With the defaults (page_size 100, a
1,000-point budget) a page is 33 orders with 10 line items each: 2 + 33 * (10 + 2 * 10) = 992.

Costs are computed over `CLIENT_SCHEMA_SDL`, the slice of the published 2025-01 schema these documents
touch (a test checks it against the published schema), so the client needs no 9 MB schema file.
Enums are declared as scalars there: the cost rule prices both at 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import DocumentNode, GraphQLSchema, build_schema, parse

from segmail.connector.shopify_cost import MAX_QUERY_COST, requested_cost

MAX_PAGE_SIZE: Final = 250  # "You can retrieve up to a maximum of 250 resources" per connection page
MIN_LINE_ITEMS: Final = 10  # line items asked with each order; an order with more gets a follow-up query
ORDERS_COUNT_CAP: Final = 10_000  # 2025-01 schema, QueryRoot.ordersCount: "Limited to a maximum of 10000."

_ORDER_FIELDS: Final = """
      id name email createdAt updatedAt cancelledAt displayFinancialStatus currencyCode
      totalPriceSet { shopMoney { amount currencyCode } }
      totalRefundedSet { shopMoney { amount } }
      billingAddress { countryCodeV2 provinceCode }
      shippingAddress { countryCodeV2 provinceCode }
      customer { email firstName lastName }"""

_LINE_ITEMS_PAGE: Final = """{
        nodes { product { productType } }
        pageInfo { hasNextPage endCursor }
      }"""

ORDERS_QUERY: Final = f"""
query SegmailOrders($first: Int!, $lineItems: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {{
    nodes {{{_ORDER_FIELDS}
      lineItems(first: $lineItems) {_LINE_ITEMS_PAGE}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

ORDER_LINE_ITEMS_QUERY: Final = f"""
query SegmailOrderLineItems($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{
    lineItems(first: $first, after: $after) {_LINE_ITEMS_PAGE}
  }}
}}"""

ORDERS_COUNT_QUERY: Final = """
query SegmailOrdersCount($limit: Int) {
  ordersCount(limit: $limit) { count precision }
}"""

# Bulk queries must spell connections as edges/node; line items become their own JSONL lines.
BULK_ORDERS_QUERY: Final = f"""
{{
  orders {{
    edges {{
      node {{{_ORDER_FIELDS}
        lineItems {{ edges {{ node {{ id product {{ productType }} }} }} }}
      }}
    }}
  }}
}}"""

BULK_RUN_MUTATION: Final = """
mutation SegmailBulkOrders($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""

BULK_POLL_QUERY: Final = """
query SegmailBulkStatus {
  currentBulkOperation(type: QUERY) { id status errorCode objectCount url }
}"""

# Fields and arguments exactly as in the published 2025-01 schema (tests/test_shopify_cost.py checks).
CLIENT_SCHEMA_SDL: Final = """
scalar DateTime
scalar Decimal
scalar URL
scalar UnsignedInt64
scalar CurrencyCode
scalar CountryCode
scalar CountPrecision
scalar OrderDisplayFinancialStatus
scalar OrderSortKeys
scalar BulkOperationType
scalar BulkOperationStatus
scalar BulkOperationErrorCode

type QueryRoot {
  orders(first: Int, after: String, last: Int, before: String, sortKey: OrderSortKeys, query: String): OrderConnection!
  order(id: ID!): Order
  ordersCount(query: String, limit: Int): Count
  currentBulkOperation(type: BulkOperationType): BulkOperation
}
type Mutation { bulkOperationRunQuery(query: String!): BulkOperationRunQueryPayload }
type OrderConnection { edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }
type OrderEdge { cursor: String! node: Order! }
type Order {
  id: ID! name: String! email: String createdAt: DateTime! updatedAt: DateTime! cancelledAt: DateTime
  displayFinancialStatus: OrderDisplayFinancialStatus currencyCode: CurrencyCode!
  totalPriceSet: MoneyBag! totalRefundedSet: MoneyBag!
  billingAddress: MailingAddress shippingAddress: MailingAddress customer: Customer
  lineItems(first: Int, after: String, last: Int, before: String): LineItemConnection!
}
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }
type LineItemEdge { cursor: String! node: LineItem! }
type LineItem { id: ID! product: Product }
type Product { id: ID! productType: String! }
type MoneyBag { shopMoney: MoneyV2! }
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MailingAddress { countryCodeV2: CountryCode provinceCode: String }
type Customer { email: String firstName: String lastName: String }
type PageInfo { hasNextPage: Boolean! endCursor: String }
type Count { count: Int! precision: CountPrecision! }
type BulkOperation {
  id: ID! status: BulkOperationStatus! errorCode: BulkOperationErrorCode objectCount: UnsignedInt64! url: URL
}
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }
type BulkOperationUserError { field: [String!] message: String! }
schema { query: QueryRoot mutation: Mutation }
"""


@functools.cache
def client_schema() -> GraphQLSchema:
    return build_schema(CLIENT_SCHEMA_SDL)


@functools.cache
def _parsed(query: str) -> DocumentNode:
    return parse(query)


def cost(query: str, variables: Mapping[str, Any]) -> int:
    """The requested cost of one of the documents above, by Shopify's documented rule."""
    return requested_cost(client_schema(), _parsed(query), variables)


@dataclass(frozen=True)
class PagePlan:
    """One orders page: `first` of the orders and of each order's line items, and what it costs."""

    orders: int
    line_items: int
    cost: int


def plan_page(page_size: int, budget: int) -> PagePlan:
    """The largest page under `budget` points: orders first (at most `page_size`), then line items.

    ValueError when not even one order with MIN_LINE_ITEMS line items fits.
    """

    def at(orders: int, items: int) -> int:
        return cost(ORDERS_QUERY, {"first": orders, "lineItems": items})

    orders = min(page_size, MAX_PAGE_SIZE, _fit(lambda n: at(n, MIN_LINE_ITEMS), budget))
    if orders < 1:
        raise ValueError(
            f"one order with {MIN_LINE_ITEMS} line items costs {at(1, MIN_LINE_ITEMS)} points, "
            f"more than the {budget} available to a single query"
        )
    items = min(MAX_PAGE_SIZE, _fit(lambda n: at(orders, n), budget))
    return PagePlan(orders=orders, line_items=items, cost=at(orders, items))


def line_items_first(budget: int) -> int:
    """`first` for ORDER_LINE_ITEMS_QUERY: as many line items as `budget` points buy, at most 250."""
    fits = _fit(lambda n: cost(ORDER_LINE_ITEMS_QUERY, {"id": "", "first": n}), budget)
    if fits < 1:
        raise ValueError(f"not even one line item fits in {budget} points")
    return min(MAX_PAGE_SIZE, fits)


def _fit(cost_at: Callable[[int], int], budget: int) -> int:
    """The largest n with cost_at(n) <= budget; a connection's cost is affine in its `first`."""
    base, step = cost_at(0), cost_at(1) - cost_at(0)
    if step <= 0:
        return MAX_PAGE_SIZE if base <= budget else 0
    return max(0, (budget - base) // step)


__all__ = [
    "BULK_ORDERS_QUERY",
    "BULK_POLL_QUERY",
    "BULK_RUN_MUTATION",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_COST",
    "MIN_LINE_ITEMS",
    "ORDERS_COUNT_CAP",
    "ORDERS_COUNT_QUERY",
    "ORDERS_QUERY",
    "ORDER_LINE_ITEMS_QUERY",
    "PagePlan",
    "client_schema",
    "cost",
    "line_items_first",
    "plan_page",
]
