"""A local stand-in for WooCommerce REST API v3 `GET /wp-json/wc/v3/orders`, stdlib only.

Why: the WooCommerce connector is tested end to end over real HTTP without a store, and the demo serves
the orders of `sandbox.shopgen` so the shop matches the Mailchimp sandbox's audience. It follows
../shared/contracts/shops.md §B: Basic auth, `per_page` ≤ 100 (larger is a 400 `rest_invalid_param`),
`X-WP-Total`/`X-WP-TotalPages`/`Link` headers, `{code, message, data}` errors, and an "old store" mode
(WooCommerce < 5.8) without `modified_after` or `orderby=modified`. Faults come from `sandbox.faults`.
"""

from __future__ import annotations

import csv
import hmac
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.faults import Faults
from sandbox.mailchimp_http import HttpServer, Reply, ServedSandbox, basic_credentials

__all__ = ["API_PATH", "LoggedRequest", "WooCommerceSandbox", "clock_after"]

API_PATH: Final = "/wp-json/wc/v3"
ORDERS_PATH: Final = API_PATH + "/orders"
MAX_PER_PAGE: Final = 100
_JSON: Final = "application/json; charset=UTF-8"
_GMT: Final = "%Y-%m-%dT%H:%M:%S"  # WooCommerce's `*_gmt` fields: naive, in GMT
# shopgen's canonical statuses back to the WooCommerce statuses a store would show
_WOO_STATUS: Final = {
    "paid": "processing",
    "processing": "processing",
    "completed": "completed",
    "partially_refunded": "completed",
    "refunded": "refunded",
    "cancelled": "cancelled",
    "pending": "pending",
}
_ORDERBY: Final = {  # orderby → the field sorted on (ties broken by id)
    "date": "date_created_gmt",
    "modified": "date_modified_gmt",
    "id": "id",
    "include": "id",
    "title": "id",
    "slug": "id",
}
_DATE_PARAMS: Final = {"after": "date_created_gmt", "modified_after": "date_modified_gmt"}
_FAULT_STATUS: Final = {"500": 500, "503": 503, "timeout": 504}
_BAD_GATEWAY_HTML: Final = b"<html><head><title>502 Bad Gateway</title></head><body>502</body></html>"


@dataclass
class LoggedRequest:
    """One exchange as the sandbox saw it; `status` is None when the connection was reset instead."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int | None = None
    fault: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.data = status, code, data


class WooCommerceSandbox(ServedSandbox):
    """The fake store: orders in memory, served over HTTP; a context manager that starts and stops it."""

    def __init__(
        self,
        *,
        consumer_key: str = "ck_sandbox_0123456789",
        consumer_secret: str = "cs_sandbox_9876543210",
        supports_modified_after: bool = True,
        faults: Faults | None = None,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.supports_modified_after = supports_modified_after
        self.orders: dict[int, dict[str, Any]] = {}
        self.requests_log: list[LoggedRequest] = []
        self.faults_injected: Counter[str] = Counter()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))  # tests may swap it
        # one sorted result per query (without `page`) until the data changes: paging a 200k-order
        # store would otherwise sort it again for every page
        self._version = 0
        self._sorted: tuple[tuple[object, ...], list[dict[str, Any]]] | None = None
        self._init_serving(host, port, faults)
        self._next_refund = 1

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._begin()
        self._serve(HttpServer(self._address, self._exchange, lambda: None), "woocommerce-sandbox")

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` — the store's root; the API lives under /wp-json/wc/v3."""
        return self.root_url

    def now(self) -> str:
        return self.clock().astimezone(UTC).strftime(_GMT)

    # ---- data --------------------------------------------------------------------------------------
    def add_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Store one order's JSON as given (tests use it for malformed orders); returns the stored copy."""
        stored = dict(order)
        with self._lock:
            self.orders[int(stored["id"])] = stored
            self._version += 1
        return stored

    def load_orders(self, path: Path | str, *, contacts_csv: Path | str | None = None) -> int:
        """The orders of a `sandbox.shopgen` orders.csv as WooCommerce orders; returns how many.

        Values the CSV gets wrong (a bad date, amount or address) are served as they are, so the client's
        error handling sees them the way a real store would send them.
        """
        contacts = _read_contacts(Path(contacts_csv)) if contacts_csv is not None else {}
        with Path(path).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        with self._lock:
            for row in rows:
                order = _order_from_row(row, contacts, self._take_refund_id)
                self.orders[order["id"]] = order
            self._version += 1
        return len(rows)

    def edit_order(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change top-level fields of an order (e.g. `status="cancelled"`) and bump its modified date."""
        with self._lock:
            order = self._order(order_id)
            order.update(changes)
            self._touch(order)
            return order

    def refund(self, order_id: int, amount: Decimal | str, reason: str = "") -> dict[str, Any]:
        """Add a refund (stored as a negative total, as WooCommerce does); a full refund sets `refunded`."""
        value = Decimal(str(amount))
        with self._lock:
            order = self._order(order_id)
            refunds = order.setdefault("refunds", [])
            refunds.append({"id": self._take_refund_id(), "reason": reason, "total": f"-{value:.2f}"})
            if sum(_abs_money(r["total"]) for r in refunds) >= _abs_money(order["total"]):
                order["status"] = "refunded"
            self._touch(order)
            return order

    def _order(self, order_id: int) -> dict[str, Any]:
        if order_id not in self.orders:
            raise KeyError(f"no order {order_id} in the sandbox")
        return self.orders[order_id]

    def _touch(self, order: dict[str, Any]) -> None:
        order["date_modified"] = order["date_modified_gmt"] = self.now()
        self._version += 1

    def _take_refund_id(self) -> int:
        self._next_refund += 1
        return self._next_refund - 1

    # ---- one exchange ------------------------------------------------------------------------------
    def _exchange(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urlsplit(target)
        entry = LoggedRequest(method, url.path, parse_qs(url.query, keep_blank_values=True), headers)
        with self._lock:
            self.requests_log.append(entry)
        reply = self._reply(entry)
        entry.status = None if reply.reset else reply.status
        entry.response_headers = dict(reply.headers)
        return reply

    def _reply(self, entry: LoggedRequest) -> Reply:
        kind = self._draw_fault(entry.path)
        if kind is not None and kind != "reset_after_apply":
            return self._fault(entry, kind)
        try:
            reply = self._handle(entry)
        except _HttpError as err:
            reply = _error_reply(err)
        if kind == "reset_after_apply":
            self._count_fault(entry, kind)
            return Reply(reset=True)
        return reply

    def _draw_fault(self, path: str) -> str | None:
        faults = self._faults
        if not path.startswith(API_PATH + "/") or not faults.active or faults.exempt(path[len(API_PATH) :]):
            return None
        if faults.latency_ms:
            self._stopping.wait(faults.latency_ms / 1000)
        with self._lock:
            return faults.draw(self._fault_rng)

    def _count_fault(self, entry: LoggedRequest, kind: str) -> None:
        entry.fault = kind
        with self._lock:
            self.faults_injected[kind] += 1

    def _fault(self, entry: LoggedRequest, kind: str) -> Reply:
        """An injected failure, decided before the request is handled."""
        self._count_fault(entry, kind)
        if kind == "429":  # not a WooCommerce answer: a host or WAF in front of the store sends it
            err = _HttpError(429, "too_many_requests", "Too many requests, slow down.")
            return _error_reply(err, (("Retry-After", "1"),))
        if kind == "502_html":
            return Reply(502, (("Content-Type", "text/html; charset=utf-8"),), _BAD_GATEWAY_HTML)
        if kind == "reset":
            return Reply(reset=True)
        if kind == "timeout":
            self._stopping.wait(self._faults.timeout_s)
        status = _FAULT_STATUS[kind]
        return _error_reply(_HttpError(status, "internal_server_error", "There has been a critical error."))

    def _handle(self, entry: LoggedRequest) -> Reply:
        if entry.method != "GET" or entry.path.rstrip("/") != ORDERS_PATH:
            raise _HttpError(404, "rest_no_route", "No route was found matching the URL and request method.")
        if not self._authorized(entry.headers):
            raise _HttpError(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        query = _Query.parse(entry.query, supports_modified_after=self.supports_modified_after)
        key = (self._version, *sorted((k, tuple(v)) for k, v in entry.query.items() if k != "page"))
        with self._lock:
            if self._sorted is not None and self._sorted[0] == key:
                matching = self._sorted[1]
            else:
                matching = sorted((o for o in self.orders.values() if query.matches(o)), key=query.sort_key,
                                  reverse=query.descending)  # fmt: skip
                self._sorted = (key, matching)
        total = len(matching)
        pages = math.ceil(total / query.per_page)
        if query.page > max(pages, 1):
            raise _HttpError(400, "rest_post_invalid_page_number",
                             "The page number requested is larger than the number of pages available.")  # fmt: skip
        chunk = matching[(query.page - 1) * query.per_page : query.page * query.per_page]
        headers = (("Content-Type", _JSON), ("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages)),
                   *_link(self.base_url + entry.path, entry.query, query.page, pages))  # fmt: skip
        return Reply(200, headers, json.dumps(chunk).encode())

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        credentials = basic_credentials(headers)  # consumer key and secret, over HTTPS
        if credentials is None:
            return False
        user, password = credentials
        return hmac.compare_digest(user, self.consumer_key) and hmac.compare_digest(
            password, self.consumer_secret
        )


@dataclass(frozen=True)
class _Query:
    """The list parameters this sandbox understands, validated the way WordPress does (400 otherwise)."""

    per_page: int
    page: int
    orderby: str
    descending: bool
    bounds: tuple[tuple[str, str], ...]  # (field, naive GMT lower bound), exclusive

    @classmethod
    def parse(cls, q: Mapping[str, list[str]], *, supports_modified_after: bool) -> _Query:
        def one(name: str, default: str) -> str:
            return q.get(name, [default])[-1]

        invalid: dict[str, str] = {}
        per_page = _int_param(one("per_page", "10"), "per_page", 1, MAX_PER_PAGE, invalid)
        page = _int_param(one("page", "1"), "page", 1, None, invalid)
        orderby = one("orderby", "date")
        allowed = set(_ORDERBY) - (set() if supports_modified_after else {"modified"})
        if orderby not in allowed:
            invalid["orderby"] = f"orderby is not one of {', '.join(sorted(allowed))}."
        order = one("order", "desc")
        if order not in ("asc", "desc"):
            invalid["order"] = "order is not one of asc, desc."
        bounds = []
        for name, column in _DATE_PARAMS.items():
            if name not in q:
                continue
            if name == "modified_after" and not supports_modified_after:
                invalid[name] = f"{name} is not a supported parameter."
                continue
            bound = _gmt(q[name][-1])
            if bound is None:
                invalid[name] = f"Invalid date for {name}."
            else:
                bounds.append((column, bound))
        if invalid:
            raise _HttpError(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(invalid)}",
                             params=invalid)  # fmt: skip
        return cls(per_page, page, orderby, order == "desc", tuple(bounds))

    def matches(self, order: Mapping[str, Any]) -> bool:
        # GMT strings compare like the instants they name; a malformed stored date simply sorts oddly
        return all(str(order.get(column, "")) > bound for column, bound in self.bounds)

    def sort_key(self, order: Mapping[str, Any]) -> tuple[str, int]:
        column = _ORDERBY[self.orderby]
        value = "" if column == "id" else str(order.get(column, ""))
        return (value, int(order["id"]))


def _int_param(raw: str, name: str, low: int, high: int | None, invalid: dict[str, str]) -> int:
    try:
        value = int(raw)
    except ValueError:
        invalid[name] = f"{name} is not of type integer."
        return low
    if value < low or (high is not None and value > high):
        upper = f" and {high} (inclusive)" if high is not None else ""
        invalid[name] = f"{name} must be between {low} (inclusive){upper}"
    return value


def _gmt(raw: str) -> str | None:
    """An ISO 8601 parameter as a naive GMT string (offsets converted; naive means GMT)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(_GMT)


def _link(url: str, query: Mapping[str, list[str]], page: int, pages: int) -> tuple[tuple[str, str], ...]:
    def at(n: int) -> str:
        params = {k: v[-1] for k, v in query.items()} | {"page": str(n)}
        return f"<{url}?{urlencode(params)}>"

    rels = [(page - 1, "prev")] if page > 1 else []
    rels += [(page + 1, "next")] if page < pages else []
    return (("Link", ", ".join(f'{at(n)}; rel="{rel}"' for n, rel in rels)),) if rels else ()


def _error_reply(err: _HttpError, extra: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = {"code": err.code, "message": str(err), "data": {"status": err.status, **err.data}}
    return Reply(err.status, (("Content-Type", _JSON), *extra), json.dumps(body).encode())


# ---- shopgen's CSV → WooCommerce JSON -------------------------------------------------------------
def _read_contacts(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        # the row number stands in for the WordPress user id of a registered customer
        return {
            row["email"].strip().lower(): {**row, "user_id": str(n)}
            for n, row in enumerate(csv.DictReader(f), 1)
        }


def _order_from_row(
    row: Mapping[str, str], contacts: Mapping[str, Mapping[str, str]], refund_id: Callable[[], int]
) -> dict[str, Any]:
    email = row["email"].strip()
    contact = contacts.get(email.lower())
    created = _csv_time(row["created_at"])
    return {
        "id": int("".join(c for c in row["order_id"] if c.isdigit()) or 0),
        "number": row["order_id"].lstrip("#"),
        "status": _WOO_STATUS.get(row["status"].strip(), row["status"].strip()),
        "currency": row["currency"],
        "date_created": created,
        "date_created_gmt": created,
        "date_modified": created,
        "date_modified_gmt": created,
        "total": row["total"],
        "customer_id": int(contact["user_id"]) if contact else 0,  # 0 = guest
        "billing": _billing(email, contact),
        "shipping": {k: v for k, v in _billing(email, contact).items() if k not in ("email", "phone")},
        "line_items": _line_items(row.get("categories") or ""),
        "refunds": _refunds(row.get("refunded") or "", refund_id),
        "meta_data": [],
    }


def _csv_time(raw: str) -> str:
    """shopgen writes UTC or shop-local times with an offset; WooCommerce's `_gmt` fields are naive GMT."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw  # served as is: the client must report it
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(_GMT)


def _billing(email: str, contact: Mapping[str, str] | None) -> dict[str, str]:
    contact = contact or {}
    return {
        "first_name": contact.get("first_name", ""),
        "last_name": contact.get("last_name", ""),
        "company": "",
        "address_1": "",
        "address_2": "",
        "city": "",
        "state": "",
        "postcode": "",
        "country": contact.get("country", ""),
        "email": email,
        "phone": "",
    }


def _line_items(categories: str) -> list[dict[str, Any]]:
    # WooCommerce line items name products, not categories; the product name stands in for one here
    return [{"id": n + 1, "name": name.title(), "product_id": 1000 + n, "variation_id": 0, "quantity": 1,
             "sku": name.upper()[:8], "meta_data": []}
            for n, name in enumerate(filter(None, categories.split("|")))]  # fmt: skip


def _refunds(raw: str, refund_id: Callable[[], int]) -> list[dict[str, Any]]:
    amount = _abs_money(raw) if raw.strip() else Decimal(0)
    if amount <= 0:
        return []
    return [{"id": refund_id(), "reason": "", "total": f"-{amount:.2f}"}]


def _abs_money(raw: str) -> Decimal:
    try:
        return abs(Decimal(raw.strip()))
    except InvalidOperation:
        return Decimal(0)


def clock_after(start: datetime, step: timedelta) -> Callable[[], datetime]:
    """A clock for tests that advances by `step` on every read, so each edit gets a later stamp."""
    now = [start]

    def tick() -> datetime:
        now[0] += step
        return now[0]

    return tick
