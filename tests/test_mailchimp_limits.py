"""Mailchimp's documented limits, in the sandbox and in the client.

The reference is "API limits" in https://mailchimp.com/developer/marketing/docs/fundamentals/: "The Marketing
API has a limit of 10 simultaneous connections. You'll receive a 429 error if you reach the limit. At
exceptionally high volumes, you may receive an HTTP 429 or 403 without a JSON body." and "The Marketing API
has a 120-second timeout on API calls". The page promises no Retry-After header.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from segmail.connector.http import ConfigurationError, TransientError
from segmail.connector.mailchimp import MailchimpApi
from segmail.jobs.config import ConfigError, parse_config
from segmail.sandbox.faults import Faults
from segmail.sandbox.mailchimp import MailchimpSandbox
from segmail.sandbox.woocommerce import WooCommerceSandbox

KEY = "0123456789abcdef0123456789abcdef-us6"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def api_for(sb: MailchimpSandbox, **kw) -> MailchimpApi:
    return MailchimpApi(api_key=KEY, api_url=sb.base_url, sleep=lambda _s: None, **kw)


def test_the_sandbox_allows_ten_and_refuses_a_request_over_the_limit_with_a_bare_problem():
    assert MailchimpSandbox().max_connections == 10
    with MailchimpSandbox(api_key=KEY, max_connections=2, faults=Faults(latency_ms=1000)) as sb:
        start = threading.Barrier(3)
        answers: list[requests.Response] = []

        def ping() -> None:
            start.wait()
            answers.append(requests.get(sb.base_url + "/ping", auth=("any", KEY), timeout=10))

        threads = [threading.Thread(target=ping) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 1 and sb.refused_in_flight == 1 and sb.peak_in_flight == 3
    assert refused[0].headers["Content-Type"].startswith("application/problem+json")
    assert set(refused[0].json()) == {"type", "title", "status", "detail", "instance"}
    assert "Retry-After" not in refused[0].headers  # not promised, so not sent: the client backs off alone


def test_the_client_keeps_to_its_connection_limit():
    with MailchimpSandbox(api_key=KEY, max_connections=3, faults=Faults(latency_ms=200)) as sb:
        sb.add_list("list1", "limits")
        for i in range(3500):  # four pages of up to 1000: three fetched at once after the first
            sb.add_member("list1", f"m{i}@example.com", last_changed=T0 + timedelta(seconds=i))
        api = api_for(sb, max_connections=3)
        try:
            read = [m.email_key for page in api.members("list1", since=None) for m in page.members]
        finally:
            api.close()
    assert len(read) == len(set(read)) == 3500
    assert sb.peak_in_flight == 3 and sb.refused_in_flight == 0


def test_a_429_without_retry_after_is_retried_with_the_clients_own_backoff():
    sleeps: list[float] = []
    with MailchimpSandbox(api_key=KEY, max_connections=0) as sb:  # every request is one too many
        api = MailchimpApi(api_key=KEY, api_url=sb.base_url, attempts=3, sleep=sleeps.append)
        try:
            with pytest.raises(TransientError, match="HTTP 429: Too Many Requests"):
                api.ping()
        finally:
            api.close()
    assert sb.refused_in_flight == 3 and len(sleeps) == 2
    assert all(0 <= s <= 60 for s in sleeps)  # jittered exponential, capped; no header to honour


def test_a_403_without_a_body_is_throttling_and_is_retried():
    with MailchimpSandbox(api_key=KEY, faults=Faults(seed=3, rate_403_empty=0.5)) as sb:
        api = api_for(sb)
        try:
            for _ in range(6):
                api.ping()
        finally:
            api.close()
    assert sb.faults_injected["403_empty"] >= 1
    assert api.stats.retries == sb.faults_injected["403_empty"]


def test_a_403_with_a_problem_document_is_a_refusal_and_a_bare_one_runs_out_as_transient():
    with MailchimpSandbox(api_key=KEY) as sb:
        api = api_for(sb, attempts=2)
        problem = '{"type": "t", "title": "Forbidden", "status": 403, "detail": "You don\'t have permission", "instance": "i"}'

        def refused() -> None:
            raise ApiClientError(problem, 403)

        def bare() -> None:
            raise ApiClientError("", 403)

        try:
            with pytest.raises(ConfigurationError, match="HTTP 403: Forbidden"):
                api.call("get list", refused)
            with pytest.raises(TransientError, match=r"HTTP 403: an empty body \(Mailchimp throttling"):
                api.call("get list", bare)
        finally:
            api.close()


def test_only_the_mailchimp_sandbox_can_inject_a_bare_403():
    with pytest.raises(ValueError, match="WooCommerceSandbox cannot inject 403_empty"):
        WooCommerceSandbox(faults=Faults(rate_403_empty=0.1))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("timeout_s", 121, "mailchimp.timeout_s"), ("max_connections", 11, "mailchimp.max_connections")],
)
def test_the_config_keeps_below_the_documented_limits(key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"mailchimp": {key: value}}, origin="test.toml", base_dir=Path("."), env={})


# https://mailchimp.com/developer/marketing/api/list-members/list-members-info/: since_last_changed
# "Uses ISO 8601 time format: 2015-10-21T15:41:36+00:00".
def test_since_last_changed_is_sent_in_the_documented_format():
    with MailchimpSandbox(api_key=KEY) as sb:
        sb.add_list("list1", "format")
        api = api_for(sb)
        try:
            since = datetime(2015, 10, 21, 17, 41, 36, 500_000, tzinfo=timezone(timedelta(hours=2)))
            list(api.members("list1", since=since))
        finally:
            api.close()
    sent = parse_qs(sb.requests_log[-1].query)["since_last_changed"]
    assert sent == ["2015-10-21T15:41:36+00:00"]
