"""Shopify GraphQL Admin API: orders in, by `updated_at` cursor pages or, on a large first import, one bulk operation.

Why it looks the way it does (../shared/contracts/shops.md §A):
- GraphQL is primary (REST is legacy since 2024-10); one POST per call, token in `X-Shopify-Access-Token`.
- Shopify refuses a query whose requested cost is over 1,000 points, so a page's `first` (orders,
  and line items per order) is derived from the query's cost by the documented rule
  (connector/shopify_queries.py); `page_size` only bounds it. When Shopify prices the page higher
  than the rule, or refuses it with MAX_COST_EXCEEDED, the page shrinks and is asked again.
- An order with more line items than a page holds gets the rest by `order(id:) { lineItems }`.
- Pacing by the cost bucket, retries and their log lines: connector/shopify_graphql.py.
- First import: `ordersCount` decides. In 2025-01 it counts to 10,000 at most and says AT_LEAST
  beyond, so AT_LEAST, more than `bulk_threshold`, or an unreadable count means a bulk operation;
  otherwise plain paging is cheaper to start.
- Bulk JSONL does not promise that a child line follows its parent (connector/shopify_bulk.py).
- An order node becomes an `Order` in connector/shopify_orders.py.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, Final, TypeVar

from segmail.connector.fields import FieldError
from segmail.connector.http import (
    DEFAULTS,
    ApiError,
    ConfigurationError,
    HttpStats,
    Transport,
    limit_problems,
)
from segmail.connector.records import Order, OrderPage
from segmail.connector.shop_status import status_map
from segmail.connector.shopify_bulk import bulk_children, jsonl, partitions
from segmail.connector.shopify_graphql import SCOPES_HELP, QueryTooCostly, ShopifyGraphQL
from segmail.connector.shopify_orders import iso_z, later_cursor, order_ref, parse_order
from segmail.connector.shopify_queries import (
    BULK_ORDERS_QUERY,
    BULK_POLL_QUERY,
    BULK_RUN_MUTATION,
    MAX_PAGE_SIZE,
    ORDER_LINE_ITEMS_QUERY,
    ORDERS_COUNT_CAP,
    ORDERS_COUNT_QUERY,
    ORDERS_QUERY,
    PagePlan,
    line_items_first,
    plan_page,
)
from segmail.connector.source import DEFAULT_LOOKBACK, lookback_start

_BULK_FAILED: Final = frozenset({"FAILED", "CANCELED", "CANCELING", "EXPIRED"})
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ShopifySettings:
    """Where the shop is and how hard to pull; errors name the field."""

    shop_url: str
    access_token: str
    api_version: str = "2025-01"
    page_size: int = 100  # an upper bound: the query-cost limit makes the page smaller (plan_page)
    timeout_s: float = DEFAULTS.timeout_s
    attempts: int = DEFAULTS.attempts
    lookback: timedelta = DEFAULT_LOOKBACK
    # Paging costs about 13 points an order actually spent (of 30 requested) by the documented rule, so a
    # Standard plan's 100 points a second pages ~8 orders a second: 1,000 orders take about two minutes,
    # 10,000 twenty. A bulk operation has no cost limit; above this many orders a first import uses one.
    bulk_threshold: int = 1_000
    bulk_poll_s: float = 5.0  # the longest wait between bulk status polls (1 s, 2 s, 4 s, then this)
    bulk_max_polls: int = 17_280  # a day at the default interval; Shopify stops a bulk query after 10 days

    def __post_init__(self) -> None:
        problems = []
        if not self.shop_url.startswith(("https://", "http://")):
            problems.append(f"shop_url must start with https://, got {self.shop_url!r}")
        if not self.access_token:
            problems.append("access_token must not be empty")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {self.page_size}")
        problems += limit_problems(timeout_s=self.timeout_s, attempts=self.attempts)
        if self.lookback < timedelta(0):
            problems.append(f"lookback must be non-negative, got {self.lookback}")
        if not 0 <= self.bulk_threshold <= ORDERS_COUNT_CAP:
            problems.append(
                f"bulk_threshold must be between 0 and {ORDERS_COUNT_CAP} (ordersCount counts no further), "
                f"got {self.bulk_threshold}"
            )
        if self.bulk_poll_s <= 0 or self.bulk_max_polls < 1:
            problems.append("bulk_poll_s and bulk_max_polls must be positive")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def endpoint(self) -> str:
        return f"{self.shop_url.rstrip('/')}/admin/api/{self.api_version}/graphql.json"


@dataclass
class ShopifyPull:
    """How the last reads went, for logs and tests (the HTTP counts are in `ShopifyClient.stats`)."""

    bulk: bool = False  # a first import ran as one bulk operation
    page: PagePlan | None = None  # the last page asked for
    line_item_requests: int = 0  # follow-ups for orders with more line items than a page holds


class ShopifyClient:
    """A shop's orders as a page source (connector/source.py), oldest change first; its `api` owns the HTTP client."""

    def __init__(
        self,
        settings: ShopifySettings,
        *,
        statuses: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.api = ShopifyGraphQL(settings.endpoint, settings.access_token, timeout_s=settings.timeout_s,
                                  attempts=settings.attempts, sleep=sleep, clock=clock, transport=transport)  # fmt: skip
        self.pull = ShopifyPull()
        self._statuses = status_map("shopify", statuses or {})

    @property
    def stats(self) -> HttpStats:
        return self.api.stats

    def call(self, what: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One GraphQL call, paced and retried; returns `data`."""
        return self.api.call(what, query, variables)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- reading ------------------------------------------------------------------------------

    def pages(self, cursor: str | None) -> Iterator[OrderPage]:
        """Orders changed since `cursor` (minus the look-back), or all of them when it is None."""
        if cursor is None and self._use_bulk():
            self.pull.bulk = True
            yield from self._bulk_orders()
            return
        yield from self._paged_orders(lookback_start(cursor, self.settings.lookback, "Shopify"), cursor)

    def _use_bulk(self) -> bool:
        threshold = self.settings.bulk_threshold
        data = self.call("orders count", ORDERS_COUNT_QUERY, {"limit": min(threshold + 1, ORDERS_COUNT_CAP)})
        counted = data.get("ordersCount") or {}
        count, precision = counted.get("count"), counted.get("precision")
        bulk = not isinstance(count, int) or precision == "AT_LEAST" or count > threshold
        shown = (
            f"{count}{'+' if precision == 'AT_LEAST' else ''}"
            if isinstance(count, int)
            else "an unknown number of"
        )
        log.info("Shopify: %s orders in the shop; the first import %s", shown,
                 "runs as one bulk operation" if bulk else "pages through them")  # fmt: skip
        return bulk

    def _paged_orders(self, since: datetime | None, cursor: str | None) -> Iterator[OrderPage]:
        search = None if since is None else f"updated_at:>'{iso_z(since)}'"
        after: str | None = None
        seen: set[str] = set()
        while True:
            conn = self._orders_page(after, search)
            nodes = [self._with_all_line_items(node) for node in conn.get("nodes") or []]
            page = self._page(nodes, cursor, categories=None)
            cursor = page.cursor
            yield page
            info = conn.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after:
                return
            if after in seen:  # a server bug must not become an endless loop
                raise ApiError(f"Shopify orders: page cursor {after!r} repeated; stopping")
            seen.add(after)

    def _orders_page(self, after: str | None, search: str | None) -> dict[str, Any]:
        """One page as large as the cost limit allows; a page Shopify refuses as too costly is asked again smaller."""
        while True:
            plan = _fitted(
                "orders page", lambda: plan_page(self.settings.page_size, self.api.budget(ORDERS_QUERY))
            )
            if plan != self.pull.page:
                log.info("Shopify: pages of %d orders with %d line items each (%d query-cost points)",
                         plan.orders, plan.line_items, plan.cost)  # fmt: skip
                self.pull.page = plan
            variables = {"first": plan.orders, "lineItems": plan.line_items, "after": after, "query": search}
            try:
                return self.call("orders page", ORDERS_QUERY, variables).get("orders") or {}
            except QueryTooCostly:
                continue  # the ratio went up, so the next plan is smaller, or _fitted gives up

    def _with_all_line_items(self, node: Any) -> Any:
        """`node` with every line item, reading past the first page of them when there are more."""
        items = node.get("lineItems") if isinstance(node, dict) else None
        info = (items.get("pageInfo") or {}) if isinstance(items, dict) else {}
        if not info.get("hasNextPage"):
            return node
        assert isinstance(items, dict)
        collected = list(items.get("nodes") or [])
        after, seen = info.get("endCursor"), set()
        while after and after not in seen:
            seen.add(after)
            first = _fitted(
                "order line items", lambda: line_items_first(self.api.budget(ORDER_LINE_ITEMS_QUERY))
            )
            variables = {"id": node.get("id"), "first": first, "after": after}
            try:
                data = self.call("order line items", ORDER_LINE_ITEMS_QUERY, variables)
            except QueryTooCostly:
                seen.discard(after)
                continue
            self.pull.line_item_requests += 1
            conn = (data.get("order") or {}).get("lineItems") or {}
            collected += conn.get("nodes") or []
            more = conn.get("pageInfo") or {}
            after = more.get("endCursor") if more.get("hasNextPage") else None
        return {**node, "lineItems": {"nodes": collected}}

    def _page(
        self, nodes: Iterable[Any], cursor: str | None, *, categories: Mapping[str, tuple[str, ...]] | None
    ) -> OrderPage:
        orders: list[Order] = []
        problems: list[str] = []
        latest = cursor
        for node in nodes:
            if not isinstance(node, dict):
                problems.append("order ?: not an object")
                continue
            latest = later_cursor(latest, node.get("updatedAt"))
            cats = None if categories is None else categories.get(str(node.get("id")), ())
            try:
                orders.append(parse_order(node, self._statuses, categories=cats))
            except FieldError as exc:
                problems.append(f"order {order_ref(node)}: {exc}")
        return OrderPage(orders=orders, problems=problems, cursor=latest)

    # ---- bulk ---------------------------------------------------------------------------------

    def _bulk_orders(self) -> Iterator[OrderPage]:
        url = self._run_bulk()
        if url is None:  # Shopify gives no URL when the operation found nothing
            yield OrderPage(orders=[], problems=[], cursor=None)
            return
        with tempfile.TemporaryFile("w+b") as raw:
            self.api.download(url, raw)
            size = raw.tell()
            raw.seek(0)
            latest: str | None = None
            # children are joined to their orders one partition at a time (a grace hash join),
            # so memory stays bounded by the partition size whatever the shop's size
            parts = partitions(raw, size)
            try:
                for part in parts:
                    categories = bulk_children(part)
                    part.seek(0)
                    for page in self._bulk_pages(part, categories):
                        latest = later_cursor(latest, page.cursor)
                        yield OrderPage(orders=page.orders, problems=page.problems, cursor=None)
                    part.close()  # free its disk space as soon as it is done
            finally:
                for part in parts:
                    part.close()
            yield OrderPage(orders=[], problems=[], cursor=latest)  # the cursor only once all is stored

    def _run_bulk(self) -> str | None:
        data = self.call("bulk operation start", BULK_RUN_MUTATION, {"query": BULK_ORDERS_QUERY})
        payload = data.get("bulkOperationRunQuery") or {}
        errors = payload.get("userErrors") or []
        text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
        if errors and "already in progress" not in text:
            raise ApiError(self.api.redact(f"Shopify bulk operation refused: {text}"))
        # "already in progress": ours, started by a run that crashed or a retried request — adopt it
        op_id = None if errors else (payload.get("bulkOperation") or {}).get("id")
        for poll in range(self.settings.bulk_max_polls):
            self.api.sleep(
                min(self.settings.bulk_poll_s, 2.0**poll)
            )  # a small shop's file is ready in seconds
            op = self.call("bulk operation status", BULK_POLL_QUERY, {}).get("currentBulkOperation") or {}
            if op_id is not None and op.get("id") != op_id:
                raise ApiError(f"Shopify bulk operation {op_id} was replaced by {op.get('id')}")
            status = op.get("status")
            log.info("Shopify bulk operation: %s, %s objects so far", status, op.get("objectCount"))
            if status == "COMPLETED":
                url = op.get("url")
                return str(url) if url else None
            if status in _BULK_FAILED:
                code = op.get("errorCode")
                if code == "ACCESS_DENIED":
                    raise ConfigurationError(f"Shopify bulk operation: access denied; {SCOPES_HELP}")
                raise ApiError(f"Shopify bulk operation ended {status} ({code})")
        raise ApiError(
            f"Shopify bulk operation {op_id} did not finish after {self.settings.bulk_max_polls} polls"
        )

    def _bulk_pages(self, raw: IO[bytes], categories: Mapping[str, tuple[str, ...]]) -> Iterator[OrderPage]:
        """Parents in file order, `page_size` at a time; only the last page carries the cursor.

        The file is not in `updatedAt` order, so saving a running maximum after an early page would
        skip older orders of later pages if the import stopped half-way.
        """
        batch: list[dict[str, Any]] = []
        latest: str | None = None
        problems: list[str] = []
        for obj in jsonl(raw, problems):
            if "__parentId" in obj:
                continue
            latest = later_cursor(latest, obj.get("updatedAt"))
            batch.append(obj)
            if len(batch) == self.settings.page_size:
                page = self._page(batch, None, categories=categories)
                yield OrderPage(orders=page.orders, problems=problems + page.problems, cursor=None)
                batch, problems = [], []
        page = self._page(batch, None, categories=categories)
        yield OrderPage(orders=page.orders, problems=problems + page.problems, cursor=latest)


def _fitted(what: str, plan: Callable[[], T]) -> T:
    try:
        return plan()
    except ValueError as exc:
        raise ApiError(f"Shopify {what}: {exc}; Shopify prices it above its own limit") from None


__all__ = [
    "BULK_ORDERS_QUERY",
    "BULK_POLL_QUERY",
    "BULK_RUN_MUTATION",
    "ORDERS_COUNT_QUERY",
    "ORDERS_QUERY",
    "ORDER_LINE_ITEMS_QUERY",
    "SCOPES_HELP",
    "ShopifyClient",
    "ShopifySettings",
    "parse_order",
]
