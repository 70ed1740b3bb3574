"""A stateful local stand-in for the part of the Mailchimp Marketing API 3.0 that segmail uses.

Stdlib HTTP in a daemon thread, Basic auth with any user and the configured key as password, JSON in and
out, `application/problem+json` errors, seeded fault injection, and a log of every exchange so tests can
check each one against the official spec (`segmail.sandbox.spec.validate`). Limits from "API limits" in
https://mailchimp.com/developer/marketing/docs/fundamentals/: "a limit of 10 simultaneous connections.
You'll receive a 429 error if you reach the limit" (an 11th request in flight is refused; the page does not
say whether an idle kept-alive connection counts, and here it does not); "At exceptionally high volumes,
you may receive an HTTP 429 or 403 without a JSON body" (the `429` and `403_empty` faults); the
"120-second timeout on API calls" is the client's to respect (its `timeout_s` is capped at 120). Endpoints live in
`segmail.sandbox.mailchimp_api` (handlers in `mailchimp_api_audience` and `mailchimp_api_campaigns`, parsing helpers
in `mailchimp_request`, JSON shapes in `mailchimp_json`), the data in `segmail.sandbox.mailchimp_state` (records in
`mailchimp_records`), demo data in `mailchimp_seeding`, HTTP plumbing in `segmail.sandbox.mailchimp_http`, faults in
`segmail.sandbox.faults`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import logging
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from segmail.sandbox.faults import FAULT_KINDS, Faults
from segmail.sandbox.mailchimp_api import dispatch
from segmail.sandbox.mailchimp_http import HttpServer, Reply, ServedSandbox, basic_credentials, json_or_none
from segmail.sandbox.mailchimp_json import member_json
from segmail.sandbox.mailchimp_records import MailingList, StateError, not_found, second
from segmail.sandbox.mailchimp_request import ApiRequest, problem
from segmail.sandbox.mailchimp_seeding import add_audience, audience_rows, send_newsletter, store_orders
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = ["Faults", "LoggedRequest", "MailchimpSandbox", "SandboxState", "main"]

BASE_PATH: Final = "/3.0"
_JSON: Final = "application/json; charset=utf-8"
_PROBLEM: Final = "application/problem+json; charset=utf-8"
_BAD_GATEWAY_HTML: Final = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)
_log = logging.getLogger(__name__)


@dataclass
class LoggedRequest:
    """One exchange as the sandbox saw it; `status` is None when the connection was reset instead."""

    method: str
    path: str  # with the /3.0 base path, without the query
    query: str  # raw query string
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes | None = None
    fault: str | None = None  # the injected fault kind, e.g. "429_empty", "reset_after_apply"

    @property
    def json(self) -> Any:
        """The response body parsed, or None when it is empty or not JSON."""
        return json_or_none(self.response_body)


class MailchimpSandbox(ServedSandbox):
    """The sandbox server and its data; a context manager that starts on enter and stops on exit."""

    fault_kinds = frozenset(FAULT_KINDS)

    def __init__(
        self,
        *,
        api_key: str = "test-us6",
        seed: int = 0,
        faults: Faults | None = None,
        max_connections: int = 10,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.seed = seed
        self.state = SandboxState(seed=seed)
        self.requests_log: list[LoggedRequest] = []
        self.connections_opened = 0
        self.max_connections = max_connections  # requests in flight at once, per API key
        self.peak_in_flight = 0
        self.refused_in_flight = 0  # 429s for going over `max_connections`
        self._in_flight = 0
        self.faults_injected: Counter[str] = Counter()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))  # tests may swap it
        self._n_429 = 0
        self._init_serving(host, port, faults)
        self._base_url: str | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._begin()
        server = HttpServer(self._address, self._exchange, self._count_connection)
        base_url = f"http://{self._address[0]}:{server.server_address[1]}{BASE_PATH}"
        if "server" in base_url:  # the official client rewrites every "server" in the URL
            server.server_close()
            raise ValueError(f"the base URL must not contain 'server', got {base_url}")
        self._base_url = base_url
        self._serve(server, "mailchimp-sandbox")

    def _count_connection(self) -> None:
        with self._lock:
            self.connections_opened += 1

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/3.0`; set the official client's `api_client.host` to it."""
        if self._base_url is None:
            raise RuntimeError("the sandbox has not been started")
        return self._base_url

    def now(self) -> datetime:
        return second(self.clock())

    # ---- seeding data ------------------------------------------------------------------------------

    def add_list(self, list_id: str, name: str) -> None:
        with self._lock:
            self.state.add_list(list_id, name, self.now())

    def add_member(
        self,
        list_id: str,
        email: str,
        *,
        status: str = "subscribed",
        timestamp_opt: datetime | None = None,
        timezone: str | None = None,
        country_code: str | None = None,
        language: str = "",
        merge_fields: dict[str, str] | None = None,
        tags: Iterable[str] = (),
        last_changed: datetime | None = None,
    ) -> dict[str, Any]:
        """Add one member (opt-in and last change default to the sandbox clock); returns its API JSON."""
        with self._lock:
            lst = self._list(list_id)
            now = self.now()
            member = self.state.add_member(
                list_id, email, status=status, timestamp_opt=timestamp_opt or now,
                last_changed=last_changed or now, timezone=timezone or "", country_code=country_code or "",
                language=language, merge_fields=merge_fields,
            )  # fmt: skip
            self.state.set_tags(lst, member, [(name, True) for name in tags], now)
            return member_json(self.state, lst, member, self._base_url or BASE_PATH)

    def load_audience(self, list_id: str, *, contacts: int, seed: int, as_of: datetime) -> int:
        """The contacts of `generate_shop(contacts=, seed=, as_of=)` as members, so its orders match by email.

        Status, opt-in time, time zone, country, language and names are the contacts.csv values; the last
        change is the opt-in for subscribers and a seeded later time for everyone else. Returns how many
        members were added (addresses already in the list are left alone).
        """
        self._list(list_id)
        rows = audience_rows(contacts=contacts, seed=seed, as_of=as_of)
        with self._lock:
            self._list(list_id)
            return add_audience(self.state, list_id, rows, seed=seed, as_of=as_of)

    def load_store_orders(self, store_id: str, orders_csv: Path, *, contacts_csv: Path | None = None) -> int:
        """E-commerce orders for `store_id` from a `generate_shop` orders.csv, as a shop integration would send them.

        Statuses become `financial_status` (partially refunded and refunded orders keep their own word);
        countries come from contacts.csv when given. Returns how many orders the store holds.
        """
        orders = store_orders(store_id, orders_csv, contacts_csv)
        with self._lock:
            store = self.state.stores.setdefault(store_id, {})
            store.update(orders)
            return len(store)

    def edit_store_order(self, store_id: str, order_id: str, **changes: Any) -> None:
        """Change an e-commerce order as the shop integration would, bumping `updated_at_foreign`."""
        with self._lock:
            order = self.state.stores[store_id][order_id]
            order.update(changes)
            order["updated_at_foreign"] = self.now().isoformat()

    def _list(self, list_id: str) -> MailingList:
        if list_id not in self.state.lists:
            raise ValueError(f"no list {list_id!r} in the sandbox; add it with add_list() first")
        return self.state.lists[list_id]

    def send_newsletter(
        self, list_id: str, *, at: datetime, seed: int, open_rate: float = 0.3, click_rate: float = 0.05
    ) -> int:
        """A past newsletter to the whole audience, with seeded opens and clicks: engagement for demos.

        Returns the number of activity events the sandbox now reports for it.
        """
        with self._lock:
            campaign = send_newsletter(self.state, list_id, at)
        return self.simulate_engagement(campaign.id, seed=seed, open_rate=open_rate, click_rate=click_rate)

    def send_campaign(
        self,
        list_id: str,
        *,
        at: datetime,
        title: str,
        segment: str | None = None,
        by_condition: bool = False,
    ) -> str:
        """A campaign sent at `at` to the audience, or to the members of the static segment (tag) named
        `segment` (its saved segment, or with `by_condition` its one StaticSegment condition); its id."""
        with self._lock:
            segment_id = None
            if segment is not None:
                found = self._list(list_id).segment_named(segment)
                if found is None:
                    raise ValueError(f"no segment {segment!r} in list {list_id!r}")
                segment_id = found.id
            campaign = send_newsletter(
                self.state, list_id, at, segment_id=segment_id, by_condition=by_condition, title=title
            )
            return campaign.id

    def create_tag(self, list_id: str, name: str, emails: list[str]) -> int:
        """A static segment (tag) holding these members, as a marketer makes one; its id."""
        with self._lock:
            lst = self._list(list_id)
            return self.state.create_segment(lst, name, emails, self.now()).id

    def simulate_engagement(
        self,
        campaign_id: str,
        *,
        seed: int,
        open_rate: float = 0.3,
        click_rate: float = 0.05,
        bounce_rate: float = 0.0,
        proxy_rate: float = 0.0,
        unsubscribe_rate: float = 0.0,
    ) -> int:
        """Seeded opens/clicks (and bounces, proxy opens, unsubscribes) for a sent campaign's recipients;
        returns the number of activity events (unsubscribes are not activity: /unsubscribed lists them).

        Calling it again replaces the campaign's activity, so the same arguments always give the same report.
        Event times fall within two days after the send, whatever the sandbox clock says.
        """
        with self._lock:
            self.state.advance(self.now())
            if campaign_id not in self.state.campaigns:
                raise ValueError(f"no campaign {campaign_id!r}")
            campaign = self.state.campaigns[campaign_id]
            return self.state.simulate_engagement(
                campaign, seed=seed, open_rate=open_rate, click_rate=click_rate, bounce_rate=bounce_rate,
                proxy_rate=proxy_rate, unsubscribe_rate=unsubscribe_rate,
            )  # fmt: skip

    # ---- one exchange ------------------------------------------------------------------------------

    def _exchange(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urlsplit(target)
        entry = LoggedRequest(method, url.path, url.query, headers, body)
        with self._lock:
            self.requests_log.append(entry)
            number = len(self.requests_log)
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            over = self._in_flight > self.max_connections
        try:
            reply = self._over_limit(number) if over else self._reply(entry, number)
        finally:
            with self._lock:
                self._in_flight -= 1
        entry.status = None if reply.reset else reply.status
        entry.response_headers = dict(reply.headers)
        entry.response_body = None if reply.reset else reply.body
        return reply

    def _over_limit(self, number: int) -> Reply:
        """The real limit, not an injected fault: a problem document and no `Retry-After`, which the
        fundamentals page does not promise (a client must back off on its own)."""
        with self._lock:
            self.refused_in_flight += 1
        detail = f"You have exceeded the limit of {self.max_connections} simultaneous connections."
        return _problem_reply(problem(429, "Too Many Requests", detail, _instance(self.seed, number)))

    def _reply(self, entry: LoggedRequest, number: int) -> Reply:
        api_path = entry.path[len(BASE_PATH) :] if entry.path.startswith(BASE_PATH + "/") else None
        faults = self._faults
        kind = None
        if api_path is not None and faults.active and not faults.exempt(api_path):
            if faults.latency_ms:
                self._stopping.wait(faults.latency_ms / 1000)
            with self._lock:
                kind = faults.draw(self._fault_rng)
        if kind is not None and kind != "reset_after_apply":
            return self._fault(kind, entry, number)
        reply = self._handle(entry, api_path, number)
        if kind == "reset_after_apply":
            self._count_fault(entry, kind)
            return Reply(reset=True)
        return reply

    def _count_fault(self, entry: LoggedRequest, kind: str) -> None:
        entry.fault = kind
        with self._lock:
            self.faults_injected[kind] += 1

    def _fault(self, kind: str, entry: LoggedRequest, number: int) -> Reply:
        """An injected failure, decided before the request is handled: nothing in the state changes."""
        if kind == "429":
            with self._lock:
                self._n_429 += 1
                empty = self._n_429 % 2 == 0
            self._count_fault(entry, "429_empty" if empty else "429_problem")
            if empty:
                return Reply(429, (("Retry-After", "1"),))
            detail = "You have exceeded the limit of 10 simultaneous connections."
            return _problem_reply(problem(429, "Too Many Requests", detail, _instance(self.seed, number)),
                                  (("Retry-After", "1"),))  # fmt: skip
        self._count_fault(entry, kind)
        if kind == "403_empty":  # "a 403 without a JSON body" at exceptionally high volumes
            return Reply(403)
        if kind == "502_html":
            return Reply(502, (("Content-Type", "text/html; charset=utf-8"),), _BAD_GATEWAY_HTML)
        if kind == "reset":
            return Reply(reset=True)
        if kind == "timeout":
            self._stopping.wait(self._faults.timeout_s)
        title, detail = _FAULT_PROBLEMS[kind]
        status = {"500": 500, "503": 503, "timeout": 504}[kind]
        return _problem_reply(problem(status, title, detail, _instance(self.seed, number)))

    def _handle(self, entry: LoggedRequest, api_path: str | None, number: int) -> Reply:
        instance = _instance(self.seed, number)
        if not self._authorized(entry.headers):
            detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
            return _problem_reply(problem(401, "API Key Invalid", detail, instance))
        if api_path is None:
            err = not_found()
            return _problem_reply(problem(err.status, err.title, err.detail, instance))
        now = self.now()
        req = ApiRequest(entry.method, api_path, parse_qs(entry.query, keep_blank_values=True), entry.body, now,
                         self.base_url, {})  # fmt: skip
        with self._lock:
            self.state.advance(now)
            try:
                response = dispatch(self.state, req)
            except StateError as err:
                return _problem_reply(problem(err.status, err.title, err.detail, instance, err.errors))
            except Exception:  # a sandbox bug: answer like Mailchimp would, keep the traceback in the log
                _log.exception("sandbox handler failed for %s %s", entry.method, entry.path)
                return _problem_reply(problem(500, *_FAULT_PROBLEMS["500"], instance))
        if response.body is None:
            return Reply(response.status, (("Content-Type", _JSON),))
        body = json.dumps(response.body, ensure_ascii=False).encode()
        return Reply(response.status, (("Content-Type", _JSON),), body)

    def _authorized(self, headers: dict[str, str]) -> bool:
        credentials = basic_credentials(headers)  # Mailchimp: any user name, the API key as password
        return credentials is not None and hmac.compare_digest(credentials[1].encode(), self.api_key.encode())


_FAULT_PROBLEMS: Final = {
    "500": (
        "Internal Server Error",
        "A deep, internal error has occurred during the processing of your request.",
    ),
    "503": ("Service Unavailable", "The service is temporarily unavailable. Please try again later."),
    "timeout": ("Gateway Timeout", "The request took too long to complete."),
}


def _instance(seed: int, number: int) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(f"{seed}/{number}".encode()).digest()))


def _problem_reply(doc: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    extra = (("Content-Type", _PROBLEM), ("X-Request-Id", str(doc["instance"])))
    return Reply(int(doc["status"]), extra + headers, json.dumps(doc).encode())


def main(argv: Sequence[str] | None = None) -> int:
    """Run a sandbox until interrupted: `python -m segmail.sandbox.mailchimp --contacts 1000 --faults rate_429=0.1`."""
    parser = argparse.ArgumentParser(prog="python -m segmail.sandbox.mailchimp", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-us6")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", dest="list_id", default="list1")
    parser.add_argument(
        "--contacts", type=int, default=0, help="members generated from segmail.sandbox.shopgen"
    )
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None, help="aware ISO 8601 time")
    parser.add_argument(
        "--faults", type=Faults.parse, default=Faults(), help="e.g. rate_429=0.1,latency_ms=20"
    )
    args = parser.parse_args(argv)
    sandbox = MailchimpSandbox(
        api_key=args.api_key, seed=args.seed, faults=args.faults, port=args.port, host=args.host
    )
    sandbox.add_list(args.list_id, "sandbox audience")
    if args.contacts:
        sandbox.load_audience(
            args.list_id, contacts=args.contacts, seed=args.seed, as_of=args.as_of or sandbox.now()
        )
    with sandbox:
        sys.stdout.write(f"{sandbox.base_url}\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
