"""A local stand-in for WooCommerce REST API v3 `GET /wp-json/wc/v3/orders`, stdlib only.

Why: the WooCommerce connector is tested end to end over real HTTP without a store, and the demo serves
the orders of `segmail.sandbox.shopgen` so the shop matches the Mailchimp sandbox's audience.

What it follows, and where from (the REST API docs, https://woocommerce.github.io/woocommerce-rest-api-docs/,
are the reference; where they are silent, WooCommerce's and WordPress's own code decides, and the
comment at that rule names the file):
- `per_page` 1..100 (default 10), larger or smaller is a 400 `rest_invalid_param` ("#pagination";
  WordPress validates `maximum => 100`); `page` is 1-based; a page past the end is an empty list, as
  `WC_REST_CRUD_Controller::get_objects` answers it.
- `X-WP-Total` and `X-WP-TotalPages` on every list ("#pagination"), and `Link` with `prev`/`next`.
- Errors are `{"code", "message", "data": {"status"}}` ("#errors"); 401 `woocommerce_rest_cannot_view`
  for a request that is not authenticated (no key, or an unknown key), 401
  `woocommerce_rest_authentication_error` for a known key with a wrong secret (class-wc-rest-authentication.php).
- Dates: `date_*` are in the site's time zone (`utc_offset`), `date_*_gmt` in GMT ("#order-properties").
  `after`/`modified_after` compare against the GMT columns only with `dates_are_gmt=true`.
- `version` switches the filters on as WooCommerce's changelog added them: `orderby=modified` in 4.4,
  `dates_are_gmt` in 5.4, `modified_after` in 5.8. An older store ignores a parameter it does not
  know (WordPress drops undeclared parameters) but refuses an `orderby` value outside its enum.
Faults come from `segmail.sandbox.faults`.
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
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from segmail.sandbox.faults import Faults
from segmail.sandbox.mailchimp_http import HttpServer, Reply, ServedSandbox, basic_credentials
from segmail.sandbox.woocommerce_orders import abs_money, order_from_row, read_contacts
from segmail.sandbox.woocommerce_query import (
    GMT_FORMAT,
    HttpError,
    OrdersQuery,
)

__all__ = ["API_PATH", "LoggedRequest", "WooCommerceSandbox", "clock_after"]

API_PATH: Final = "/wp-json/wc/v3"
ORDERS_PATH: Final = API_PATH + "/orders"
DEFAULT_VERSION: Final = "9.0"
_JSON: Final = "application/json; charset=UTF-8"
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


class WooCommerceSandbox(ServedSandbox):
    """The fake store: orders in memory, served over HTTP; a context manager that starts and stops it."""

    def __init__(
        self,
        *,
        consumer_key: str = "ck_sandbox_0123456789",
        consumer_secret: str = "cs_sandbox_9876543210",
        version: str = DEFAULT_VERSION,
        utc_offset: timedelta = timedelta(0),
        faults: Faults | None = None,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.version = _version(version)
        self.utc_offset = utc_offset  # the site's time zone, as WordPress's "Timezone" setting gives it
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
        return self.clock().astimezone(UTC).strftime(GMT_FORMAT)

    def local(self, gmt: str) -> str:
        """A `*_gmt` value as the site's wall clock, the way the field without `_gmt` shows it."""
        try:
            wall = datetime.strptime(gmt, GMT_FORMAT).replace(tzinfo=UTC) + self.utc_offset
            return wall.strftime(GMT_FORMAT)
        except ValueError:
            return gmt  # a malformed value is served as it is

    # ---- data --------------------------------------------------------------------------------------
    def add_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Store one order's JSON as given (tests use it for malformed orders); returns the stored copy.

        A `date_created`/`date_modified` the order lacks is filled in from its `_gmt` twin and `utc_offset`.
        """
        stored = self._with_local_dates(dict(order))
        with self._lock:
            self.orders[int(stored["id"])] = stored
            self._version += 1
        return stored

    def load_orders(self, path: Path | str, *, contacts_csv: Path | str | None = None) -> int:
        """The orders of a `segmail.sandbox.shopgen` orders.csv as WooCommerce orders; returns how many.

        Values the CSV gets wrong (a bad date, amount or address) are served as they are, so the client's
        error handling sees them the way a real store would send them.
        """
        contacts = read_contacts(Path(contacts_csv)) if contacts_csv is not None else {}
        with Path(path).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        with self._lock:
            for row in rows:
                order = self._with_local_dates(order_from_row(row, contacts, self._take_refund_id))
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
            if sum(abs_money(r["total"]) for r in refunds) >= abs_money(order["total"]):
                order["status"] = "refunded"
            self._touch(order)
            return order

    def _with_local_dates(self, order: dict[str, Any]) -> dict[str, Any]:
        for name in ("date_created", "date_modified"):
            if name not in order and isinstance(order.get(f"{name}_gmt"), str):
                order[name] = self.local(order[f"{name}_gmt"])
        return order

    def _order(self, order_id: int) -> dict[str, Any]:
        if order_id not in self.orders:
            raise KeyError(f"no order {order_id} in the sandbox")
        return self.orders[order_id]

    def _touch(self, order: dict[str, Any]) -> None:
        order["date_modified_gmt"] = self.now()
        order["date_modified"] = self.local(order["date_modified_gmt"])
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
        except HttpError as err:
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
            err = HttpError(429, "too_many_requests", "Too many requests, slow down.")
            return _error_reply(err, (("Retry-After", "1"),))
        if kind == "502_html":
            return Reply(502, (("Content-Type", "text/html; charset=utf-8"),), _BAD_GATEWAY_HTML)
        if kind == "reset":
            return Reply(reset=True)
        if kind == "timeout":
            self._stopping.wait(self._faults.timeout_s)
        status = _FAULT_STATUS[kind]
        return _error_reply(HttpError(status, "internal_server_error", "There has been a critical error."))

    def _handle(self, entry: LoggedRequest) -> Reply:
        # authentication runs before routing (WordPress's `rest_authentication_errors` filter)
        authenticated = self._authenticate(entry.headers)
        if entry.method != "GET" or entry.path.rstrip("/") != ORDERS_PATH:
            raise HttpError(404, "rest_no_route", "No route was found matching the URL and request method.")
        if not authenticated:
            raise HttpError(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        query = OrdersQuery.parse(entry.query, version=self.version, utc_offset=self.utc_offset)
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
        # past the last page: an empty list with the real totals (WC_REST_CRUD_Controller::get_objects),
        # not WordPress's posts-controller 400 `rest_post_invalid_page_number`
        chunk = matching[(query.page - 1) * query.per_page : query.page * query.per_page]
        headers = (("Content-Type", _JSON), ("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages)),
                   *_link(self.base_url + entry.path, entry.query, query.page, pages))  # fmt: skip
        return Reply(200, headers, json.dumps(chunk).encode())

    def _authenticate(self, headers: Mapping[str, str]) -> bool:
        """Basic auth with the consumer key and secret, as `WC_REST_Authentication::perform_basic_authentication`.

        No credentials or an unknown key leave the request unauthenticated (the endpoint then refuses it);
        a known key with a wrong secret is an error of its own. WooCommerce takes Basic auth only over
        HTTPS (plain HTTP needs OAuth 1.0a signatures); the sandbox, on loopback HTTP, takes it anyway.
        """
        credentials = basic_credentials(headers)
        if credentials is None or not hmac.compare_digest(credentials[0], self.consumer_key):
            return False
        if not hmac.compare_digest(credentials[1], self.consumer_secret):
            raise HttpError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        return True


def _version(text: str) -> tuple[int, int]:
    major, _, rest = text.strip().partition(".")
    minor = rest.partition(".")[0] or "0"
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"version must look like 9.0 or 5.7.1, got {text!r}")
    return int(major), int(minor)


def _link(url: str, query: Mapping[str, list[str]], page: int, pages: int) -> tuple[tuple[str, str], ...]:
    """`prev`/`next` as `WC_REST_CRUD_Controller::get_items` sends them (the docs also name `first`/`last`)."""

    def at(n: int) -> str:
        params = {k: v[-1] for k, v in query.items()} | {"page": str(n)}
        return f"<{url}?{urlencode(params)}>"

    rels = [(min(page - 1, pages), "prev")] if page > 1 else []
    rels += [(page + 1, "next")] if page < pages else []
    return (("Link", ", ".join(f'{at(n)}; rel="{rel}"' for n, rel in rels)),) if rels else ()


def _error_reply(err: HttpError, extra: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = {"code": err.code, "message": str(err), "data": {"status": err.status, **err.data}}
    return Reply(err.status, (("Content-Type", _JSON), *extra), json.dumps(body).encode())


def clock_after(start: datetime, step: timedelta) -> Callable[[], datetime]:
    """A clock for tests that advances by `step` on every read, so each edit gets a later stamp."""
    now = [start]

    def tick() -> datetime:
        now[0] += step
        return now[0]

    return tick
