"""The one HTTP client: it sends, classifies, redacts, retries, paces and counts, for every external system.

Each connector owns one `HttpClient`: one pooled `requests.Session` (connection reuse, a bounded
pool), the timeout and attempts of `DEFAULTS` unless configured, one retry policy (jittered
exponential backoff honouring `Retry-After`, bounded in attempts) and one `HttpStats`. What a
vendor does differently is a hook, never a second loop:

- `Hooks.before_send(call)` may ask for a `Pause` before a request goes out (Shopify's cost
  bucket) or raise to refuse it;
- `Hooks.check(call, response, verdict)` may replace the status table's verdict on a response
  (Mailchimp's bare 403 is throttling; a vendor's own refused-credentials message) or raise a
  signal of its own (WooCommerce's feature probe);
- `Hooks.detail(body)` is the human part of the vendor's error body;
- `request(call, read)`: `read` turns a 2xx response into the caller's value and may raise an
  ApiError found inside it (Shopify's GraphQL THROTTLED), which is retried like a status error;
- `send` is a transport on its own, so the official Mailchimp client's `request` points at it,
  and tests mount a handler-function adapter (`transport=`) instead of a server.

The exception tree and the status table: connector/http_errors.py, re-exported here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field, replace
from http import HTTPStatus
from typing import IO, Any, Final, TypeVar

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from segmail.connector.http_errors import (
    ApiError,
    ConfigurationError,
    ItemError,
    Redactor,
    TransientError,
    classify,
    parse_retry_after,
    problem_detail,
)

__all__ = [
    "DEFAULTS",
    "ApiError",
    "Call",
    "ConfigurationError",
    "Hooks",
    "HttpClient",
    "HttpDefaults",
    "HttpStats",
    "ItemError",
    "Pause",
    "Redactor",
    "Response",
    "TransientError",
    "Transport",
    "Verdict",
    "classify",
    "json_body",
    "limit_problems",
    "make_response",
    "parse_retry_after",
    "problem_detail",
    "retry_after",
    "retry_policy",
]

T = TypeVar("T")
# re-exported so connectors can recognise a raw response, and mount a transport, without importing requests
Response = requests.Response
Transport = BaseAdapter
_log = logging.getLogger("segmail.connector.http")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpDefaults:
    """The numbers every client and every config model starts from, declared once."""

    attempts: int = 6  # tries per call on 429, 5xx, timeouts and resets
    timeout_s: float = 30.0  # per request, to connect and between bytes read
    max_wait_s: float = 60.0  # the longest wait between two tries, a server's Retry-After included
    backoff_s: float = 0.5  # the multiplier of the jittered exponential backoff


DEFAULTS: Final = HttpDefaults()


def limit_problems(*, timeout_s: float, attempts: int) -> list[str]:
    """What is wrong with a client's timeout and attempts, each message naming its field."""
    problems = []
    if timeout_s <= 0:
        problems.append(f"timeout_s must be positive, got {timeout_s}")
    if attempts < 1:
        problems.append(f"attempts must be at least 1, got {attempts}")
    return problems


@dataclass
class HttpStats:
    """What one client did, for run summaries and metrics: one shape for every external system.

    Mailchimp reads pages from several threads at once, so every count goes through the lock.
    """

    requests: int = 0  # requests sent (every try of a call is one)
    attempts: int = 0  # tries of retried calls (a try may fail before sending)
    retries: int = 0  # tries that were followed by another
    waited_s: float = 0.0  # seconds slept before those retries
    throttled_errors: int = 0  # answers that said "slow down": 429, Mailchimp's bare 403, Shopify THROTTLED
    throttle_waits: int = 0  # pauses a pacing hook asked for before a request (Shopify's cost bucket)
    throttle_waited_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def sent(self) -> None:
        with self._lock:
            self.requests += 1

    def tried(self) -> None:
        with self._lock:
            self.attempts += 1

    def retried(self, seconds: float) -> None:
        with self._lock:
            self.retries += 1
            self.waited_s += seconds

    def throttled(self) -> None:
        with self._lock:
            self.throttled_errors += 1

    def paced(self, seconds: float) -> None:
        with self._lock:
            self.throttle_waits += 1
            self.throttle_waited_s += seconds


def retry_policy(
    *,
    attempts: int = DEFAULTS.attempts,
    max_wait_s: float = DEFAULTS.max_wait_s,
    sleep: Callable[[float], None] | None = None,
    stats: HttpStats | None = None,
    on_wait: Callable[[float, BaseException | None], None] | None = None,
) -> Retrying:
    """Jittered exponential backoff on TransientError, honouring Retry-After, at most `attempts` tries."""
    backoff = wait_random_exponential(multiplier=DEFAULTS.backoff_s, max=max_wait_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after if isinstance(exc, TransientError) else None
        return min(hinted, max_wait_s) if hinted is not None else float(backoff(state))

    def count(_state: RetryCallState) -> None:
        if stats is not None:
            stats.tried()

    def before_sleep(state: RetryCallState) -> None:
        # here, not in `wait`: tenacity also computes a wait after the last try, which is never slept
        seconds = state.upcoming_sleep
        if stats is not None:
            stats.retried(seconds)
        if on_wait is not None:
            on_wait(seconds, state.outcome.exception() if state.outcome else None)

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(TransientError),
        before=count,
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a connector describes it; `context` is the connector's own, for its hooks."""

    what: str  # names the call in messages and log lines: "list members", "orders page"
    method: str
    url: str
    _: KW_ONLY
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    json: Any = None
    data: str | bytes | None = None
    auth: tuple[str, str] | None = None
    stream: bool = False
    context: object = None


@dataclass(frozen=True, slots=True)
class Pause:
    """A wait a pacing hook asks for; `reason` completes the log line "waiting N s before the <what>: "."""

    seconds: float
    reason: str


Verdict = ApiError | None  # what a response means: None for a success


@dataclass(frozen=True, slots=True)
class Hooks:
    """A vendor's quirks, plugged into the one client (see the module docstring)."""

    before_send: Callable[[Call], Pause | None] | None = None
    check: Callable[[Call, Response, Verdict], Verdict] | None = None
    detail: Callable[[Any], str] = problem_detail


def json_body(response: Response) -> Any:
    """The response's JSON, or None when it has none."""
    try:
        return response.json()
    except ValueError:
        return None


def retry_after(response: Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


class HttpClient:
    """One external system's session, policy, hooks and stats; safe to share between threads."""

    def __init__(
        self,
        vendor: str,
        *,
        secrets: Iterable[str] = (),
        timeout_s: float = DEFAULTS.timeout_s,
        attempts: int = DEFAULTS.attempts,
        pool_size: int = 1,
        hooks: Hooks | None = None,
        sleep: Callable[[float], None] | None = None,
        log: logging.Logger | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.vendor = vendor  # the first word of every message: "Mailchimp", "Shopify", "WooCommerce"
        self.stats = HttpStats()
        self.redact = Redactor(secrets)
        self.sleep = sleep or time.sleep
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._hooks = hooks or Hooks()
        self._log = log or _log
        self._session = _pooled_session(pool_size, transport)

    def close(self) -> None:
        self._session.close()

    def request(self, call: Call, read: Callable[[Response], T]) -> T:
        """`call` under the retry policy; `read` turns its successful response into the result."""
        return self.retrying(lambda: read(self.send(call)))

    def retrying(self, action: Callable[[], T]) -> T:
        """`action` under the retry policy: the one loop; every ApiError leaving it is redacted."""
        policy = retry_policy(
            attempts=self._attempts, sleep=self.sleep, stats=self.stats, on_wait=self._announce_retry
        )
        for attempt in policy:
            with attempt:
                try:
                    return action()
                except ApiError as exc:
                    self.redact.error(exc)
                    if isinstance(exc, TransientError) and exc.throttled:
                        self.stats.throttled()
                    raise
        raise AssertionError("unreachable: the policy re-raises the last error")  # pragma: no cover

    def send(self, call: Call) -> Response:
        """One try: pace, send, classify. Returns a successful response; raises an ApiError otherwise."""
        self._pace(call)
        self.stats.sent()
        try:
            response = self._session.request(
                call.method,
                call.url,
                params=call.params,
                headers=call.headers,
                json=call.json,
                data=call.data,
                auth=call.auth,
                stream=call.stream,
                timeout=self._timeout_s,
            )
        except OSError as exc:  # requests' errors are OSErrors: resets, timeouts, refused connections
            raise self.redact.error(self._no_response(call, exc)) from None
        verdict = self.verdict(call, response)
        if verdict is not None:
            response.close()
            raise self.redact.error(verdict)
        return response

    def download(self, call: Call, out: IO[bytes]) -> None:
        """Stream the body of `call` into `out`; a try that breaks off starts the file again."""

        def once() -> None:
            out.seek(0)
            out.truncate()
            with self.send(replace(call, stream=True)) as response:
                try:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        out.write(chunk)
                except OSError as exc:  # a reset in the middle of the body
                    raise self._no_response(call, exc) from None

        self.retrying(once)

    def _pace(self, call: Call) -> None:
        pause = self._hooks.before_send(call) if self._hooks.before_send is not None else None
        if pause is None or pause.seconds <= 0:
            return
        self.stats.paced(pause.seconds)
        self._log.info(
            "%s: waiting %.1f s before the %s: %s", self.vendor, pause.seconds, call.what, pause.reason
        )
        self.sleep(pause.seconds)

    def verdict(self, call: Call, response: Response) -> Verdict:
        """What `response` means: the status table's reading, with the vendor's error detail in the
        message, then the vendor's `check`. None for a success."""
        verdict: Verdict = None
        if not response.ok:
            status = response.status_code
            detail = self._hooks.detail(json_body(response))
            shown = detail or ("an empty body" if not response.content else "a non-JSON body")
            message = f"{self.vendor} {call.what}: HTTP {status}: {shown}"
            verdict = classify(status, message, detail=detail, retry_after=retry_after(response))
        return verdict if self._hooks.check is None else self._hooks.check(call, response, verdict)

    def _no_response(self, call: Call, exc: BaseException) -> ApiError:
        return classify(None, f"{self.vendor} {call.what}: no response ({type(exc).__name__})")

    def _announce_retry(self, seconds: float, exc: BaseException | None) -> None:
        self._log.info("%s: waiting %.1f s before trying again: %s", self.vendor, seconds, exc)


def make_response(
    status: int, headers: Mapping[str, str], body: str | bytes | dict[str, Any] | list[Any]
) -> Response:
    """A response built in memory (a test's handler, or an answer a client library has already read)."""
    response = Response()
    response.status_code = status
    try:
        response.reason = HTTPStatus(status).phrase
    except ValueError:
        response.reason = ""
    response.headers = CaseInsensitiveDict(headers)
    if isinstance(body, dict | list):
        body = json.dumps(body)
        response.headers.setdefault("Content-Type", "application/json")
    response._content = body.encode() if isinstance(body, str) else body
    response._content_consumed = True  # type: ignore[attr-defined]  # in memory: iter_content slices it
    response.encoding = "utf-8"
    return response


def _pooled_session(pool_size: int, transport: Transport | None) -> requests.Session:
    """A session whose pool never opens more than `pool_size` connections (blocking beyond that)."""
    session = requests.Session()
    adapter = transport or HTTPAdapter(
        pool_connections=1, pool_maxsize=pool_size, pool_block=True, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
