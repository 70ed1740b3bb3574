"""The one HTTP client (connector/http.py) through a handler-function transport: no server, no sleeping.

What every connector gets from it: retries honouring Retry-After, the status table, redaction, pacing
and one stats type; and the vendor hooks plugged into it (Mailchimp's bare 403, Shopify's THROTTLED and
pre-signed download, WooCommerce's feature probe).
"""

from __future__ import annotations

import base64
import io
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from segmail.connector.http import (
    DEFAULTS,
    Call,
    ConfigurationError,
    Hooks,
    HttpClient,
    HttpStats,
    ItemError,
    Pause,
    TransientError,
    json_body,
)
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.shopify import ShopifySettings
from segmail.connector.shopify_graphql import ShopifyGraphQL
from segmail.connector.woocommerce import (
    BY_CREATED,
    BY_MODIFIED,
    WooCommerceClient,
    WooSettings,
    _Unsupported,
)
from tests.http_handler import HandlerTransport, answers
from tests.shop import config

SECRET = "s3cr3t-token-0123456789"
URL = "https://api.example/v1/things"
OK = (200, {}, {"ok": True})


def client(handler, *, attempts: int = 4, waits: list[float] | None = None, **kwargs) -> HttpClient:
    sleep = waits.append if waits is not None else (lambda _s: None)
    return HttpClient("Vendor", secrets=[SECRET], attempts=attempts, sleep=sleep,
                      transport=HandlerTransport(handler), **kwargs)  # fmt: skip


def get(http: HttpClient, what: str = "list things"):
    return http.request(Call(what, "GET", URL), json_body)


# 429 Too Many Requests "MAY include a Retry-After header" (https://www.rfc-editor.org/rfc/rfc6585#section-4);
# Retry-After as delay-seconds: https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
def test_a_429_is_retried_after_the_seconds_its_retry_after_gives():
    waits: list[float] = []
    http = client(answers((429, {"Retry-After": "3"}, ""), OK), waits=waits)
    assert get(http) == {"ok": True}
    assert waits == [3.0]
    assert http.stats == HttpStats(requests=2, attempts=2, retries=1, waited_s=3.0, throttled_errors=1)


def test_server_errors_are_retried_with_backoff_then_succeed():
    waits: list[float] = []
    http = client(answers((503, {}, "down"), (502, {}, ""), OK), waits=waits)
    assert get(http) == {"ok": True}
    assert len(waits) == 2 and all(0 <= w <= DEFAULTS.max_wait_s for w in waits)
    assert (http.stats.requests, http.stats.retries, http.stats.throttled_errors) == (3, 2, 0)
    assert http.stats.waited_s == pytest.approx(sum(waits))


def test_a_refused_key_stops_at_once_with_the_problem_detail():
    waits: list[float] = []
    body = {"title": "API Key Invalid", "detail": "Your API key may be invalid"}
    http = client(answers((401, {}, body), OK), waits=waits)
    with pytest.raises(ConfigurationError) as info:
        get(http)
    assert str(info.value) == "Vendor list things: HTTP 401: API Key Invalid — Your API key may be invalid"
    assert (info.value.status, http.stats.requests, waits) == (401, 1, [])


def test_other_4xx_are_item_errors_and_not_retried():
    http = client(answers((404, {}, ""), OK))
    with pytest.raises(ItemError, match=r"^Vendor get thing: HTTP 404: an empty body$"):
        get(http, "get thing")
    assert http.stats.requests == 1


def test_attempts_run_out_on_the_last_error_and_a_reset_is_no_response():
    waits: list[float] = []
    http = client(answers((500, {}, "<html>"), requests.ConnectionError("reset"), requests.Timeout("slow")),
                  attempts=3, waits=waits)  # fmt: skip
    with pytest.raises(TransientError, match=r"^Vendor list things: no response \(Timeout\)$") as info:
        get(http)
    assert info.value.status is None and len(waits) == 2
    assert http.stats == HttpStats(requests=3, attempts=3, retries=2, waited_s=pytest.approx(sum(waits)))


def test_secrets_never_reach_a_message_a_detail_or_a_log_line(caplog):
    caplog.set_level(logging.INFO, logger="segmail.connector.http")
    leak = {"title": "Bad Request", "detail": f"the token {SECRET} is not valid here"}
    http = client(answers((500, {}, leak), (400, {}, leak)))
    with pytest.raises(ItemError) as info:
        get(http)
    assert str(info.value) == "Vendor list things: HTTP 400: Bad Request — the token *** is not valid here"
    assert info.value.detail == "Bad Request — the token *** is not valid here"
    retry_lines = [r.getMessage() for r in caplog.records if "before trying again" in r.getMessage()]
    assert len(retry_lines) == 1 and "***" in retry_lines[0] and SECRET not in caplog.text


def test_the_pacing_hook_runs_before_every_try_and_its_pause_is_slept_counted_and_logged(caplog):
    caplog.set_level(logging.INFO, logger="segmail.connector.http")
    events: list[str] = []
    waits: list[float] = []

    def pace(call: Call) -> Pause | None:
        events.append(f"pace {call.what} {call.context}")
        return Pause(2.5, "the bucket is empty") if len(events) == 1 else None

    def handler(_request):
        events.append("send")
        return (500, {"Retry-After": "1"}, "") if events.count("send") == 1 else OK

    http = client(handler, waits=waits, hooks=Hooks(before_send=pace))
    assert http.request(Call("orders page", "GET", URL, context="ctx"), json_body) == {"ok": True}
    assert events == ["pace orders page ctx", "send", "pace orders page ctx", "send"]
    assert waits == [2.5, 1.0]
    assert (http.stats.throttle_waits, http.stats.throttle_waited_s, http.stats.retries) == (1, 2.5, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "Vendor: waiting 2.5 s before the orders page: the bucket is empty"
    assert lines[1].startswith("Vendor: waiting 1.0 s before trying again: Vendor orders page: HTTP 500")


def test_the_check_hook_can_override_the_table_and_a_read_error_is_retried():
    def check(_call, response, verdict):
        return (
            TransientError("teapot", status=418, throttled=True) if response.status_code == 418 else verdict
        )

    def read(response):
        body = json_body(response)
        if body.get("busy"):  # an error inside a 200, as a GraphQL API reports one
            raise TransientError("busy", retry_after=0.5)
        return body

    waits: list[float] = []
    http = client(
        answers((418, {}, ""), (200, {}, {"busy": True}), OK), waits=waits, hooks=Hooks(check=check)
    )
    assert http.request(Call("brew", "POST", URL, json={}), read) == {"ok": True}
    assert waits[1] == 0.5 and http.stats.throttled_errors == 1 and http.stats.requests == 3


# ---- the vendor hooks -------------------------------------------------------------------------
# Mailchimp, "API limits" (https://mailchimp.com/developer/marketing/docs/fundamentals/): "At exceptionally
# high volumes, you may receive an HTTP 429 or 403 without a JSON body" — throttling, not a refused key.
def test_mailchimp_calls_go_through_the_official_client_and_the_one_session():
    key = "0123456789abcdef0123456789abcdef-us6"
    transport = HandlerTransport(answers((403, {}, ""), (200, {}, {"health_status": "Everything's Chimpy!"})))
    waits: list[float] = []
    api = MailchimpApi(api_key=key, sleep=waits.append, transport=transport)
    api.ping()
    assert [r.url for r in transport.requests] == ["https://us6.api.mailchimp.com/3.0/ping"] * 2
    assert (
        transport.requests[0].headers["Authorization"]
        == "Basic " + base64.b64encode(f"user:{key}".encode()).decode()
    )
    assert api.stats.throttled_errors == 1 and api.stats.retries == len(waits) == 1
    assert isinstance(api.stats, HttpStats)


# Shopify, https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits: a throttled query is a 200
# whose errors[].extensions.code is THROTTLED, with the bucket in extensions.cost.throttleStatus.
def test_shopify_throttled_is_waited_out_for_the_points_it_needs():
    now = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    cost = {"requestedQueryCost": 10, "actualQueryCost": None,
            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 0, "restoreRate": 50.0}}  # fmt: skip
    throttled = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": cost},
    }
    waits: list[float] = []
    api = ShopifyGraphQL("https://x.myshopify.com/admin/api/2025-01/graphql.json", SECRET, sleep=sleep,
                         clock=lambda: now[0], transport=HandlerTransport(answers((200, {}, throttled), (200, {}, {"data": {"shop": {}}}))))  # fmt: skip
    assert api.call("shop", "{ shop { name } }", {}) == {"shop": {}}
    assert waits == [pytest.approx(10 / 50 + 0.001)]  # the points it needs at the restore rate, then no pause
    assert (api.stats.throttled_errors, api.stats.throttle_waits, api.stats.requests) == (1, 0, 2)


def test_shopify_bulk_download_restarts_the_file_and_never_sends_the_token():
    transport = HandlerTransport(answers(requests.ConnectionError("reset"), (200, {}, b'{"id": 1}\n')))
    api = ShopifyGraphQL("https://x.myshopify.com/admin/api/2025-01/graphql.json", SECRET,
                         sleep=lambda _s: None, transport=transport)  # fmt: skip
    out = io.BytesIO(b"stale bytes of an earlier try")
    api.download("https://storage.example/bulk.jsonl?signature=abc", out)
    assert out.getvalue() == b'{"id": 1}\n'
    assert all("X-Shopify-Access-Token" not in r.headers for r in transport.requests)
    assert api.stats.requests == 2 and api.stats.retries == 1


# WooCommerce REST API, "List all orders": `modified_after` arrived in 5.8; an older store refuses it with
# 400 rest_invalid_param (https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders).
def test_woocommerce_feature_probe_is_a_hook_raising_the_clients_own_signal():
    refused = {"code": "rest_invalid_param", "message": "Invalid parameter(s): orderby",
               "data": {"status": 400, "params": {"orderby": "orderby is not one of date, id, include, title, slug."}}}  # fmt: skip
    transport = HandlerTransport(
        answers((400, {}, refused), (400, {}, refused), (200, {"X-WP-TotalPages": "1"}, []))
    )
    settings = WooSettings(base_url="https://shop.example", consumer_key="ck_0123", consumer_secret="cs_4567")
    bound = datetime(2025, 12, 31, 23, 50, tzinfo=UTC)
    with WooCommerceClient(settings, sleep=lambda _s: None, transport=transport) as woo:
        with pytest.raises(_Unsupported):  # the first page by modification time is the probe
            woo._page(BY_MODIFIED, bound, 1)
        with pytest.raises(ItemError, match=r"^WooCommerce list orders: HTTP 400: rest_invalid_param: "):
            woo._page(BY_MODIFIED, bound, 2)  # not a probe: the same answer is an ordinary refusal
        assert woo._page(BY_CREATED, bound, 1) == ([], 1)
    assert woo.stats.requests == 3 and woo.stats.retries == 0
    asked = [parse_qs(urlsplit(str(r.url)).query) for r in transport.requests]
    assert asked[0]["modified_after"] == ["2025-12-31T23:50:00"] and asked[0]["orderby"] == ["modified"]
    assert asked[2]["after"] == ["2025-12-31T23:50:00"] and asked[2]["orderby"] == ["date"]


# ---- defaults in one place --------------------------------------------------------------------
def test_every_client_and_config_starts_from_the_one_defaults_object():
    cfg = config()
    shopify = ShopifySettings(shop_url="https://x.myshopify.com", access_token="t")
    woo = WooSettings(base_url="https://shop.example", consumer_key="k", consumer_secret="s")
    assert cfg.mailchimp.attempts == shopify.attempts == woo.attempts == DEFAULTS.attempts
    assert (
        cfg.mailchimp.timeout_s
        == cfg.shop.timeout_s
        == shopify.timeout_s
        == woo.timeout_s
        == DEFAULTS.timeout_s
    )
