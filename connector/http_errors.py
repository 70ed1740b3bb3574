"""What an HTTP call can fail with, the one table from status to failure type, and safe messages.

Exceptions callers see (everything else is a bug):

    ApiError                      base class; `str()` never contains a secret
    ├── ConfigurationError        401/403: wrong key or missing scope — stop the run
    ├── ItemError                 other 4xx: this record or call failed; the rest go on
    └── TransientError            429, 5xx, timeouts, resets — retried, raised when attempts run out

Kept apart from connector/http.py (the client) so the table and the message helpers read on their
own; connector/http.py re-exports every name, so callers import from there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any


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
    """Worth retrying: rate limit, server error, timeout or reset.

    `throttled` marks an answer that means "slow down" (a 429, or a vendor's own way of saying it),
    so the stats can tell throttling from outages.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after
        self.throttled = throttled


def classify(
    status: int | None, message: str, *, detail: str = "", retry_after: float | None = None
) -> ApiError:
    """The one table from HTTP outcome to exception type (status None = no response at all)."""
    if status is None or status == 429 or status >= 500:
        return TransientError(
            message, status=status, detail=detail, retry_after=retry_after, throttled=status == 429
        )
    if status in (401, 403):
        return ConfigurationError(message, status=status, detail=detail)
    return ItemError(message, status=status, detail=detail)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (RFC 9110 §10.2.3); None when absent or an HTTP date."""
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


class Redactor:
    """Removes secrets from text before it reaches a log line or an exception message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        words = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub("***", text) if self._pattern else text

    def error(self, exc: ApiError) -> ApiError:
        """`exc` with its message and detail redacted (in place: its type and fields stay)."""
        exc.args = tuple(self(a) if isinstance(a, str) else a for a in exc.args)
        exc.detail = self(exc.detail)
        return exc
