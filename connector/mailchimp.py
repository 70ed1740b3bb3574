"""Mailchimp Marketing API: members and engagement in, static-segment (tag) diffs out.

Uses the official `mailchimp-marketing` client with its transport (`request`) pointed at the one HTTP
client (connector/http.py), and wraps its quirks once (see ../shared/contracts/mailchimp.md §11):
- an empty-body error (e.g. a bare 429) would come back as a `Response` instead of raising, error
  bodies are `application/problem+json`, which it leaves as a JSON string, and response headers
  (Retry-After) are dropped from its exceptions: so the transport classifies every response itself
  and raises, and the client only ever sees successes (an empty one still comes back as a `Response`);
- `fields` must be a list (a string is sent one character per field);
- a URL containing "server" is rewritten, so the data centre is always passed explicitly.

Mailchimp's limits ("API limits", https://mailchimp.com/developer/marketing/docs/fundamentals/): at most 10
simultaneous connections (the pool never opens more), a 120 s timeout on calls (`timeout_s` stays below
it), and "At exceptionally high volumes, you may receive an HTTP 429 or 403 without a JSON body": such a
403 is a throttle and retried, while a refused key is a 401/403 that carries a problem document.

The calls are here; answers become records in connector/mailchimp_parse.py, campaign requests are
shaped and checked in connector/mailchimp_campaigns.py, and members' overlapping pages are read
by connector/mailchimp_paging.py.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import mailchimp_marketing
from mailchimp_marketing.api_client import ApiClientError

from segmail.connector.http import (
    DEFAULTS,
    ApiError,
    Call,
    ConfigurationError,
    Hooks,
    HttpClient,
    HttpStats,
    ItemError,
    Response,
    TransientError,
    Transport,
    Verdict,
    make_response,
    problem_detail,
    retry_after,
)
from segmail.connector.mailchimp_campaigns import (
    CAMPAIGN_FIELDS,
    list_params,
    schedule_time,
    settled_action,
    test_send_body,
)
from segmail.connector.mailchimp_paging import overlapping_pages
from segmail.connector.mailchimp_parse import (
    MEMBER_FIELDS,
    CampaignInfo,
    ChunkResult,
    MemberPage,
    chunk_result,
    iso,
    mask_emails,
    optional_time,
    parse_activity,
    parse_campaign,
    parse_members,
)
from segmail.connector.records import Event

MAX_CONNECTIONS = 10  # "at most 10 simultaneous connections" per API key (see the module docstring)
PAGE_SIZE = 1000  # Mailchimp's maximum `count`
PAGE_OVERLAP = 50  # members each page re-reads from the one before: see `members`
SEGMENT_CHUNK = 500  # "A maximum of 500 members can be sent" per members_to_add / members_to_remove


def data_center(api_key: str) -> str:
    """The `usN` suffix of an API key; a key without one is a configuration error."""
    _, sep, dc = api_key.rpartition("-")
    if not sep or not re.fullmatch(r"[a-z]+[0-9]+", dc):
        raise ConfigurationError("MAILCHIMP_API_KEY does not end in a data centre suffix such as -us6")
    return dc


def api_url_for(api_key: str) -> str:
    return f"https://{data_center(api_key)}.api.mailchimp.com/3.0"


class _CurrentCall(threading.local):
    """The name of the call in progress on this thread: the official client cannot pass it to its transport."""

    what = "request"


class MailchimpApi:
    """The official client, its transport pointed at the one HTTP client; safe to share between threads."""

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str | None = None,
        timeout_s: float = DEFAULTS.timeout_s,
        attempts: int = DEFAULTS.attempts,
        max_connections: int = MAX_CONNECTIONS,
        sleep: Callable[[float], None] | None = None,
        transport: Transport | None = None,
    ) -> None:
        dc = data_center(api_key)
        self.max_connections = max_connections
        self.http = HttpClient(
            "Mailchimp",
            secrets=[api_key],
            timeout_s=timeout_s,
            attempts=attempts,
            pool_size=max_connections,
            hooks=Hooks(check=_bare_403_is_throttling, detail=_detail),
            sleep=sleep,
            log=logging.getLogger("segmail.connector.mailchimp"),
            transport=transport,
        )
        self._key = api_key
        self._current = _CurrentCall()
        self.client = mailchimp_marketing.Client()
        self.client.set_config({"api_key": api_key, "server": dc, "timeout": timeout_s})
        self.client.api_client.host = (api_url or api_url_for(api_key)).rstrip("/")
        self.client.api_client.request = self._transport

    @property
    def stats(self) -> HttpStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def _transport(
        self, method: str, url: str, query_params: Any = None, headers: Any = None, body: Any = None
    ) -> Response:
        """The official client's `request`: one try through the one client, which raises on a failure."""
        data = json.dumps(body) if method in ("POST", "PUT", "PATCH") else None
        call = Call(
            self._current.what,
            method,
            url,
            params=query_params,
            headers=headers,
            data=data,
            auth=("user", self._key),
        )
        return self.http.send(call)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One client call under the retry policy; returns its data, or None for an empty success."""
        return self.http.retrying(lambda: self._once(what, fn, *args, **kwargs))

    def _once(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._current.what = what
        try:
            result = fn(*args, **kwargs)
        except ApiClientError as exc:
            if isinstance(exc.text, BaseException):  # what the transport raised, wrapped by the client
                raise exc.text from None
            # a refusal the client raised itself (the transport lets none through): read by the same table
            answer = make_response(exc.status_code or 0, {}, exc.text or "")
            refusal = self.http.verdict(Call(what, "", ""), answer)
            raise refusal or ApiError(f"Mailchimp {what}: an answer the client refused") from None
        return None if isinstance(result, Response) else result  # an empty body comes back as the Response

    # -- reads ----------------------------------------------------------------------------------
    def ping(self) -> None:
        self.call("ping", self.client.ping.get)

    def members(self, list_id: str, *, since: datetime | None) -> Iterator[MemberPage]:
        """Members changed after `since`, oldest change first, one page at a time, in order.

        The first page gives the total; the rest are fetched concurrently (at most `max_connections`
        in flight, so memory stays bounded) and yielded in offset order, so a caller that saves a
        cursor after each page never saves one ahead of an unstored page.

        Mailchimp documents no snapshot for `offset` paging, and a member that changes during the read
        moves to the end of this sort, so every later offset shifts and a plain read skips one member per
        change. Pages therefore overlap by `PAGE_OVERLAP`: the previous page's last member must come
        again in the next page, which proves nothing between them was skipped (the repeats are dropped).
        If more members changed between two neighbouring reads, the read stops with a TransientError
        before the page after the gap, so a saved cursor stays behind the skipped members.
        """
        params: dict[str, Any] = {
            "count": PAGE_SIZE,
            "fields": MEMBER_FIELDS,
            "sort_field": "last_changed",
            "sort_dir": "ASC",
        }
        if since is not None:
            params["since_last_changed"] = iso(since)

        def fetch(offset: int) -> dict[str, Any]:
            return (
                self.call(
                    "list members", self.client.lists.get_list_members_info, list_id, offset=offset, **params
                )
                or {}
            )

        pages = overlapping_pages(
            fetch, page_size=PAGE_SIZE, overlap=PAGE_OVERLAP, workers=self.max_connections
        )
        for offset, raw in pages:
            yield parse_members(raw, offset=offset)

    def pages(
        self, what: str, fn: Callable[..., Any], *args: Any, items: str, **params: Any
    ) -> Iterator[list[Any]]:
        """Every page of a Mailchimp collection (`count`/`offset`), one list of `items` at a time.

        The one reader for every sequential collection: stops on a short page or at `total_items`.
        """
        offset = 0
        while True:
            data = self.call(what, fn, *args, count=PAGE_SIZE, offset=offset, **params) or {}
            page = data.get(items) or []
            yield page
            offset += len(page)
            if len(page) < PAGE_SIZE or offset >= int(data.get("total_items") or 0):
                return

    def sent_campaigns(self, *, since_send_time: datetime | None) -> Iterator[tuple[str, datetime | None]]:
        params: dict[str, Any] = {
            "status": "sent",
            "fields": ["campaigns.id", "campaigns.send_time", "total_items"],
        }
        if since_send_time is not None:
            params["since_send_time"] = iso(since_send_time)
        for page in self.pages("list campaigns", self.client.campaigns.list, items="campaigns", **params):
            for c in page:
                yield str(c["id"]), optional_time(c.get("send_time"))

    def activity(self, campaign_id: str, *, since: datetime | None) -> Iterator[list[Event]]:
        """Opens and clicks of one campaign after `since`, a page of recipients at a time."""
        params: dict[str, Any] = {} if since is None else {"since": iso(since)}
        fetch = self.client.reports.get_email_activity_for_campaign
        for page in self.pages("email activity", fetch, campaign_id, items="emails", **params):
            yield list(parse_activity(campaign_id, page))

    # -- writes ---------------------------------------------------------------------------------
    def static_segments(self, list_id: str) -> dict[str, int]:
        """Static segments (tags) of the audience by name."""
        fields_ = ["segments.id", "segments.name", "total_items"]
        pages = self.pages(
            "list segments",
            self.client.lists.list_segments,
            list_id,
            items="segments",
            type="static",
            fields=fields_,
        )
        return {str(s["name"]): int(s["id"]) for page in pages for s in page}

    def create_static_segment(self, list_id: str, name: str, emails: Sequence[str] = ()) -> int:
        """A new static segment holding `emails` (addresses not in the audience are ignored).

        Mailchimp documents no limit for `static_segment` at creation, only 500 per members_to_add, so
        the create carries at most that many and the rest follow in chunks through `change_segment`.
        A failure in a later chunk leaves the segment existing but partly filled, and a second create
        under the same name is refused: the caller resumes with `change_segment`.
        """
        emails = list(emails)
        body = {"name": name, "static_segment": emails[:SEGMENT_CHUNK]}
        data = self.call("create segment", self.client.lists.create_segment, list_id, body)
        segment_id = int(data["id"])
        for start in range(SEGMENT_CHUNK, len(emails), SEGMENT_CHUNK):
            self.change_segment(list_id, segment_id, add=emails[start : start + SEGMENT_CHUNK], remove=())
        return segment_id

    def segment_member_count(self, list_id: str, segment_id: int) -> int:
        data = self.call(
            "get segment", self.client.lists.get_segment, list_id, str(segment_id), fields=["member_count"]
        )
        return int((data or {}).get("member_count") or 0)

    def change_segment(
        self, list_id: str, segment_id: int, *, add: Sequence[str], remove: Sequence[str]
    ) -> ChunkResult:
        """Add and remove at most 500 emails each; what Mailchimp confirmed and what it refused."""
        if len(add) > SEGMENT_CHUNK or len(remove) > SEGMENT_CHUNK:
            raise ValueError(f"at most {SEGMENT_CHUNK} emails per members_to_add / members_to_remove")
        body = {"members_to_add": list(add), "members_to_remove": list(remove)}
        data = (
            self.call(
                "update segment members", self.client.lists.batch_segment_members, body, list_id, segment_id
            )
            or {}
        )
        return chunk_result(data, add=add, remove=remove)

    # -- campaigns ------------------------------------------------------------------------------
    def create_campaign(
        self,
        *,
        list_id: str,
        segment_id: int,
        title: str,
        subject: str,
        from_name: str,
        reply_to: str,
        preview_text: str | None = None,
    ) -> CampaignInfo:
        """A regular draft to one saved segment.

        The create is retried like every call, so a lost response can leave a second draft with the same
        title; callers give drafts deterministic titles and clean up with `campaigns()` and `delete_campaign`.
        """
        settings = {"subject_line": subject, "title": title, "from_name": from_name, "reply_to": reply_to}
        if preview_text is not None:
            settings["preview_text"] = preview_text
        body = {
            "type": "regular",
            "recipients": {"list_id": list_id, "segment_opts": {"saved_segment_id": segment_id}},
            "settings": settings,
        }
        return parse_campaign(self.call("create campaign", self.client.campaigns.create, body))

    def set_content(self, campaign_id: str, *, html: str, text: str) -> None:
        body = {"html": html, "plain_text": text}
        self.call("set campaign content", self.client.campaigns.set_content, campaign_id, body)

    def schedule(self, campaign_id: str, at: datetime) -> None:
        """Schedule delivery at `at`, which must be aware and on a UTC quarter hour (see `schedule_time`).

        A refusal that follows an attempt whose answer was lost is checked against the campaign: if that
        attempt scheduled it for `at`, this is a success.
        """
        utc = schedule_time(at)

        def landed(info: CampaignInfo) -> bool:
            return info.status in ("schedule", "sending", "sent") and info.send_time == utc

        body = {"schedule_time": iso(utc)}
        settled_action(self.call, self.get_campaign, "schedule campaign", self.client.campaigns.schedule,
                       campaign_id, body, landed=landed)  # fmt: skip

    def send_now(self, campaign_id: str) -> None:
        """Send immediately. As with `schedule`, a refusal after a lost answer is checked, not trusted."""

        def landed(info: CampaignInfo) -> bool:
            return info.status in ("sending", "sent")

        send = self.client.campaigns.send
        settled_action(self.call, self.get_campaign, "send campaign", send, campaign_id, landed=landed)

    def send_test(self, campaign_id: str, emails: Sequence[str], *, send_type: str = "html") -> None:
        body = test_send_body(emails, send_type)
        self.call("send test email", self.client.campaigns.send_test_email, campaign_id, body)

    def get_campaign(self, campaign_id: str) -> CampaignInfo | None:
        try:
            data = self.call("get campaign", self.client.campaigns.get, campaign_id, fields=CAMPAIGN_FIELDS)
        except ItemError as exc:
            if exc.status == 404:
                return None
            raise
        return parse_campaign(data)

    def campaigns(
        self,
        *,
        list_id: str | None = None,
        status: str | None = None,
        since_create_time: datetime | None = None,
    ) -> Iterator[CampaignInfo]:
        """Campaigns, oldest first: the way to find a draft by its title when a crash lost its id.

        Sorted by creation so that campaigns created while the pages are read land after the last page
        instead of shifting the offsets of pages not yet read. Titles are not a filter Mailchimp offers.
        Arguments are checked on the call, not on the first `next()`, so a bad status fails where it is made.
        """
        params = list_params(list_id=list_id, status=status, since_create_time=since_create_time)
        pages = self.pages("list campaigns", self.client.campaigns.list, items="campaigns", **params)
        return (parse_campaign(c) for page in pages for c in page)

    def delete_campaign(self, campaign_id: str) -> None:
        """Remove a draft; one already gone is fine, since cleanup may run twice."""
        try:
            self.call("delete campaign", self.client.campaigns.remove, campaign_id)
        except ItemError as exc:
            if exc.status != 404:
                raise


def _detail(body: Any) -> str:
    """The problem document's human part, addresses masked (a refusal may quote them)."""
    return mask_emails(problem_detail(body))


def _bare_403_is_throttling(_call: Call, response: Response, verdict: Verdict) -> Verdict:
    """A 403 without a problem document is Mailchimp throttling at high volume, not a refused key."""
    if isinstance(verdict, ConfigurationError) and verdict.status == 403 and not verdict.detail:
        return TransientError(
            f"{verdict} (Mailchimp throttling at high volume)",
            status=403,
            retry_after=retry_after(response),
            throttled=True,
        )
    return verdict
