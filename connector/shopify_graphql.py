"""One GraphQL call to Shopify: the cost bucket and what Shopify says a query costs, as hooks into the one HTTP client.

Every query is priced by the documented rule before it is sent (connector/shopify_queries.py) and
none goes out over the 1,000-point single-query limit. The bucket is Shopify's leaky bucket as last
reported in `extensions.cost`: the client waits *before* a request the bucket cannot pay for, and
again on a `THROTTLED` answer; every wait is one INFO log line with its seconds and its reason
(the client in connector/http.py sleeps, counts and logs; the bucket only says how long).
When Shopify reports a higher `requestedQueryCost` than the rule (it "reserves the right to set
manual costs on fields", https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits) or
refuses a query with MAX_COST_EXCEEDED, `budget()` for that query shrinks by the same ratio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

from graphql import GraphQLError

from segmail.connector.http import (
    DEFAULTS,
    ApiError,
    Call,
    ConfigurationError,
    Hooks,
    HttpClient,
    HttpStats,
    Pause,
    Response,
    TransientError,
    Transport,
    Verdict,
    classify,
    json_body,
)
from segmail.connector.shopify_queries import MAX_QUERY_COST, cost

SCOPES_HELP: Final = (
    "the Shopify app needs the `read_orders` access scope (and `read_all_orders` for orders older than "
    "60 days) and protected customer data access level 2 (email) — grant them and reinstall the app"
)
log = logging.getLogger("segmail.connector.shopify")


class QueryTooCostly(ApiError):
    """Shopify refused a query as too costly (MAX_COST_EXCEEDED, or more than its bucket can hold)."""


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

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + (now - self.seen_at) * self.restore_rate)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` points are available (0 when unknown or already there)."""
        if self.restore_rate <= 0:
            return 0.0
        deficit = min(cost, self.maximum) - self.available_at(now)
        # a millisecond more than the exact figure, so float rounding never arrives one point short
        return deficit / self.restore_rate + 0.001 if deficit > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Priced:
    """A query's text and its cost by the documented rule (None for a document the rule cannot price)."""

    query: str
    expected: int | None


class ShopifyGraphQL:
    """POSTs to one shop's GraphQL endpoint through its own HTTP client (session, retries, stats)."""

    def __init__(
        self,
        endpoint: str,
        access_token: str,
        *,
        timeout_s: float = DEFAULTS.timeout_s,
        attempts: int = DEFAULTS.attempts,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._token = access_token
        self._clock = clock or time.monotonic
        self.http = HttpClient(
            "Shopify",
            secrets=[access_token],
            timeout_s=timeout_s,
            attempts=attempts,
            pool_size=2,
            hooks=Hooks(before_send=self._pace, check=_refused_token, detail=_error_text),
            sleep=sleep,
            log=log,
            transport=transport,
        )
        self.sleep = self.http.sleep
        self.redact = self.http.redact
        self._bucket = _Bucket()
        # Shopify's requestedQueryCost / the documented rule's, per query text (1.0 until it says otherwise)
        self._ratio: dict[str, float] = {}

    @property
    def stats(self) -> HttpStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def budget(self, query: str) -> int:
        """Points `query` may cost by the rule: the single-query limit (or a smaller bucket's size),
        divided by how much more than the rule Shopify has charged for it."""
        limit = min(MAX_QUERY_COST, self._bucket.maximum) if self._bucket.maximum > 0 else MAX_QUERY_COST
        return int(limit / max(1.0, self._ratio.get(query, 1.0)))

    def call(self, what: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One query under the retry policy and the cost bucket; returns `data`."""
        expected = _rule_cost(query, variables)
        if expected is not None and expected > MAX_QUERY_COST:  # a caller's bug: Shopify would refuse it
            raise ApiError(
                f"Shopify {what}: costs {expected} points, over Shopify's {MAX_QUERY_COST}; not sent"
            )
        request = Call(
            what,
            "POST",
            self.endpoint,
            json={"query": query, "variables": dict(variables)},
            headers={"X-Shopify-Access-Token": self._token, "Accept": "application/json"},
            context=_Priced(query, expected),
        )
        return self.http.request(request, lambda response: self._data(what, query, expected, response))

    def _pace(self, call: Call) -> Pause | None:
        """Before a query: the wait until the bucket, as last reported, can pay for it."""
        priced = call.context
        if not isinstance(priced, _Priced):
            return None  # the bulk download costs no points
        ratio = self._ratio.get(priced.query, 1.0)
        points = self._bucket.last_cost if priced.expected is None else priced.expected * ratio
        now = self._clock()
        wait = self._bucket.wait_for(points, now)
        if wait <= 0:
            return None
        return Pause(wait, f"it costs about {points:.0f} points, the bucket holds "
                           f"{self._bucket.available_at(now):.0f} and refills {self._bucket.restore_rate:.0f} a second")  # fmt: skip

    def _data(self, what: str, query: str, expected: int | None, response: Response) -> dict[str, Any]:
        """The `data` of a 200 answer, after the bucket and the GraphQL errors it reports."""
        body = json_body(response)
        if not isinstance(body, dict):
            raise classify(502, f"Shopify {what}: the response is not a JSON object")
        cost = (body.get("extensions") or {}).get("cost")
        cost = cost if isinstance(cost, dict) else {}
        self._bucket.update(cost, self._clock())
        self._learn(what, query, expected, cost.get("requestedQueryCost"))
        errors = body.get("errors") or []
        if errors:
            self._raise_errors(what, query, expected, errors, cost)
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def _learn(self, what: str, query: str, expected: int | None, reported: Any) -> None:
        """Remember how Shopify's price of `query` compares with the rule's; say so when it is higher."""
        if not expected or not isinstance(reported, int | float) or reported <= 0:
            return
        ratio, before = reported / expected, self._ratio.get(query, 1.0)
        self._ratio[query] = ratio
        if ratio > max(1.0, before):
            log.info("Shopify: the %s costs %.0f points, not the %d of the documented rule; "
                     "smaller pages from now on", what, reported, expected)  # fmt: skip

    def _raise_errors(
        self, what: str, query: str, expected: int | None, errors: Any, cost: Mapping[str, Any]
    ) -> None:
        codes = {_code(e) for e in errors} if isinstance(errors, list) else set()
        requested = float(cost.get("requestedQueryCost") or self._bucket.last_cost or 1)
        if "MAX_COST_EXCEEDED" in codes:
            priced = next(
                (e["extensions"].get("cost") for e in errors if _code(e) == "MAX_COST_EXCEEDED"), None
            )
            before = self._ratio.get(query, 1.0)
            self._learn(what, query, expected, priced)
            if self._ratio.get(query, 1.0) <= before:  # no usable figure: halve the budget
                self._ratio[query] = max(1.0, before) * 2
            raise QueryTooCostly(
                f"Shopify {what}: refused as over the {MAX_QUERY_COST}-point limit ({priced} points)"
            )
        if "THROTTLED" in codes:
            if self._bucket.maximum and requested > self._bucket.maximum:
                raise QueryTooCostly(f"Shopify {what}: {requested:.0f} points, more than the bucket holds")
            # at least one point's worth: an immediate retry would only be throttled again
            wait = max(self._bucket.wait_for(requested, self._clock()), 1 / max(self._bucket.restore_rate, 1))
            raise TransientError(
                f"Shopify {what}: throttled, {requested:.0f} points needed, "
                f"{self._bucket.available_at(self._clock()):.0f} in the bucket",
                retry_after=wait,
                throttled=True,
            )
        if "ACCESS_DENIED" in codes:
            raise ConfigurationError(f"Shopify {what}: access denied; {SCOPES_HELP}", status=200)
        raise ApiError(
            f"Shopify {what}: GraphQL errors: {_error_text({'errors': errors})}"
        )  # redacted by the client

    def download(self, url: str, out: IO[bytes]) -> None:
        """Stream the JSONL to `out`; the URL is pre-signed, so the token is NOT sent with it."""
        self.http.download(Call("bulk download", "GET", url), out)


def _refused_token(call: Call, _response: Response, verdict: Verdict) -> Verdict:
    """A 401/403 to a query: the token or its scopes, and what to grant (a pre-signed URL keeps the table's)."""
    if isinstance(verdict, ConfigurationError) and isinstance(call.context, _Priced):
        return ConfigurationError(
            f"Shopify {call.what}: HTTP {verdict.status}: the access token was refused or lacks scopes; "
            f"{SCOPES_HELP}",
            status=verdict.status,
        )
    return verdict


def _rule_cost(query: str, variables: Mapping[str, Any]) -> int | None:
    """The documented cost of one of segmail's own documents; None for any other (a test's probe)."""
    try:
        return cost(query, variables)
    except (ValueError, GraphQLError):
        return None


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
