"""What tests/test_live_contract.py checks against: each sandbox always, the real service when configured.

A fixture here yields the same kind of target for "sandbox" and "live", so one check function asks both the
same question through segmail's own connectors. The live side reads only, except the Mailchimp tag check,
which touches one tag the user names. Without its variables a live target is skipped, and the reason names
the variables to set. The fixtures (`wire`, `mailchimp`, `shopify`, `woocommerce`) are a plugin registered
in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from segmail.connector.mailchimp import MailchimpApi, data_center
from segmail.connector.mailchimp_parse import MemberPage
from segmail.connector.shopify import ShopifyClient, ShopifySettings
from segmail.connector.woocommerce import WooCommerceClient, WooSettings
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.shopify import ShopifySandbox
from segmail.sandbox.woocommerce import WooCommerceSandbox
from tests.mailchimp_fixture import checked_sandbox

MAILCHIMP_VARS = ("SEGMAIL_LIVE_MAILCHIMP_KEY", "SEGMAIL_LIVE_MAILCHIMP_LIST")
MAILCHIMP_TAG_VAR = "SEGMAIL_LIVE_MAILCHIMP_TAG"
SHOPIFY_VARS = ("SEGMAIL_LIVE_SHOPIFY_URL", "SEGMAIL_LIVE_SHOPIFY_TOKEN")
WC_VARS = ("SEGMAIL_LIVE_WC_URL", "SEGMAIL_LIVE_WC_KEY", "SEGMAIL_LIVE_WC_SECRET")
TARGETS = ["sandbox", "live"]
MAX_PAGES = 4  # a shop check reads at most this many pages: enough to page, never a whole big shop
SHOP_PAGE = 10  # orders per page asked for (an upper bound: a connector may take fewer)
LIVE_WINDOW = timedelta(days=30)  # a live shop is read from this long ago
AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # the sandboxes' pinned time
SANDBOX_KEY = "0123456789abcdef0123456789abcdef-us6"
SANDBOX_MEMBERS = 2_100  # three pages of Mailchimp's 1,000
T = TypeVar("T")


def live_env(names: tuple[str, ...]) -> dict[str, str]:
    """The variables' values, or a skip that names every variable and the missing ones."""
    missing = [name for name in names if not os.environ.get(name, "").strip()]
    if missing:
        pytest.skip(f"live check not configured: set {', '.join(names)} (missing: {', '.join(missing)})")
    return {name: os.environ[name].strip() for name in names}


def first_pages(pages: Iterator[T], limit: int = MAX_PAGES) -> list[T]:
    """Up to `limit` pages, then the reader is closed, so a big shop is never read to the end."""
    try:
        return list(islice(pages, limit))
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


# ---- what went over the wire ----------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None


@dataclass
class Wire:
    """Every HTTP exchange made through `requests` while installed: the checks read raw answers with it."""

    exchanges: list[Exchange] = field(default_factory=list)

    def on(self, path_suffix: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.endswith(path_suffix)]

    def clear(self) -> None:
        self.exchanges.clear()


@pytest.fixture(name="wire")  # a plugin (tests/conftest.py): tests ask for it by name
def wire_fixture(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Records at `requests.Session.send`, below any connector, so no connector needs a hook for it."""
    log = Wire()
    send = requests.Session.send

    def recording_send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        response = send(self, request, **kwargs)
        if not kwargs.get("stream"):  # a streamed download (a bulk file) is left alone
            url = urlsplit(request.url or "")
            try:
                body = json.loads(response.content) if response.content else None
            except ValueError:
                body = None
            log.exchanges.append(Exchange(request.method or "", url.path, parse_qs(url.query),
                                          response.status_code, dict(response.headers), body))  # fmt: skip
        return response

    monkeypatch.setattr(requests.Session, "send", recording_send)
    return log


# ---- Mailchimp --------------------------------------------------------------------------------------


@dataclass
class MailchimpTarget:
    name: str
    connect: Callable[[str], MailchimpApi]  # an API client for this endpoint with the given key
    api: MailchimpApi
    list_id: str
    tag: str | None  # the one tag the write check may change; None: that check is skipped
    wrong_key: str
    min_pages: int = 1  # the sandbox's audience is built to span pages; a live one may fit in one
    _pages: list[MemberPage] | None = None

    def all_pages(self) -> list[MemberPage]:
        """The whole audience, read once per module (a live audience may be large)."""
        if self._pages is None:
            self._pages = list(self.api.members(self.list_id, since=None))
        return self._pages


@pytest.fixture(name="mailchimp", scope="module", params=TARGETS)
def mailchimp_fixture(request: pytest.FixtureRequest) -> Iterator[MailchimpTarget]:
    if request.param == "live":
        env = live_env(MAILCHIMP_VARS)
        key = env["SEGMAIL_LIVE_MAILCHIMP_KEY"]
        wrong = "0" * 32 + "-" + data_center(key)

        def connect_live(api_key: str) -> MailchimpApi:
            return MailchimpApi(api_key=api_key)

        api = connect_live(key)
        try:
            yield MailchimpTarget("live", connect_live, api, env["SEGMAIL_LIVE_MAILCHIMP_LIST"],
                                  os.environ.get(MAILCHIMP_TAG_VAR, "").strip() or None, wrong)  # fmt: skip
        finally:
            api.close()
        return
    with checked_sandbox(api_key=SANDBOX_KEY, clock=lambda: AS_OF) as sb:
        statuses = ("subscribed", "subscribed", "subscribed", "unsubscribed", "cleaned", "pending")
        for i in range(SANDBOX_MEMBERS):
            sb.add_member("list1", f"member{i}@example.com", status=statuses[i % len(statuses)],
                          last_changed=AS_OF - timedelta(days=400) + timedelta(minutes=97 * i))  # fmt: skip

        def connect_sandbox(api_key: str) -> MailchimpApi:
            return MailchimpApi(api_key=api_key, api_url=sb.base_url, sleep=lambda _s: None)

        api = connect_sandbox(SANDBOX_KEY)
        try:
            wrong = "0" * 32 + "-us6"
            yield MailchimpTarget(
                "sandbox", connect_sandbox, api, "list1", "segmail-contract", wrong, min_pages=3
            )
        finally:
            api.close()


# ---- Shopify ----------------------------------------------------------------------------------------


@dataclass
class FakeTime:
    """The Shopify sandbox's cost bucket and the client on one clock that only `sleep` moves."""

    now: float = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@dataclass
class ShopifyTarget:
    name: str
    values: dict[str, Any]  # ShopifySettings' fields; a check may override some, e.g. access_token
    since: str  # the cursor a check pulls from: paging, never the bulk import
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] | None = None
    min_pages: int = 1  # the sandbox's shop is built to span pages; a live one may fit in one

    def client(self, **overrides: Any) -> ShopifyClient:
        settings = ShopifySettings(**({"page_size": SHOP_PAGE} | self.values | overrides))
        return ShopifyClient(settings, sleep=self.sleep, clock=self.clock)


@pytest.fixture(name="shopify", params=TARGETS)
def shopify_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ShopifyTarget]:
    if request.param == "live":
        env = live_env(SHOPIFY_VARS)
        values = {
            "shop_url": env["SEGMAIL_LIVE_SHOPIFY_URL"],
            "access_token": env["SEGMAIL_LIVE_SHOPIFY_TOKEN"],
        }
        yield ShopifyTarget("live", values, (datetime.now(UTC) - LIVE_WINDOW).isoformat(), time.sleep)
        return
    ft = FakeTime()
    files = generate_shop(tmp_path, contacts=80, seed=11, as_of=AS_OF)
    with ShopifySandbox(access_token="shpat_contract_token", clock=ft.clock, now=lambda: AS_OF, seed=5) as sb:
        sb.load_orders(files.orders, files.contacts)
        values = {"shop_url": sb.base_url, "access_token": "shpat_contract_token"}
        since = (AS_OF - timedelta(days=200)).isoformat()
        yield ShopifyTarget("sandbox", values, since, ft.sleep, ft.clock, min_pages=3)


# ---- WooCommerce ------------------------------------------------------------------------------------


@dataclass
class WooTarget:
    name: str
    values: dict[str, Any]  # WooSettings' fields; a check may override some, e.g. consumer_secret
    since: str
    min_pages: int = 1  # the sandbox's shop is built to span pages; a live one may fit in one

    def client(self, **overrides: Any) -> WooCommerceClient:
        return WooCommerceClient(WooSettings(**({"page_size": SHOP_PAGE} | self.values | overrides)))


@pytest.fixture(name="woocommerce", params=TARGETS)
def woocommerce_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WooTarget]:
    if request.param == "live":
        env = live_env(WC_VARS)
        values = {"base_url": env["SEGMAIL_LIVE_WC_URL"], "consumer_key": env["SEGMAIL_LIVE_WC_KEY"],
                  "consumer_secret": env["SEGMAIL_LIVE_WC_SECRET"]}  # fmt: skip
        yield WooTarget("live", values, (datetime.now(UTC) - LIVE_WINDOW).isoformat())
        return
    files = generate_shop(tmp_path, contacts=80, seed=11, as_of=AS_OF)
    since = AS_OF - timedelta(days=200)
    # a site east of Greenwich with an order modified an hour before the bound: only a bound compared
    # in GMT (`dates_are_gmt=true`) leaves it out
    with WooCommerceSandbox(utc_offset=timedelta(hours=2), clock=lambda: AS_OF) as sb:
        sb.load_orders(files.orders, contacts_csv=files.contacts)
        early = (since - timedelta(minutes=70)).strftime("%Y-%m-%dT%H:%M:%S")
        sb.add_order({"id": 990_001, "status": "completed", "currency": "EUR", "total": "5.00",
                      "date_created_gmt": early, "date_modified_gmt": early,
                      "billing": {"email": "early@example.com"}, "refunds": []})  # fmt: skip
        values = {
            "base_url": sb.base_url,
            "consumer_key": sb.consumer_key,
            "consumer_secret": sb.consumer_secret,
        }
        yield WooTarget("sandbox", values, since.isoformat(), min_pages=3)
