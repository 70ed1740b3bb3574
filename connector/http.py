"""The one place HTTP is done: the pooled session, timeouts, the error table and the retry policy.

Exceptions callers see (everything else is a bug):

    ApiError                      base class; `str()` never contains a secret
    ├── ConfigurationError        401/403: wrong key or missing scope — stop the run
    ├── ItemError                 other 4xx: this record or call failed; the rest go on
    └── TransientError            429, 5xx, timeouts, resets — retried, raised when attempts run out

Every external system gets one `requests.Session` (connection reuse, a bounded pool) and
retries through `retry_policy`, so backoff is declared once: jittered exponential, honouring
`Retry-After` when the server sends one, bounded in attempts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

T = TypeVar("T")
Response = (
    requests.Response
)  # re-exported so connectors can recognise a raw response without importing requests

DEFAULT_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 10  # Mailchimp allows 10 concurrent connections per API key


class ApiError(Exception):
    """An external API call failed; the message is safe to log."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ConfigurationError(ApiError):
    """Credentials or permissions are wrong: retrying cannot help, the run stops."""


class ItemError(ApiError):
    """The API refused this call (a 4xx other than 401/403/429): record it, carry on."""


class TransientError(ApiError):
    """Worth retrying: rate limit, server error, timeout or reset."""

    def __init__(
        self, message: str, *, status: int | None = None, detail: str = "", retry_after: float | None = None
    ):
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after


def classify(
    status: int | None, message: str, *, detail: str = "", retry_after: float | None = None
) -> ApiError:
    """The one table from HTTP outcome to exception type (status None = no response at all)."""
    if status is None or status == 429 or status >= 500:
        return TransientError(message, status=status, detail=detail, retry_after=retry_after)
    if status in (401, 403):
        return ConfigurationError(message, status=status, detail=detail)
    return ItemError(message, status=status, detail=detail)


def make_session(*, pool_size: int = MAX_CONNECTIONS) -> requests.Session:
    """A session whose pool never opens more than `pool_size` connections (blocking beyond that)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, pool_block=True, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare here; the exponential backoff applies instead


def problem_detail(body: Any) -> str:
    """The human part of a problem+json body (dict or JSON string); empty if there is none."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("title") or ""), str(body.get("detail") or "")]
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    return " — ".join(p for p in parts if p)


@dataclass
class RetryStats:
    """Counts of what the policy did, for summaries and metrics."""

    attempts: int = 0
    retries: int = 0
    waited_s: float = 0.0


def retry_policy(
    *,
    attempts: int = 6,
    max_wait_s: float = 60.0,
    sleep: Callable[[float], None] | None = None,
    stats: RetryStats | None = None,
) -> Retrying:
    """Jittered exponential backoff on TransientError, honouring Retry-After, at most `attempts` tries."""
    backoff = wait_random_exponential(multiplier=0.5, max=max_wait_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after if isinstance(exc, TransientError) else None
        seconds = min(hinted, max_wait_s) if hinted is not None else float(backoff(state))
        if stats is not None:
            stats.retries += 1
            stats.waited_s += seconds
        return seconds

    def count(_state: RetryCallState) -> None:
        if stats is not None:
            stats.attempts += 1

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(TransientError),
        before=count,
        reraise=True,
        **kwargs,
    )


class Redactor:
    """Removes secrets from text before it reaches a log line or an exception message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        words = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub("***", text) if self._pattern else text
