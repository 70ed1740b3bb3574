"""A local stand-in for Shopify's GraphQL Admin API (2025-01): orders paging, ordersCount and bulk operations.

Every query is parsed and validated against Shopify's published 2025-01 schema, then EXECUTED by
graphql-core against that same schema with plain resolvers, so a response holds exactly the fields
asked for, in Shopify's shapes (aliases, variables and fragments work; unknown root fields resolve to
null). Only `orders`, `order`, `ordersCount`, `currentBulkOperation` and `bulkOperationRunQuery` have
data. Values loaded from a `shopgen` CSV are served verbatim, malformed rows included, so a client's
problem reporting has something to find. Faults come from `segmail.sandbox.faults.Faults` (429, 500,
502_html, 503, reset, timeout).

Cost, as Shopify documents it (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits):
the requested cost of every query is computed by `segmail.connector.shopify_cost` before it runs; over
1,000 points it is refused with `MAX_COST_EXCEEDED`, otherwise the bucket must hold the requested
cost, and after execution it is refunded the difference to the actual cost. Both are returned in
`extensions.cost` with the bucket's `throttleStatus`; the bucket runs on an injectable clock.

Here: the HTTP handler, GraphQL execution and the order resolvers. The orders and their GraphQL shapes
are in `shopify_orders`, the cost bucket in `shopify_cost_bucket`, bulk operations in `shopify_bulk`.
"""

from __future__ import annotations

import csv
import functools
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_client_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.type import validate_schema

from segmail.connector.shopify_cost import MAX_QUERY_COST, actual_cost, requested_cost
from segmail.sandbox.faults import Faults
from segmail.sandbox.mailchimp_http import HttpServer, Reply, ServedSandbox, json_or_none
from segmail.sandbox.shopify_bulk import BulkQueries
from segmail.sandbox.shopify_cost_bucket import THROTTLED_ERROR, CostBucket, max_cost_error
from segmail.sandbox.shopify_orders import (
    ShopifyOrder,
    connection,
    contact_places,
    decode_cursor,
    encode_cursor,
    matches_search,
    order_from_row,
    order_node,
    order_sort_key,
    parse_utc,
    require_page_size,
    whole_second,
)

__all__ = ["API_VERSION", "ShopifyRequest", "ShopifySandbox", "load_schema"]

API_VERSION: Final = "2025-01"
GRAPHQL_PATH: Final = f"/admin/api/{API_VERSION}/graphql.json"
SCHEMA_NAME: Final = "shopify-admin-2025-01.json"
_JSON: Final = (("Content-Type", "application/json; charset=utf-8"),)
_BAD_TOKEN: Final = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_ORDERS_COUNT_CAP: Final = 10_000  # 2025-01 schema, QueryRoot.ordersCount: "Limited to a maximum of 10000."
_HISTORY: Final = timedelta(days=60)  # without read_all_orders, only the last 60 days are visible
_log = logging.getLogger(__name__)


@functools.cache
def load_schema(path: Path | None = None) -> GraphQLSchema:
    """The 2025-01 Admin schema (~0.5 s, cached per process).

    graphql-core 3.3 rejects the published schema for two deprecation mismatches between interfaces
    and their implementations (e.g. `Node.id` vs `DiscountAutomaticBxgy.id`); those are harmless for
    validating and executing queries, so only errors of that kind are waived.
    """
    with open(path or _schema_path(), encoding="utf-8") as f:
        schema = build_client_schema(json.load(f)["data"])
    other = [e for e in validate_schema(schema) if "deprecated" not in e.message]
    if other:
        raise ValueError(f"the Shopify schema is invalid: {other[0].message}")
    schema._validation_errors = []  # waive the deprecation-consistency errors checked above
    return schema


def _schema_path() -> Path:
    return Path(__file__).resolve().parent / "specs" / SCHEMA_NAME


@dataclass
class ShopifyRequest:
    """One exchange as the sandbox saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    response_body: bytes | None = None
    fault: str | None = None

    @property
    def graphql(self) -> dict[str, Any]:
        """The request's JSON (`query`, `variables`), or {} when it is not a GraphQL call."""
        try:
            doc = json.loads(self.body) if self.body else {}
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}

    @property
    def json(self) -> Any:
        return json_or_none(self.response_body)


class ShopifySandbox(ServedSandbox):
    """The fake shop's server and data; a context manager that starts on enter and stops on exit.

    `maximum_available` / `restore_rate` are the cost bucket; `field_costs` ("Order.customer": 5)
    plays Shopify's manual field costs, which a client cannot know in advance.
    """

    def __init__(
        self,
        *,
        access_token: str = "shpat_sandbox_token",
        scopes: Iterable[str] = ("read_orders", "read_all_orders"),
        protected_customer_data: bool = True,
        seed: int = 0,
        faults: Faults | None = None,
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        field_costs: Mapping[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.access_token = access_token
        self.scopes = set(scopes)
        self.protected_customer_data = protected_customer_data
        self.seed = seed
        self.field_costs = dict(field_costs or {})  # "Type.field": points, Shopify's manual costs
        self.clock = clock or time.monotonic
        self.now = now or (lambda: datetime.now(UTC))
        self.requests_log: list[ShopifyRequest] = []
        self._bucket = CostBucket(maximum_available, restore_rate, self.clock)
        self._orders: dict[int, ShopifyOrder] = {}
        self._rng = random.Random(seed)
        self._bulk = BulkQueries(schema=load_schema, root=self._root, rng=self._rng, now=lambda: self.now(),
                                 base_url=lambda: self.base_url)  # fmt: skip
        self._init_serving(host, port, faults)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._begin()
        load_schema()
        self._serve(HttpServer(self._address, self._exchange, lambda: None), "shopify-sandbox")

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`: use it as the client's `shop_url`."""
        return self.root_url

    # ---- data --------------------------------------------------------------------------------

    def load_orders(self, orders_csv: Path, contacts_csv: Path | None = None) -> int:
        """Orders from `generate_shop`'s files; addresses from the contacts' countries and time zones."""
        places = contact_places(contacts_csv) if contacts_csv is not None else {}
        with self._lock, open(orders_csv, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                place = places.get((row.get("email") or "").strip().lower())
                order = order_from_row(row, place, self.now, self._rng)
                self._orders[order.number] = order
        return len(self._orders)

    def edit_order(self, number: int | str, **changes: Any) -> None:
        """Change fields of `ShopifyOrder` (email, total, financial_status, categories, …) and bump updatedAt."""
        with self._lock:
            order = self._order(number)
            known = {f.name for f in fields(ShopifyOrder)}
            unknown = set(changes) - known
            if unknown:
                raise ValueError(f"edit_order: unknown fields {sorted(unknown)}; known: {sorted(known)}")
            self._orders[order.number] = replace(order, **changes, updated_at=self._bump(order))

    def refund(self, number: int | str, amount: Decimal | str) -> None:
        """A refund of `amount`: totalRefundedSet grows and the financial status follows."""
        with self._lock:
            order = self._order(number)
            refunded = Decimal(order.refunded) + Decimal(str(amount))
            status = "REFUNDED" if refunded >= Decimal(order.total) else "PARTIALLY_REFUNDED"
            self.edit_order(number, refunded=f"{refunded:.2f}", financial_status=status)

    def drain(self, to: float = 0.0) -> None:
        """Empty the cost bucket, as another client of the same app would."""
        with self._lock:
            self._bucket.drain(to)

    @property
    def throttled(self) -> int:
        """THROTTLED answers given."""
        return self._bucket.throttled

    @property
    def lowest_available(self) -> float:
        """The fewest points the cost bucket has held after a query took its requested cost."""
        return self._bucket.lowest_available

    def order_numbers(self) -> list[int]:
        with self._lock:
            return sorted(self._orders)

    def _order(self, number: int | str) -> ShopifyOrder:
        key = int(str(number).rsplit("/", 1)[-1].lstrip("#"))
        if key not in self._orders:
            raise KeyError(f"no order {number}")
        return self._orders[key]

    def _bump(self, order: ShopifyOrder) -> datetime:
        return max(whole_second(self.now()), order.updated_at + timedelta(seconds=1))

    def _visible(self) -> list[ShopifyOrder]:
        return [o for o in self._orders.values() if self._sees(o)]

    def _sees(self, order: ShopifyOrder) -> bool:
        if "read_all_orders" in self.scopes:
            return True
        oldest = self.now() - _HISTORY
        return (parse_utc(order.created_at) or oldest) >= oldest

    # ---- HTTP --------------------------------------------------------------------------------

    def _exchange(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        entry = ShopifyRequest(method, urlsplit(target).path, headers, body)
        with self._lock:
            self.requests_log.append(entry)
        reply = self._reply(entry)
        entry.status = None if reply.reset else reply.status
        entry.response_body = None if reply.reset else reply.body
        return reply

    def _reply(self, entry: ShopifyRequest) -> Reply:
        if entry.path.startswith("/bulk-results/") and entry.method == "GET":
            return self._download(entry.path)
        if entry.path != GRAPHQL_PATH or entry.method != "POST":
            return _json_reply(404, {"errors": "Not Found"})
        if not self._authorized(entry.headers):
            return _json_reply(401, {"errors": _BAD_TOKEN})
        with self._lock:
            kind = self.faults.draw(self._fault_rng) if self.faults.active else None
        if kind is not None:
            entry.fault = kind
            return self._fault(kind)
        try:
            with self._lock:
                return self._graphql(entry.graphql)
        except Exception:  # a sandbox bug: answer like Shopify would, keep the traceback in the log
            _log.exception("shopify sandbox failed")
            return _json_reply(500, {"errors": "Internal Server Error"})

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        token = next((v for k, v in headers.items() if k.lower() == "x-shopify-access-token"), "")
        return hmac.compare_digest(token.encode(), self.access_token.encode())

    def _fault(self, kind: str) -> Reply:
        if kind == "429":
            msg = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
            return Reply(429, (*_JSON, ("Retry-After", "1")), json.dumps({"errors": msg}).encode())
        if kind in ("reset", "reset_after_apply"):
            return Reply(reset=True)
        if kind == "502_html":
            return Reply(502, (("Content-Type", "text/html"),), b"<html><body>502 Bad Gateway</body></html>")
        if kind == "timeout":
            self._stopping.wait(self.faults.timeout_s)
        status = {"500": 500, "503": 503, "timeout": 504}[kind]
        return _json_reply(status, {"errors": "Internal Server Error"})

    def _download(self, path: str) -> Reply:
        with self._lock:
            lines = self._bulk.completed_file(path)
        if lines is None:
            return _json_reply(404, {"errors": "Not Found"})
        return Reply(200, (("Content-Type", "application/jsonl"),), lines)

    # ---- GraphQL -----------------------------------------------------------------------------

    def _graphql(self, request: Mapping[str, Any]) -> Reply:
        source, variables = request.get("query"), request.get("variables") or {}
        if not isinstance(source, str) or not isinstance(variables, dict):
            return _json_reply(400, {"errors": {"query": "Required parameter missing or invalid"}})
        try:
            document = parse(source)
        except GraphQLError as err:
            return _json_reply(200, {"errors": [err.formatted]})
        errors = validate(load_schema(), document)
        if errors:
            return _json_reply(200, {"errors": [e.formatted for e in errors]})
        operation = request.get("operationName")
        try:
            cost = requested_cost(load_schema(), document, variables, operation, field_costs=self.field_costs)
        except ValueError as err:  # e.g. several operations and no operationName
            return _json_reply(200, {"errors": [{"message": str(err)}]})
        if cost > MAX_QUERY_COST:
            return _json_reply(200, {"errors": [max_cost_error(cost)]})
        if not self._bucket.take(cost):
            return _json_reply(
                200, {"errors": [THROTTLED_ERROR], "extensions": self._bucket.extensions(cost, None)}
            )
        result = execute_sync(load_schema(), document, root_value=self._root(), variable_values=variables,
                              operation_name=operation, context_value={"bulk": False})  # fmt: skip
        # "once execution is complete, the bucket is refunded the difference between the requested
        # cost and the actual cost of the query" (the rate-limits page above)
        actual = actual_cost(load_schema(), document, result.data, variables, operation,
                             field_costs=self.field_costs)  # fmt: skip
        actual = min(cost, actual)
        self._bucket.refund(cost - actual)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["extensions"] = self._bucket.extensions(cost, actual)
        return _json_reply(200, body)

    def _root(self) -> dict[str, Any]:
        return {
            "orders": self._resolve_orders,
            "order": self._resolve_order,
            "ordersCount": self._resolve_count,
            "currentBulkOperation": lambda _info, type="QUERY": self._bulk.poll(type),
            "bulkOperationRunQuery": lambda _info, query: self._bulk.run(query, self._require_orders_scope),
        }

    def _require_orders_scope(self) -> None:
        if "read_orders" not in self.scopes:
            raise GraphQLError(
                "Access denied for orders field. Required access: `read_orders` access scope.",
                extensions={"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                            "requiredAccess": "`read_orders` access scope."},
            )  # fmt: skip

    def _resolve_count(self, _info: Any, limit: int | None = None, **_: Any) -> dict[str, Any]:
        """At most 10,000 whatever the `limit` (2025-01: "Limited to a maximum of 10000."); a count that
        reaches the limit is AT_LEAST ("The count is at least the value. A limit was imposed and reached.")."""
        self._require_orders_scope()
        n = len(self._visible())
        cap = _ORDERS_COUNT_CAP if limit is None else max(0, min(limit, _ORDERS_COUNT_CAP))
        if n >= cap:
            return {"count": cap, "precision": "AT_LEAST"}
        return {"count": n, "precision": "EXACT"}

    def _resolve_order(self, _info: Any, id: str) -> dict[str, Any] | None:
        self._require_orders_scope()
        try:
            order = self._order(id)
        except (KeyError, ValueError):
            return None
        return (
            order_node(order, protected_customer_data=self.protected_customer_data)
            if self._sees(order)
            else None
        )

    def _resolve_orders(self, info: Any, **args: Any) -> dict[str, Any]:
        self._require_orders_scope()
        require_page_size(info, args)
        sort_key = args.get("sortKey") or "ID"
        key = order_sort_key(sort_key)
        chosen = sorted((o for o in self._visible() if matches_search(o, args.get("query"))), key=key,
                        reverse=bool(args.get("reverse")))  # fmt: skip
        after, before = args.get("after"), args.get("before")
        if after:
            mark = decode_cursor(after)
            chosen = [o for o in chosen if (key(o) < mark if args.get("reverse") else key(o) > mark)]
        if before:
            mark = decode_cursor(before)
            chosen = [o for o in chosen if (key(o) > mark if args.get("reverse") else key(o) < mark)]
        first, last = args.get("first"), args.get("last")
        window = chosen[:first] if first is not None else chosen[-last:] if last else chosen
        return connection([(order_node(o, protected_customer_data=self.protected_customer_data), encode_cursor(key(o))) for o in window],
                           has_next=len(window) < len(chosen) and first is not None)  # fmt: skip


# ---- helpers ------------------------------------------------------------------------------------


def _json_reply(status: int, body: Any) -> Reply:
    return Reply(status, _JSON, json.dumps(body).encode())
