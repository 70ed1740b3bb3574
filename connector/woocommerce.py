"""WooCommerce REST API v3: orders in, oldest change first, as `OrderPage`s with a resumable cursor.

Why a module of its own: WooCommerce has quirks the generic reader must not know about (see
../shared/contracts/shops.md §B): money and dates are strings, `date_*` without `_gmt` are site-local,
guests have `customer_id = 0`, `per_page` is capped at 100, and stores older than WooCommerce 5.8 have
no `modified_after` filter, so they are read by creation time instead (with a window wide enough for
stores older than 5.4, which have no `dates_are_gmt` either and read a bound in their own time zone).

Limitation: WooCommerce order line items carry no product categories (`name` is a product name), so
`Order.categories` is always empty here; filling it would need a `/products?include=…` look-up.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlsplit

from segmail.connector import fields
from segmail.connector.fields import FieldError
from segmail.connector.http import (
    DEFAULTS,
    Call,
    ConfigurationError,
    Hooks,
    HttpClient,
    HttpStats,
    Response,
    Transport,
    Verdict,
    json_body,
    limit_problems,
)
from segmail.connector.records import Order, OrderPage
from segmail.connector.shop_status import canonical, status_map
from segmail.connector.source import DEFAULT_LOOKBACK, lookback_start

__all__ = ["API_PATH", "PAGE_SIZE_MAX", "WooCommerceClient", "WooSettings", "order_from_json"]

API_PATH: Final = "/wp-json/wc/v3"
PAGE_SIZE_MAX: Final = 100  # WordPress core: per_page 'maximum' => 100, larger values are a 400
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
_AUTH_HINT: Final = "check WC_CONSUMER_KEY/WC_CONSUMER_SECRET and that the key has read access"


@dataclass(frozen=True)
class _Window:
    """How the incremental window is asked for: which filter bounds it and which date orders it."""

    filter_param: str  # query parameter taking the lower bound
    orderby: str  # ascending on the same date, so the newest order of a page is a safe cursor
    cursor_field: str  # the order field whose newest value becomes the cursor
    widen: timedelta = timedelta(0)  # moved back this much more than the look-back


# `modified_after` (WooCommerce 5.8+) with `dates_are_gmt=true` (5.4+): the bound is naive GMT, compared
# with `date_modified_gmt` ("Whether to consider GMT post dates when limiting response by ... modified date").
BY_MODIFIED: Final = _Window("modified_after", "modified", "date_modified_gmt")
# WooCommerce < 5.8: only creation time can be filtered; edits to older orders are missed. Such a store may
# also predate `dates_are_gmt` (5.4) and then reads the naive bound in the site's own time zone, which the
# API does not tell: the bound moves back by the largest UTC offset in use (UTC-12 reads it 12 h late,
# UTC+14 early), so nothing is missed; the orders read twice are de-duplicated or upserted.
MAX_UTC_OFFSET: Final = timedelta(hours=14)
BY_CREATED: Final = _Window("after", "date", "date_created_gmt", widen=MAX_UTC_OFFSET)
ORDERS_PATH: Final = "/orders"
FIXED_PARAMS: Final = {"order": "asc", "dates_are_gmt": "true"}
_PROBE: Final = "probe"  # a Call's context: the first page by modification time, which tells an old store


@dataclass(frozen=True, kw_only=True)
class WooSettings:
    base_url: str  # e.g. "https://shop.example" (the connector appends /wp-json/wc/v3)
    consumer_key: str
    consumer_secret: str
    page_size: int = PAGE_SIZE_MAX
    timeout_s: float = DEFAULTS.timeout_s
    attempts: int = DEFAULTS.attempts
    lookback: timedelta = DEFAULT_LOOKBACK

    def __post_init__(self) -> None:
        problems = _settings_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/") + API_PATH


def _settings_problems(s: WooSettings) -> list[str]:
    problems = []
    url = urlsplit(s.base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        problems.append(f"base_url must be an http(s) URL such as https://shop.example, got {s.base_url!r}")
    elif url.scheme == "http" and not _is_loopback(url.hostname):
        # Basic auth over plain HTTP would send the secret in clear (the API wants OAuth 1.0a there).
        problems.append("base_url must use https (plain http is allowed only for a local sandbox)")
    if url.query or "consumer_" in s.base_url:
        problems.append("base_url must not carry a query string or keys; keys go in consumer_key/secret")
    if not s.consumer_key.strip():
        problems.append("consumer_key must not be empty")
    if not s.consumer_secret.strip():
        problems.append("consumer_secret must not be empty")
    if not 1 <= s.page_size <= PAGE_SIZE_MAX:
        problems.append(f"page_size must be between 1 and {PAGE_SIZE_MAX}, got {s.page_size}")
    problems += limit_problems(timeout_s=s.timeout_s, attempts=s.attempts)
    if s.lookback < timedelta(0):
        problems.append(f"lookback must be non-negative, got {s.lookback}")
    return problems


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Unsupported(Exception):
    """The store has no `modified_after` (or `orderby=modified`): read by creation time instead."""


class WooCommerceClient:
    """Reads a store's orders page by page through its own HTTP client (session, retries, stats).

    Detecting a store without `modified_after` (WooCommerce < 5.8), on the first request of a read:
    - it rejects the request with 400 `rest_invalid_param` whose `data.params` (or message) names
      `modified_after` or `orderby` (WordPress validates enums, so `orderby=modified` fails there), or
    - it ignores the parameter and returns an order modified at or before the bound asked for.
    Either way the read restarts with `after=` (creation time) and `orderby=date`, the same look-back,
    and the client remembers the choice for later reads.
    """

    def __init__(
        self,
        settings: WooSettings,
        *,
        statuses: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.window = BY_MODIFIED
        self._statuses = status_map("woocommerce", statuses or {})
        self.http = HttpClient(
            "WooCommerce",
            secrets=[settings.consumer_key, settings.consumer_secret],
            timeout_s=settings.timeout_s,
            attempts=settings.attempts,
            pool_size=1,
            hooks=Hooks(check=_probe_and_refusal, detail=_wc_detail),
            sleep=sleep,
            log=logging.getLogger("segmail.connector.woocommerce"),
            transport=transport,
        )

    @property
    def stats(self) -> HttpStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> WooCommerceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------------
    def pages(self, cursor: str | None) -> Iterator[OrderPage]:
        """Orders changed since `cursor` (minus the look-back), oldest first, one page at a time.

        Each page's cursor is the newest `cursor_field` in it (aware UTC ISO 8601), or the previous
        cursor for an empty page, so saving it after storing the page never runs ahead of the data.
        """
        start = lookback_start(cursor, self.settings.lookback, "WooCommerce")
        if self.window is BY_MODIFIED:
            try:
                yield from self._read(BY_MODIFIED, start, cursor)
                return
            except _Unsupported:
                self.window = BY_CREATED
        yield from self._read(BY_CREATED, start, cursor)

    def _read(self, window: _Window, start: datetime | None, cursor: str | None) -> Iterator[OrderPage]:
        bound = None if start is None else start - window.widen
        # repeats from offset paging (an order modified mid-read moves) land on nearby pages: remember
        # only the last two pages, so memory stays constant; a farther repeat is an idempotent upsert
        recent: deque[set[tuple[str, str]]] = deque(maxlen=2)
        page = 1
        while True:
            items, total_pages = self._page(window, bound, page)
            if page == 1 and window is BY_MODIFIED and _ignores_bound(items, bound):
                raise _Unsupported
            seen: set[tuple[str, str]] = set().union(*recent)
            result = self._parse(items, window, cursor, seen)
            recent.append({_identity(item) for item in items if isinstance(item, dict)})
            cursor = result.cursor
            yield result
            if len(items) < self.settings.page_size or (total_pages is not None and page >= total_pages):
                return
            page += 1

    def _parse(
        self, items: list[Any], window: _Window, cursor: str | None, seen: set[tuple[str, str]]
    ) -> OrderPage:
        orders: list[Order] = []
        problems: list[str] = []
        newest: datetime | None = None
        for item in items:
            key = _identity(item)
            if key in seen:  # offset paging can repeat an order when others change meanwhile
                continue
            seen.add(key)
            at = _cursor_time(item, window.cursor_field)
            newest = at if at is not None and (newest is None or at > newest) else newest
            try:
                orders.append(order_from_json(item, self._statuses))
            except FieldError as exc:
                problems.append(f"order {key[0]}: {exc}")
        new_cursor = cursor if newest is None else newest.isoformat()
        return OrderPage(orders=orders, problems=problems, cursor=_not_back(new_cursor, cursor))

    # -- one request --------------------------------------------------------------------------------
    def _page(self, window: _Window, bound: datetime | None, page: int) -> tuple[list[Any], int | None]:
        params = {"per_page": str(self.settings.page_size), "page": str(page), "orderby": window.orderby}
        params |= FIXED_PARAMS
        if bound is not None:
            params[window.filter_param] = bound.replace(tzinfo=None).isoformat(timespec="seconds")
        call = Call(
            "list orders",
            "GET",
            self.settings.api_url + ORDERS_PATH,
            params=params,
            auth=(self.settings.consumer_key, self.settings.consumer_secret),
            context=_PROBE if window is BY_MODIFIED and page == 1 else None,
        )
        return self.http.request(call, _orders)


def _orders(response: Response) -> tuple[list[Any], int | None]:
    """The orders of a successful answer and the page count it announces."""
    body = json_body(response)
    if not isinstance(body, list):
        raise ConfigurationError(
            "WooCommerce list orders: the answer is not a JSON list of orders; check the base URL and that "
            "WordPress uses pretty permalinks (the REST API needs them)",
            status=response.status_code,
        )
    return body, _int_header(response, "X-WP-TotalPages")


def _probe_and_refusal(call: Call, response: Response, verdict: Verdict) -> Verdict:
    """The feature probe (a store without `modified_after` says so on the first page) and the key hint."""
    if call.context is _PROBE and _rejects_modified(response.status_code, json_body(response)):
        raise _Unsupported
    if isinstance(verdict, ConfigurationError):
        return ConfigurationError(
            f"WooCommerce refused the consumer key/secret ({verdict.status}): {_AUTH_HINT}",
            status=verdict.status,
        )
    return verdict


# -- mapping ----------------------------------------------------------------------------------------
def order_from_json(item: Any, statuses: Mapping[str, str]) -> Order:
    """One WooCommerce order → `Order`; FieldError names the field, never the address."""
    if not isinstance(item, dict):
        raise FieldError("is not a JSON object")
    billing = _address(item.get("billing"))
    shipping = _address(item.get("shipping"))
    total = fields.money(_str(item.get("total"), "total"), "total")
    refunded = _refunded(item.get("refunds"))
    if refunded > total:
        raise FieldError(f"refunds {refunded} are more than total {total}")
    raw_status = _str(item.get("status"), "status")
    status = canonical(raw_status, statuses)
    if status is None:
        raise FieldError(f"status {raw_status.strip()!r} is unknown; map it in [shop.statuses]")
    country, province = _place(billing if billing.get("country") else shipping)
    return Order(
        order_id=str(item.get("id")),
        email_key=fields.email_key(_str(billing.get("email"), "billing.email")),
        created_at=fields.timestamp(
            _str(item.get("date_created_gmt"), "date_created_gmt"), "date_created_gmt", naive_is_utc=True
        ),
        total=total,
        currency=fields.currency_code(_str(item.get("currency"), "currency")),
        status=status,
        refunded=refunded,
        country=country,
        province=province,
    )


def _refunded(refunds: Any) -> Decimal:
    """Refund totals are negative strings ("-5.00"); their absolute values add up."""
    if refunds is None:
        return Decimal(0)
    if not isinstance(refunds, list):
        raise FieldError("refunds is not a list")
    amount = Decimal(0)
    for refund in refunds:
        raw = _str(refund.get("total") if isinstance(refund, dict) else None, "refunds[].total")
        amount += fields.money(raw.strip().removeprefix("-"), "refunds[].total")
    return amount


def _place(address: dict[str, Any]) -> tuple[str | None, str | None]:
    """Country and state of one address; a bad country drops both rather than the order."""
    try:
        country = fields.country_code(_opt_str(address.get("country")))
    except FieldError:
        return None, None
    state = fields.text(_opt_str(address.get("state")), max_len=10)
    return country, (state.upper() if state and country else None)


def _address(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise FieldError(f"{field} is missing")


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- paging helpers ---------------------------------------------------------------------------------
def _identity(item: Any) -> tuple[str, str]:
    if not isinstance(item, dict):
        return ("?", "")
    return (str(item.get("id")), str(item.get("date_modified_gmt")))


def _cursor_time(item: Any, field: str) -> datetime | None:
    raw = item.get(field) if isinstance(item, dict) else None
    try:
        return fields.timestamp(raw, field, naive_is_utc=True) if isinstance(raw, str) else None
    except FieldError:
        return None


def _not_back(new: str | None, old: str | None) -> str | None:
    """The look-back re-reads older orders; the saved cursor must never move backwards for them."""
    if new is None or old is None:
        return new or old
    new_at = fields.timestamp(new, "cursor", naive_is_utc=True)
    old_at = fields.timestamp(old, "cursor", naive_is_utc=True)
    return new if new_at >= old_at else old


def _ignores_bound(items: list[Any], bound: datetime | None) -> bool:
    if bound is None:
        return False
    times = [t for t in (_cursor_time(i, BY_MODIFIED.cursor_field) for i in items) if t is not None]
    return any(t < bound for t in times)  # strictly: a store may treat the bound as inclusive


def _rejects_modified(status: int, body: Any) -> bool:
    if status != 400 or not isinstance(body, dict) or body.get("code") != "rest_invalid_param":
        return False
    data = body.get("data")
    params = data.get("params") if isinstance(data, dict) else None
    named = set(params) if isinstance(params, dict) else set()
    message = str(body.get("message") or "")
    return bool(named & {"modified_after", "orderby"}) or "modified_after" in message


def _wc_detail(body: Any) -> str:
    """`code: message` of a WooCommerce error body ({code, message, data}); empty if there is none."""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get(k) or "") for k in ("code", "message")]
    return ": ".join(p for p in parts if p)


def _int_header(response: Response, name: str) -> int | None:
    """A count header, or None when absent or garbled (then a short page ends the read)."""
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
