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
"""

from __future__ import annotations

import base64
import csv
import functools
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from graphql import (
    DocumentNode,
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

__all__ = ["API_VERSION", "ShopifyRequest", "ShopifySandbox", "load_schema"]

API_VERSION: Final = "2025-01"
GRAPHQL_PATH: Final = f"/admin/api/{API_VERSION}/graphql.json"
SCHEMA_NAME: Final = "shopify-admin-2025-01.json"
_JSON: Final = (("Content-Type", "application/json; charset=utf-8"),)
_BAD_TOKEN: Final = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_ORDERS_COUNT_CAP: Final = 10_000  # 2025-01 schema, QueryRoot.ordersCount: "Limited to a maximum of 10000."
_HISTORY: Final = timedelta(days=60)  # without read_all_orders, only the last 60 days are visible
# shopgen statuses → (displayFinancialStatus, cancelled)
_FINANCIAL: Final = {
    "completed": ("PAID", False),
    "paid": ("PAID", False),
    "processing": ("PAID", False),
    "partially_refunded": ("PARTIALLY_REFUNDED", False),
    "refunded": ("REFUNDED", False),
    "cancelled": ("VOIDED", True),
    "pending": ("PENDING", False),
}
_PROVINCES: Final = {  # shopgen's time zones that pin down an ISO 3166-2 subdivision
    "America/New_York": "NY",
    "America/Chicago": "IL",
    "America/Los_Angeles": "CA",
    "America/Toronto": "ON",
    "America/St_Johns": "NL",
    "Australia/Sydney": "NSW",
    "Australia/Adelaide": "SA",
}
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
class _Order:
    number: int
    email: str | None
    created_at: str  # verbatim from the CSV
    updated_at: datetime
    total: str
    refunded: str
    currency: str
    financial_status: str
    cancelled_at: datetime | None = None
    categories: tuple[str, ...] = ()
    billing: tuple[str, str | None] | None = None  # (country, province)
    shipping: tuple[str, str | None] | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class _BulkOperation:
    number: int
    query: str
    lines: bytes = b""
    object_count: int = 0
    polls: int = 0
    status: str = "CREATED"
    done: threading.Event = field(default_factory=threading.Event)  # set by the worker building the file


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
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.field_costs = dict(field_costs or {})  # "Type.field": points, Shopify's manual costs
        self.clock = clock or time.monotonic
        self.now = now or (lambda: datetime.now(UTC))
        self.requests_log: list[ShopifyRequest] = []
        self.throttled = 0  # THROTTLED answers given
        self.lowest_available = maximum_available
        self._available = maximum_available
        self._refilled_at = self.clock()
        self._orders: dict[int, _Order] = {}
        self._bulk: _BulkOperation | None = None
        self._bulk_count = 0
        self._rng = random.Random(seed)
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
        places = _places(contacts_csv) if contacts_csv is not None else {}
        with self._lock, open(orders_csv, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                order = self._from_row(row, places.get((row.get("email") or "").strip().lower()))
                self._orders[order.number] = order
        return len(self._orders)

    def _from_row(self, row: Mapping[str, str], place: tuple[str, str | None, str, str] | None) -> _Order:
        number = int((row.get("order_id") or "").lstrip("#"))
        status, cancelled = _FINANCIAL.get(row.get("status") or "", ("PENDING", False))
        created = _utc(row.get("created_at") or "")
        settled = row.get("status") in ("refunded", "partially_refunded", "cancelled")
        updated = min(self.now(), created + timedelta(hours=6 if settled else 0)) if created else self.now()
        order = _Order(number=number, email=row.get("email") or None, created_at=row.get("created_at") or "",
                       updated_at=_second(updated), total=row.get("total") or "",
                       refunded=row.get("refunded") or "0.00", currency=row.get("currency") or "",
                       financial_status=status, cancelled_at=updated if cancelled else None,
                       categories=tuple(c for c in (row.get("categories") or "").split("|") if c))  # fmt: skip
        if place is not None:
            country, province, order.first_name, order.last_name = place
            address = (country, province)
            if self._rng.random() < 0.2:  # no billing address: the client must fall back to shipping
                order.shipping = address
            else:
                order.billing = order.shipping = address
        return order

    def edit_order(self, number: int | str, **changes: Any) -> None:
        """Change fields of `_Order` (email, total, financial_status, categories, …) and bump updatedAt."""
        with self._lock:
            order = self._order(number)
            known = {f.name for f in fields(_Order)}
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
            self._refill()
            self._available = to

    def order_numbers(self) -> list[int]:
        with self._lock:
            return sorted(self._orders)

    def _order(self, number: int | str) -> _Order:
        key = int(str(number).rsplit("/", 1)[-1].lstrip("#"))
        if key not in self._orders:
            raise KeyError(f"no order {number}")
        return self._orders[key]

    def _bump(self, order: _Order) -> datetime:
        return max(_second(self.now()), order.updated_at + timedelta(seconds=1))

    def _visible(self) -> list[_Order]:
        return [o for o in self._orders.values() if self._sees(o)]

    def _sees(self, order: _Order) -> bool:
        if "read_all_orders" in self.scopes:
            return True
        oldest = self.now() - _HISTORY
        return (_utc(order.created_at) or oldest) >= oldest

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
            op = self._bulk
        if op is None or op.status != "COMPLETED" or path != _bulk_path(op):
            return _json_reply(404, {"errors": "Not Found"})
        return Reply(200, (("Content-Type", "application/jsonl"),), op.lines)

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
            return _json_reply(200, {"errors": [_max_cost_error(cost)]})
        self._refill()
        if self._available < cost:
            self.throttled += 1
            docs = "https://shopify.dev/api/usage/rate-limits"
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": docs}}
            return _json_reply(200, {"errors": [error], "extensions": self._cost(cost, None)})
        self._available -= cost
        self.lowest_available = min(self.lowest_available, self._available)
        result = execute_sync(load_schema(), document, root_value=self._root(), variable_values=variables,
                              operation_name=operation, context_value={"bulk": False})  # fmt: skip
        # "once execution is complete, the bucket is refunded the difference between the requested
        # cost and the actual cost of the query" (the rate-limits page above)
        actual = actual_cost(load_schema(), document, result.data, variables, operation,
                             field_costs=self.field_costs)  # fmt: skip
        actual = min(cost, actual)
        self._available = min(self.maximum_available, self._available + cost - actual)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["extensions"] = self._cost(cost, actual)
        return _json_reply(200, body)

    def _refill(self) -> None:
        now = self.clock()
        restored = (now - self._refilled_at) * self.restore_rate
        self._available = min(self.maximum_available, self._available + restored)
        self._refilled_at = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": {"maximumAvailable": self.maximum_available,
                                            "currentlyAvailable": self._available,
                                            "restoreRate": self.restore_rate}}}  # fmt: skip

    def _root(self) -> dict[str, Any]:
        return {
            "orders": self._resolve_orders,
            "order": self._resolve_order,
            "ordersCount": self._resolve_count,
            "currentBulkOperation": self._resolve_current_bulk,
            "bulkOperationRunQuery": self._resolve_bulk_run,
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
        return self._node(order) if self._sees(order) else None

    def _resolve_orders(self, info: Any, **args: Any) -> dict[str, Any]:
        self._require_orders_scope()
        _require_page_size(info, args)
        sort_key = args.get("sortKey") or "ID"
        key = _sort_key(sort_key)
        chosen = sorted((o for o in self._visible() if _matches(o, args.get("query"))), key=key,
                        reverse=bool(args.get("reverse")))  # fmt: skip
        after, before = args.get("after"), args.get("before")
        if after:
            mark = _decode_cursor(after)
            chosen = [o for o in chosen if (key(o) < mark if args.get("reverse") else key(o) > mark)]
        if before:
            mark = _decode_cursor(before)
            chosen = [o for o in chosen if (key(o) > mark if args.get("reverse") else key(o) < mark)]
        first, last = args.get("first"), args.get("last")
        window = chosen[:first] if first is not None else chosen[-last:] if last else chosen
        return _connection([(self._node(o), _encode_cursor(key(o))) for o in window],
                           has_next=len(window) < len(chosen) and first is not None)  # fmt: skip

    def _node(self, o: _Order) -> dict[str, Any]:
        gid = f"gid://shopify/Order/{o.number}"
        email = o.email if self.protected_customer_data else None
        items = [{"id": f"gid://shopify/LineItem/{o.number * 100 + k}", "quantity": 1, "name": c,
                  "product": {"id": f"gid://shopify/Product/{k + 1}", "productType": c}}
                 for k, c in enumerate(o.categories)]  # fmt: skip
        return {
            "id": gid, "name": f"#{o.number}", "email": email,
            "createdAt": _served_time(o.created_at),
            "updatedAt": _iso(o.updated_at), "processedAt": o.created_at,
            "cancelledAt": _iso(o.cancelled_at) if o.cancelled_at else None,
            "displayFinancialStatus": o.financial_status, "currencyCode": o.currency,
            "totalPriceSet": _money_bag(o.total, o.currency),
            "totalRefundedSet": _money_bag(o.refunded, o.currency),
            "billingAddress": _address(o.billing), "shippingAddress": _address(o.shipping),
            "customer": None if not self.protected_customer_data else {
                "id": f"gid://shopify/Customer/{o.number}", "email": email,
                "firstName": o.first_name, "lastName": o.last_name},
            "lineItems": lambda info, **a: _line_items(info, items, a),
        }  # fmt: skip

    # ---- bulk operations -----------------------------------------------------------------------

    def _resolve_bulk_run(self, _info: Any, query: str) -> dict[str, Any]:
        if self._bulk is not None and self._bulk.status in ("CREATED", "RUNNING"):
            msg = f"A bulk query operation for this app and shop is already in progress: {_bulk_gid(self._bulk)}."
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": msg}]}
        try:
            document = parse(query)
        except GraphQLError as err:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": err.message}]}
        errors = validate(load_schema(), document)
        if errors:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": errors[0].message}]}
        self._require_orders_scope()
        self._bulk_count += 1
        op = self._bulk = _BulkOperation(self._bulk_count, query)

        def build() -> None:  # like Shopify, the file is produced after the mutation has answered
            lines = self._bulk_lines(document)
            op.lines, op.object_count = b"".join(lines), len(lines)
            op.done.set()

        threading.Thread(target=build, name="shopify-sandbox-bulk", daemon=True).start()
        return {"bulkOperation": self._bulk_json(op), "userErrors": []}

    def _resolve_current_bulk(self, _info: Any, type: str = "QUERY") -> dict[str, Any] | None:
        op = self._bulk
        if op is None or type != "QUERY":
            return None
        op.polls += 1
        if op.status in ("CREATED", "RUNNING"):  # CREATED → RUNNING → COMPLETED once the file is built
            # a short bounded wait keeps small test shops deterministic and big ones answering promptly
            finished = op.polls > 1 and op.done.wait(timeout=0.5)
            op.status = "COMPLETED" if finished else "RUNNING"
        return self._bulk_json(op)

    def _bulk_json(self, op: _BulkOperation) -> dict[str, Any]:
        done = op.status == "COMPLETED"
        return {"id": _bulk_gid(op), "status": op.status, "errorCode": None, "type": "QUERY",
                "query": op.query, "createdAt": _iso(self.now()), "completedAt": _iso(self.now()) if done else None,
                "objectCount": str(op.object_count), "rootObjectCount": str(op.object_count),
                "fileSize": str(len(op.lines)) if done else None, "partialDataUrl": None,
                "url": f"{self.base_url}{_bulk_path(op)}" if done and op.object_count else None}  # fmt: skip

    def _bulk_lines(self, document: DocumentNode) -> list[bytes]:
        """The result as Shopify's JSONL: nested connection nodes become lines with `__parentId`, shuffled."""
        result = execute_sync(load_schema(), document, root_value=self._root(), context_value={"bulk": True})
        if result.errors:
            raise result.errors[0]
        lines: list[dict[str, Any]] = []
        for edge in ((result.data or {}).get("orders") or {}).get("edges") or []:
            _flatten(dict(edge["node"]), None, lines)
        self._rng.shuffle(lines)  # children may come before their parent: clients must not assume order
        return [json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines]


# ---- helpers ------------------------------------------------------------------------------------


def _flatten(node: dict[str, Any], parent: str | None, out: list[dict[str, Any]]) -> None:
    for key, value in list(node.items()):
        if isinstance(value, dict) and "edges" in value:
            del node[key]
            for edge in value["edges"] or []:
                _flatten(dict(edge["node"]), str(node.get("id")), out)
    if parent is not None:
        node["__parentId"] = parent
    out.append(node)


def _max_cost_error(cost: int) -> dict[str, Any]:
    """Shopify's refusal of a query over the single-query limit, as captured from real responses.

    The message text is Shopify's (quoted in https://github.com/Shopify/shopify-app-js/issues/577);
    the `extensions` (code, cost, maxCost, documentation) follow a captured response in
    https://github.com/edstevo/laravel-shopify-graph's tests. Neither shows a top-level
    `extensions.cost` beside it, so the sandbox sends none: a client must read `cost` here.
    """
    message = (
        f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
        "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
        "cost of a query is calculated.\n\n"
        "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
        "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"
    )
    extensions = {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST,
                  "documentation": "https://shopify.dev/api/usage/limits#rate-limits"}  # fmt: skip
    return {"message": message, "extensions": extensions}


def _sort_key(sort_key: str) -> Callable[[_Order], list[Any]]:
    if sort_key == "UPDATED_AT":
        return lambda o: [o.updated_at.timestamp(), o.number]
    if sort_key in ("CREATED_AT", "PROCESSED_AT"):
        return lambda o: [(_utc(o.created_at) or datetime.min.replace(tzinfo=UTC)).timestamp(), o.number]
    return lambda o: [o.number]


def _matches(order: _Order, query: str | None) -> bool:
    """The `updated_at` / `created_at` comparisons of Shopify's search syntax, ANDed; other terms are ignored."""
    for term in (query or "").split():
        name, _, rest = term.partition(":")
        if name not in ("updated_at", "created_at") or not rest:
            continue
        op = next(o for o in (">=", "<=", ">", "<", "") if rest.startswith(o))
        bound = _utc(rest[len(op) :].strip("'\""))
        value = order.updated_at if name == "updated_at" else _utc(order.created_at)
        if bound is None or value is None:
            continue
        ok = {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound,
              "": value.date() == bound.date()}[op]  # fmt: skip
        if not ok:
            return False
    return True


def _require_page_size(info: Any, args: Mapping[str, Any]) -> None:
    """Outside a bulk query Shopify refuses a connection without `first` or `last`."""
    if args.get("first") is None and args.get("last") is None and not (info.context or {}).get("bulk"):
        raise GraphQLError("you must provide one of first or last")


def _line_items(info: Any, items: list[dict[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
    """An order's line items, paged by `first` / `after` like any connection."""
    _require_page_size(info, args)
    start = _decode_cursor(args["after"])[0] + 1 if args.get("after") else 0
    first = args.get("first")
    end = len(items) if first is None else start + first
    window = [(item, _encode_cursor([n])) for n, item in enumerate(items)][start:end]
    return _connection(window, has_next=end < len(items))


def _connection(items: list[tuple[dict[str, Any], str]], *, has_next: bool) -> dict[str, Any]:
    return {
        "nodes": [node for node, _ in items],
        "edges": [{"node": node, "cursor": cursor} for node, cursor in items],
        "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": False,
                     "startCursor": items[0][1] if items else None,
                     "endCursor": items[-1][1] if items else None},
    }  # fmt: skip


def _encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise GraphQLError("Invalid cursor for current pagination sort.") from None
    if not isinstance(key, list):
        raise GraphQLError("Invalid cursor for current pagination sort.")
    return key


def _money_bag(amount: str, currency: str) -> dict[str, Any]:
    money = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def _address(place: tuple[str, str | None] | None) -> dict[str, Any] | None:
    if place is None:
        return None
    return {"countryCodeV2": place[0], "provinceCode": place[1], "country": None, "province": None}


def _places(contacts_csv: Path) -> dict[str, tuple[str, str | None, str, str]]:
    places: dict[str, tuple[str, str | None, str, str]] = {}
    with open(contacts_csv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            country = (row.get("country") or "").strip()
            if country:
                places[(row.get("email") or "").strip().lower()] = (
                    country, _PROVINCES.get(row.get("timezone") or ""), row.get("first_name") or "",
                    row.get("last_name") or "")  # fmt: skip
    return places


def _bulk_gid(op: _BulkOperation) -> str:
    return f"gid://shopify/BulkOperation/{op.number}"


def _bulk_path(op: _BulkOperation) -> str:
    return f"/bulk-results/{op.number}.jsonl"


def _utc(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _served_time(raw: str) -> str:
    """UTC with Z like Shopify; a value without an offset or unparseable is served as is (a malformed row)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw
    return raw if value.tzinfo is None else str(_iso(value))


def _second(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _iso(value: datetime | None) -> str | None:
    return (
        None if value is None else value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _json_reply(status: int, body: Any) -> Reply:
    return Reply(status, _JSON, json.dumps(body).encode())
