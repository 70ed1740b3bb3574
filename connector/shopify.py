"""Shopify GraphQL Admin API: orders in, by `updated_at` cursor pages or, on a large first import, one bulk operation.

Why it looks the way it does (../shared/contracts/shops.md §A):
- GraphQL is primary (REST is legacy since 2024-10); one POST per call, token in `X-Shopify-Access-Token`.
- Rate limits are a leaky bucket of query-cost points read from `extensions.cost`; the client waits
  *before* a request that the bucket cannot pay for, and waits again on a `THROTTLED` error, so it
  never hammers. HTTP 429/5xx/timeouts go through the shared `retry_policy`.
- First import: `ordersCount(limit: bulk_threshold + 1)` decides. More than `bulk_threshold` orders, or
  a count we cannot read (null), means a bulk operation; otherwise plain paging is cheaper to start.
- Bulk JSONL does not promise that a child line follows its parent, so the file is downloaded to a
  temporary file (constant memory) and read twice: pass 1 collects each order's product types by
  `__parentId`, pass 2 yields the orders. Memory is one small tuple per order that has line items.
"""

from __future__ import annotations

import json
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any, Final

from connector import fields
from connector.fields import FieldError
from connector.http import (
    ApiError,
    ConfigurationError,
    Redactor,
    Response,
    RetryStats,
    TransientError,
    classify,
    make_session,
    parse_retry_after,
    retry_policy,
)
from connector.records import Order, OrderPage
from connector.shop_status import canonical, status_map

MAX_PAGE_SIZE: Final = 250  # "You can retrieve up to a maximum of 250 resources" per page
LINE_ITEMS_PER_ORDER: Final = 20
SCOPES_HELP: Final = (
    "the Shopify app needs the `read_orders` access scope (and `read_all_orders` for orders older than "
    "60 days) and protected customer data access level 2 (email) — grant them and reinstall the app"
)

_ORDER_FIELDS: Final = """
      id name email createdAt updatedAt cancelledAt displayFinancialStatus currencyCode
      totalPriceSet { shopMoney { amount currencyCode } }
      totalRefundedSet { shopMoney { amount } }
      billingAddress { countryCodeV2 provinceCode }
      shippingAddress { countryCodeV2 provinceCode }
      customer { email firstName lastName }"""

ORDERS_QUERY: Final = f"""
query SegmailOrders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {{
    nodes {{{_ORDER_FIELDS}
      lineItems(first: {LINE_ITEMS_PER_ORDER}) {{ nodes {{ product {{ productType }} }} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
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

_BULK_FAILED: Final = frozenset({"FAILED", "CANCELED", "CANCELING", "EXPIRED"})


@dataclass(frozen=True, kw_only=True)
class ShopifySettings:
    """Where the shop is and how hard to pull; errors name the field."""

    shop_url: str
    access_token: str
    api_version: str = "2025-01"
    page_size: int = 100
    timeout_s: float = 30.0
    attempts: int = 6
    lookback: timedelta = timedelta(minutes=10)
    bulk_threshold: int = 10_000
    bulk_poll_s: float = 5.0
    bulk_max_polls: int = 17_280  # a day at the default interval; Shopify stops a bulk query after 10 days

    def __post_init__(self) -> None:
        problems = []
        if not self.shop_url.startswith(("https://", "http://")):
            problems.append(f"shop_url must start with https://, got {self.shop_url!r}")
        if not self.access_token:
            problems.append("access_token must not be empty")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {self.page_size}")
        if self.attempts < 1:
            problems.append(f"attempts must be at least 1, got {self.attempts}")
        if self.lookback < timedelta(0):
            problems.append(f"lookback must be non-negative, got {self.lookback}")
        if self.bulk_threshold < 0:
            problems.append(f"bulk_threshold must be non-negative, got {self.bulk_threshold}")
        if self.bulk_poll_s <= 0 or self.bulk_max_polls < 1:
            problems.append("bulk_poll_s and bulk_max_polls must be positive")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def endpoint(self) -> str:
        return f"{self.shop_url.rstrip('/')}/admin/api/{self.api_version}/graphql.json"


@dataclass
class _Bucket:
    """Shopify's cost bucket as last reported, restored at `restore_rate` per second since then."""

    maximum: float = 0.0
    available: float = 0.0
    restore_rate: float = 0.0
    seen_at: float = 0.0
    last_cost: float = 0.0

    def update(self, cost: Mapping[str, Any], now: float) -> None:
        status = cost.get("throttleStatus") or {}
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status["restoreRate"])
            self.last_cost = float(cost.get("requestedQueryCost") or 0)
        except (KeyError, TypeError, ValueError):
            return  # no usable numbers: keep the old view rather than guess
        self.seen_at = now

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` points are available (0 when unknown or already there)."""
        if self.restore_rate <= 0:
            return 0.0
        available = min(self.maximum, self.available + (now - self.seen_at) * self.restore_rate)
        deficit = min(cost, self.maximum) - available
        # a millisecond more than the exact figure, so float rounding never arrives one point short
        return deficit / self.restore_rate + 0.001 if deficit > 0 else 0.0


@dataclass
class ShopifyStats:
    requests: int = 0
    throttle_waits: int = 0
    throttled_errors: int = 0
    waited_s: float = 0.0
    bulk: bool = False
    retry: RetryStats | None = None


class ShopifyClient:
    """Orders of one shop as `OrderPage`s, oldest change first; owns one pooled session."""

    def __init__(
        self,
        settings: ShopifySettings,
        *,
        statuses: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.stats = ShopifyStats(retry=RetryStats())
        self._statuses = status_map("shopify", statuses or {})
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._redact = Redactor([settings.access_token])
        self._session = make_session(pool_size=2)
        self._bucket = _Bucket()
        self._costs: dict[
            str, float
        ] = {}  # requestedQueryCost per query text: a page costs the same each time

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- reading ------------------------------------------------------------------------------

    def orders(self, *, cursor: str | None) -> Iterator[OrderPage]:
        """Orders changed since `cursor` (minus the look-back), or all of them when it is None."""
        if cursor is None and self._use_bulk():
            self.stats.bulk = True
            yield from self._bulk_orders()
            return
        since = None if cursor is None else _parse_cursor(cursor) - self.settings.lookback
        yield from self._paged_orders(since, cursor)

    def _use_bulk(self) -> bool:
        limit = self.settings.bulk_threshold + 1
        data = self.call("orders count", ORDERS_COUNT_QUERY, {"limit": limit})
        count = (data.get("ordersCount") or {}).get("count")
        return not isinstance(count, int) or count > self.settings.bulk_threshold

    def _paged_orders(self, since: datetime | None, cursor: str | None) -> Iterator[OrderPage]:
        query = None if since is None else f"updated_at:>'{_iso(since)}'"
        after: str | None = None
        seen: set[str] = set()
        while True:
            variables = {"first": self.settings.page_size, "after": after, "query": query}
            conn = self.call("orders page", ORDERS_QUERY, variables).get("orders") or {}
            nodes = conn.get("nodes") or []
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
            latest = _later(latest, node.get("updatedAt"))
            cats = None if categories is None else categories.get(str(node.get("id")), ())
            try:
                orders.append(parse_order(node, self._statuses, categories=cats))
            except FieldError as exc:
                problems.append(f"order {_order_ref(node)}: {exc}")
        return OrderPage(orders=orders, problems=problems, cursor=latest)

    # ---- bulk ---------------------------------------------------------------------------------

    def _bulk_orders(self) -> Iterator[OrderPage]:
        url = self._run_bulk()
        if url is None:  # Shopify gives no URL when the operation found nothing
            yield OrderPage(orders=[], problems=[], cursor=None)
            return
        with tempfile.TemporaryFile("w+b") as raw:
            self._download(url, raw)
            size = raw.tell()
            raw.seek(0)
            latest: str | None = None
            # children are joined to their orders one partition at a time (a grace hash join),
            # so memory stays bounded by the partition size whatever the shop's size
            parts = _partitions(raw, size)
            try:
                for part in parts:
                    categories = _bulk_children(part)
                    part.seek(0)
                    for page in self._bulk_pages(part, categories):
                        latest = _later(latest, page.cursor)
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
            raise ApiError(self._redact(f"Shopify bulk operation refused: {text}"))
        # "already in progress": ours, started by a run that crashed or a retried request — adopt it
        op_id = None if errors else (payload.get("bulkOperation") or {}).get("id")
        for _ in range(self.settings.bulk_max_polls):
            self._sleep(self.settings.bulk_poll_s)
            op = self.call("bulk operation status", BULK_POLL_QUERY, {}).get("currentBulkOperation") or {}
            if op_id is not None and op.get("id") != op_id:
                raise ApiError(f"Shopify bulk operation {op_id} was replaced by {op.get('id')}")
            status = op.get("status")
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

    def _download(self, url: str, out: IO[bytes]) -> None:
        """Stream the JSONL to `out`; the URL is pre-signed, so the token is NOT sent with it."""
        policy = retry_policy(attempts=self.settings.attempts, sleep=self._sleep, stats=self.stats.retry)
        for attempt in policy:
            with attempt:
                out.seek(0)
                out.truncate()
                self._download_once(url, out)
                return

    def _download_once(self, url: str, out: IO[bytes]) -> None:
        try:
            with self._session.get(url, stream=True, timeout=self.settings.timeout_s) as response:
                if response.status_code != 200:
                    raise classify(
                        response.status_code, f"Shopify bulk download: HTTP {response.status_code}"
                    )
                for chunk in response.iter_content(chunk_size=1 << 16):
                    out.write(chunk)
        except OSError as exc:  # requests' errors are OSErrors: resets, timeouts, refused connections
            raise classify(None, f"Shopify bulk download: no response ({type(exc).__name__})") from None

    def _bulk_pages(self, raw: IO[bytes], categories: Mapping[str, tuple[str, ...]]) -> Iterator[OrderPage]:
        """Parents in file order, `page_size` at a time; only the last page carries the cursor.

        The file is not in `updatedAt` order, so saving a running maximum after an early page would
        skip older orders of later pages if the import stopped half-way.
        """
        batch: list[dict[str, Any]] = []
        latest: str | None = None
        problems: list[str] = []
        for obj in _jsonl(raw, problems):
            if "__parentId" in obj:
                continue
            latest = _later(latest, obj.get("updatedAt"))
            batch.append(obj)
            if len(batch) == self.settings.page_size:
                page = self._page(batch, None, categories=categories)
                yield OrderPage(orders=page.orders, problems=problems + page.problems, cursor=None)
                batch, problems = [], []
        page = self._page(batch, None, categories=categories)
        yield OrderPage(orders=page.orders, problems=problems + page.problems, cursor=latest)

    # ---- one GraphQL call ---------------------------------------------------------------------

    def call(self, what: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One query under the retry policy and the cost bucket; returns `data`."""
        policy = retry_policy(attempts=self.settings.attempts, sleep=self._sleep, stats=self.stats.retry)
        for attempt in policy:
            with attempt:
                return self._once(what, query, variables)
        raise AssertionError("unreachable: the policy re-raises the last error")  # pragma: no cover

    def _once(self, what: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        self._wait_for_points(self._costs.get(query, self._bucket.last_cost))
        self.stats.requests += 1
        try:
            response = self._session.post(
                self.settings.endpoint,
                json={"query": query, "variables": dict(variables)},
                headers={"X-Shopify-Access-Token": self.settings.access_token, "Accept": "application/json"},
                timeout=self.settings.timeout_s,
            )
        except OSError as exc:  # requests' errors are OSErrors: resets, timeouts, refused connections
            raise classify(None, f"Shopify {what}: no response ({type(exc).__name__})") from None
        return self._data(what, query, response)

    def _wait_for_points(self, cost: float) -> None:
        wait = self._bucket.wait_for(cost, self._clock())
        if wait > 0:
            self.stats.throttle_waits += 1
            self.stats.waited_s += wait
            self._sleep(wait)

    def _data(self, what: str, query: str, response: Response) -> dict[str, Any]:
        status = response.status_code
        if status in (401, 403):
            raise ConfigurationError(
                f"Shopify {what}: HTTP {status}: the access token was refused or lacks scopes; {SCOPES_HELP}",
                status=status,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if status != 200:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            detail = self._redact(_error_text(body))
            raise classify(status, f"Shopify {what}: HTTP {status}: {detail or 'no details'}",
                           detail=detail, retry_after=retry_after)  # fmt: skip
        if not isinstance(body, dict):
            raise classify(502, f"Shopify {what}: the response is not a JSON object")
        cost = (body.get("extensions") or {}).get("cost")
        if isinstance(cost, dict):
            self._bucket.update(cost, self._clock())
            if cost.get("requestedQueryCost") is not None:
                self._costs[query] = float(cost["requestedQueryCost"])
        errors = body.get("errors") or []
        if errors:
            self._raise_errors(what, errors, cost if isinstance(cost, dict) else {})
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def _raise_errors(self, what: str, errors: Any, cost: Mapping[str, Any]) -> None:
        codes = {_code(e) for e in errors} if isinstance(errors, list) else set()
        if "THROTTLED" in codes:
            self.stats.throttled_errors += 1
            requested = float(cost.get("requestedQueryCost") or self._bucket.last_cost or 1)
            # at least one point's worth: an immediate retry would only be throttled again
            wait = max(self._bucket.wait_for(requested, self._clock()), 1 / max(self._bucket.restore_rate, 1))
            raise TransientError(f"Shopify {what}: throttled", retry_after=wait)
        if "ACCESS_DENIED" in codes:
            raise ConfigurationError(f"Shopify {what}: access denied; {SCOPES_HELP}", status=200)
        raise ApiError(self._redact(f"Shopify {what}: GraphQL errors: {_error_text({'errors': errors})}"))


# ---- mapping ------------------------------------------------------------------------------------


def parse_order(
    node: Mapping[str, Any], statuses: Mapping[str, str], *, categories: tuple[str, ...] | None = None
) -> Order:
    """One GraphQL order node → `Order`; raises FieldError naming the bad field (never the email)."""
    customer = node.get("customer") or {}
    raw_email = node.get("email") or customer.get("email")
    if not raw_email:
        raise FieldError("no email (protected customer data not granted?)")
    total_money = _path(node, "totalPriceSet", "shopMoney")
    total = fields.money(str(total_money.get("amount", "")), "total")
    refunded = fields.money(
        str(_path(node, "totalRefundedSet", "shopMoney").get("amount") or "0"), "refunded"
    )
    if refunded > total:
        raise FieldError(f"refunded {refunded} exceeds total {total}")
    country, province = _address(node)
    return Order(
        order_id=order_id(node),
        email_key=fields.email_key(str(raw_email)),
        created_at=fields.timestamp(str(node.get("createdAt") or ""), "createdAt", naive_is_utc=False),
        total=total,
        currency=fields.currency_code(str(total_money.get("currencyCode") or node.get("currencyCode") or "")),
        status=_status(node, statuses),
        refunded=refunded,
        categories=categories if categories is not None else _line_item_types(node),
        country=country,
        province=province,
    )


def order_id(node: Mapping[str, Any]) -> str:
    """The numeric tail of `gid://shopify/Order/123`, else the order name."""
    gid = str(node.get("id") or "")
    tail = gid.rsplit("/", 1)[-1]
    if tail.isdigit():
        return tail
    name = fields.text(node.get("name"))
    if name is None:
        raise FieldError("no id")
    return name


def _status(node: Mapping[str, Any], statuses: Mapping[str, str]) -> str:
    if node.get("cancelledAt"):
        return "cancelled"
    raw = node.get("displayFinancialStatus")
    if not raw:
        raise FieldError("no displayFinancialStatus")
    status = canonical(str(raw), statuses)
    if status is None:
        raise FieldError(f"displayFinancialStatus {str(raw)!r} is not mapped (add it to [shop.statuses])")
    return status


def _address(node: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for key in ("billingAddress", "shippingAddress"):
        addr = node.get(key) or {}
        try:
            country = fields.country_code(addr.get("countryCodeV2"))
        except FieldError:
            country = None  # e.g. "ZZ", Shopify's unknown region: no better guess than none
        if country:
            return country, fields.text(addr.get("provinceCode"), max_len=8)
    return None, None


def _line_item_types(node: Mapping[str, Any]) -> tuple[str, ...]:
    items = (node.get("lineItems") or {}).get("nodes") or []
    return _categories(
        (item.get("product") or {}).get("productType") for item in items if isinstance(item, dict)
    )


def _categories(types: Iterable[Any]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated and sorted: bulk children arrive in no particular order."""
    return tuple(sorted({str(t).strip().lower() for t in types if t and str(t).strip()}))


PARTITION_BYTES = 16 << 20


def _partitions(raw: IO[bytes], size: int) -> list[IO[bytes]]:
    """The JSONL split into temporary files of about PARTITION_BYTES, each order with all its children."""
    count = max(1, size // PARTITION_BYTES + 1)
    parts: list[IO[bytes]] = [tempfile.TemporaryFile("w+b") for _ in range(count)]  # noqa: SIM115 - closed by the caller
    for line in raw:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            key = str(obj.get("__parentId") or obj.get("id") or "")
        except ValueError:
            key = ""  # a broken line goes to partition 0, where the reader reports it
        parts[zlib.crc32(key.encode()) % count].write(line)
    for part in parts:
        part.seek(0)
    return parts


def _bulk_children(raw: IO[bytes]) -> dict[str, tuple[str, ...]]:
    """Pass 1 over the JSONL: each parent's product types, wherever its children lines are."""
    found: dict[str, set[str]] = {}
    for obj in _jsonl(raw, []):
        parent = obj.get("__parentId")
        if parent is None:
            continue
        kind = (obj.get("product") or {}).get("productType")
        bucket = found.setdefault(str(parent), set())
        if kind:
            bucket.add(str(kind))
    return {parent: _categories(kinds) for parent, kinds in found.items()}


def _jsonl(raw: IO[bytes], problems: list[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            problems.append(f"order ?: bulk line {number} is not JSON")
            continue
        if isinstance(obj, dict):
            yield obj


def _path(node: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    value: Any = node
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _order_ref(node: Mapping[str, Any]) -> str:
    try:
        return order_id(node)
    except FieldError:
        return "?"


def _later(current: str | None, updated_at: Any) -> str | None:
    """The later of a cursor and an `updatedAt`, as ISO-8601 UTC; unparseable values are ignored."""
    try:
        candidate = fields.timestamp(str(updated_at), "updatedAt", naive_is_utc=False)
    except FieldError:
        return current
    if current is not None and _parse_cursor(current) >= candidate:
        return current
    return _iso(candidate)


def _parse_cursor(cursor: str) -> datetime:
    try:
        return fields.timestamp(cursor, "cursor", naive_is_utc=False)
    except FieldError as exc:
        raise ConfigurationError(f"Shopify cursor: {exc}") from None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _code(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None
    code = (error.get("extensions") or {}).get("code")
    return str(code) if code else None


def _error_text(body: Any) -> str:
    """Shopify's `errors` is a string (REST-style 401/429) or a list of GraphQL errors."""
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    return ""


__all__ = [
    "BULK_ORDERS_QUERY",
    "BULK_POLL_QUERY",
    "BULK_RUN_MUTATION",
    "ORDERS_COUNT_QUERY",
    "ORDERS_QUERY",
    "SCOPES_HELP",
    "ShopifyClient",
    "ShopifySettings",
    "parse_order",
]
