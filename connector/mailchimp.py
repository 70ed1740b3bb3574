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
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import mailchimp_marketing
from mailchimp_marketing.api_client import ApiClientError

from segmail.connector import fields
from segmail.connector.fields import FieldError
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
from segmail.connector.records import Event, Member

T = TypeVar("T")
MAX_CONNECTIONS = 10  # "at most 10 simultaneous connections" per API key (see the module docstring)
PAGE_SIZE = 1000  # Mailchimp's maximum `count`
PAGE_OVERLAP = 50  # members each page re-reads from the one before: see `members`
SEGMENT_CHUNK = 500  # "A maximum of 500 members can be sent" per members_to_add / members_to_remove
_EMAIL_IN_TEXT = re.compile(r"[^\s@'\"<>]+@[^\s@'\"<>]+")
MEMBER_FIELDS = [
    "members.email_address",
    "members.status",
    "members.timestamp_opt",
    "members.timestamp_signup",
    "members.last_changed",
    "members.language",
    "members.merge_fields",
    "members.location.timezone",
    "members.location.country_code",
    "total_items",
]
CAMPAIGN_FIELDS = [
    "id",
    "status",
    "settings.title",
    "recipients.list_id",
    "recipients.segment_opts.saved_segment_id",
    "send_time",
    "emails_sent",
]
# The `status` filter of GET /campaigns takes fewer values than a campaign's status can have.
CAMPAIGN_STATUS_FILTERS = ("save", "paused", "schedule", "sending", "sent")
TEST_SEND_TYPES = ("html", "plaintext")


def subscriber_hash(email: str) -> str:
    return hashlib.md5(
        email.strip().lower().encode(), usedforsecurity=False
    ).hexdigest()  # Mailchimp member id


def data_center(api_key: str) -> str:
    """The `usN` suffix of an API key; a key without one is a configuration error."""
    _, sep, dc = api_key.rpartition("-")
    if not sep or not re.fullmatch(r"[a-z]+[0-9]+", dc):
        raise ConfigurationError("MAILCHIMP_API_KEY does not end in a data centre suffix such as -us6")
    return dc


def api_url_for(api_key: str) -> str:
    return f"https://{data_center(api_key)}.api.mailchimp.com/3.0"


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    id: str
    status: str  # save | paused | schedule | sending | sent | canceled | canceling | archived
    title: str
    list_id: str
    segment_id: int | None  # recipients.segment_opts.saved_segment_id
    send_time: datetime | None  # scheduled or sent time, aware UTC
    emails_sent: int


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
            params["since_last_changed"] = _iso(since)

        def fetch(offset: int) -> dict[str, Any]:
            return (
                self.call(
                    "list members", self.client.lists.get_list_members_info, list_id, offset=offset, **params
                )
                or {}
            )

        first = fetch(0)
        previous: list[Any] = first.get("members") or []
        yield parse_members(previous, offset=0)
        step = PAGE_SIZE - PAGE_OVERLAP
        # a page is needed while members lie past the previous page's end (offset - step + PAGE_SIZE)
        offsets = range(step, int(first.get("total_items") or 0) - PAGE_OVERLAP, step)
        for offset, data in zip(offsets, _in_order(fetch, offsets, self.max_connections), strict=True):
            page: list[Any] = data.get("members") or []
            start = _after_overlap(previous, page)
            yield parse_members(page[start:], offset=offset + start)
            previous = page

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
            params["since_send_time"] = _iso(since_send_time)
        for page in self.pages("list campaigns", self.client.campaigns.list, items="campaigns", **params):
            for c in page:
                yield str(c["id"]), _optional_time(c.get("send_time"))

    def activity(self, campaign_id: str, *, since: datetime | None) -> Iterator[list[Event]]:
        """Opens and clicks of one campaign after `since`, a page of recipients at a time."""
        params: dict[str, Any] = {} if since is None else {"since": _iso(since)}
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
        refused: dict[str, str] = {}
        for error in data.get("errors") or []:
            message = str(error.get("error") or "refused")
            for email in error.get("email_addresses") or []:
                refused[str(email).strip().lower()] = _EMAIL_IN_TEXT.sub("<email>", message)
        return ChunkResult(
            added=[e.strip().lower() for e in add if e.strip().lower() not in refused],
            removed=[e.strip().lower() for e in remove if e.strip().lower() not in refused],
            refused=refused,
        )

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
        """Schedule delivery at `at`, which must be aware and on a UTC quarter hour.

        Checked here because Mailchimp refuses any other time with a 400 only after a round trip, and a
        naive time would silently be read as UTC. A refusal that follows an attempt whose answer was
        lost is checked against the campaign: if that attempt scheduled it for `at`, this is a success.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"schedule time must be timezone-aware, got {at!r}")
        utc = at.astimezone(UTC)
        if utc.minute % 15 or utc.second or utc.microsecond:
            raise ValueError(f"schedule time must be on a UTC quarter hour (:00/:15/:30/:45), got {_iso(at)}")

        def landed(info: CampaignInfo) -> bool:
            return info.status in ("schedule", "sending", "sent") and info.send_time == utc

        body = {"schedule_time": _iso(utc)}
        self._action("schedule campaign", self.client.campaigns.schedule, campaign_id, body, landed=landed)

    def send_now(self, campaign_id: str) -> None:
        """Send immediately. As with `schedule`, a refusal after a lost answer is checked, not trusted."""

        def landed(info: CampaignInfo) -> bool:
            return info.status in ("sending", "sent")

        self._action("send campaign", self.client.campaigns.send, campaign_id, landed=landed)

    def send_test(self, campaign_id: str, emails: Sequence[str], *, send_type: str = "html") -> None:
        if send_type not in TEST_SEND_TYPES:
            raise ValueError(f"send_type must be one of {', '.join(TEST_SEND_TYPES)}, got {send_type!r}")
        if not emails:
            raise ValueError("send_test needs at least one address")
        body = {"test_emails": list(emails), "send_type": send_type}
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
        params: dict[str, Any] = {
            "fields": [f"campaigns.{f}" for f in CAMPAIGN_FIELDS] + ["total_items"],
            "sort_field": "create_time",
            "sort_dir": "ASC",
        }
        if status is not None:
            if status not in CAMPAIGN_STATUS_FILTERS:
                raise ValueError(
                    f"status must be one of {', '.join(CAMPAIGN_STATUS_FILTERS)}, got {status!r}"
                )
            params["status"] = status
        if list_id is not None:
            params["list_id"] = list_id
        if since_create_time is not None:
            params["since_create_time"] = _iso(since_create_time)
        pages = self.pages("list campaigns", self.client.campaigns.list, items="campaigns", **params)
        return (parse_campaign(c) for page in pages for c in page)

    def delete_campaign(self, campaign_id: str) -> None:
        """Remove a draft; one already gone is fine, since cleanup may run twice."""
        try:
            self.call("delete campaign", self.client.campaigns.remove, campaign_id)
        except ItemError as exc:
            if exc.status != 404:
                raise

    def _action(
        self, what: str, fn: Callable[..., Any], *args: Any, landed: Callable[[CampaignInfo], bool]
    ) -> None:
        """A campaign action that is not idempotent, under the retry policy.

        When an attempt's answer is lost (a reset after the write, a timeout) the retry is refused
        because the first one worked; so a refusal after such an attempt is settled by reading the
        campaign instead of being reported as a failure that did not happen.
        """
        attempts = 0

        def once(*a: Any) -> Any:
            nonlocal attempts
            attempts += 1
            return fn(*a)

        try:
            self.call(what, once, *args)
        except ItemError:
            if attempts > 1:
                info = self.get_campaign(args[0])
                if info is not None and landed(info):
                    return
            raise


@dataclass(frozen=True)
class MemberPage:
    """One page of members; `cursor` is set by connector/mailchimp_members.py, which sees every page."""

    members: list[Member]
    problems: list[str]  # "member <hash>: reason" — never the email itself
    newest_change: datetime | None
    cursor: str | None = None

    @property
    def records(self) -> list[Member]:
        return self.members


@dataclass(frozen=True)
class ChunkResult:
    added: list[str]
    removed: list[str]
    refused: dict[str, str]


def _detail(body: Any) -> str:
    """The problem document's human part, addresses masked (a refusal may quote them)."""
    return _EMAIL_IN_TEXT.sub("<email>", problem_detail(body))


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


def _after_overlap(previous: Sequence[Any], page: Sequence[Any]) -> int:
    """Where the new members of `page` begin, given the page read before it (see `MailchimpApi.members`)."""
    keys = [_member_key(item) for item in page]
    if not previous or not page:
        return 0
    last = _member_key(previous[-1])
    if last in keys:
        return keys.index(last) + 1
    if len(previous) < PAGE_SIZE:  # the previous page was the end when read: what follows came later
        seen = {_member_key(item) for item in previous}
        return next((i for i, key in enumerate(keys) if key not in seen), len(keys))
    raise TransientError(
        f"list members: more than {PAGE_OVERLAP} members changed between two page reads, so some may "
        "have been skipped; the next pull reads on from the last stored page"
    )


def _member_key(item: Any) -> str:
    return str(item.get("email_address") or "").strip().lower() if isinstance(item, dict) else ""


def _in_order(fetch: Callable[[int], T], offsets: Sequence[int], workers: int) -> Iterator[T]:
    """fetch(offset) for every offset, at most `workers` at a time, results in offset order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[T]] = deque()
        for offset in offsets:
            pending.append(pool.submit(fetch, offset))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def parse_members(raw: Sequence[dict[str, Any]], *, offset: int = 0) -> MemberPage:
    """Mailchimp members → Member records; a bad member is reported by position and hash and skipped."""
    members: list[Member] = []
    problems: list[str] = []
    newest: datetime | None = None
    for i, item in enumerate(raw):
        where = f"member #{offset + i + 1}"
        try:
            member = _member(item)
        except (FieldError, KeyError, TypeError, ValueError) as exc:
            email = item.get("email_address") if isinstance(item, dict) else None
            ident = f" ({subscriber_hash(email)})" if isinstance(email, str) and email else ""
            problems.append(
                f"{where}{ident}: {exc if isinstance(exc, FieldError) else f'missing or malformed {exc}'}"
            )
            continue
        members.append(member)
        if member.last_changed is not None and (newest is None or member.last_changed > newest):
            newest = member.last_changed
    return MemberPage(members=members, problems=problems, newest_change=newest)


def _member(item: dict[str, Any]) -> Member:
    email = item["email_address"]
    location = item.get("location") or {}
    merge = item.get("merge_fields") or {}
    zone = location.get("timezone") or None
    try:
        zone = fields.timezone_name(zone)
    except FieldError:
        zone = None  # Mailchimp guesses zones from IPs; an unknown one falls through to the next source
    try:
        country = fields.country_code(location.get("country_code"))
    except FieldError:
        country = None
    opted = fields.optional_timestamp(
        item.get("timestamp_opt") or item.get("timestamp_signup"), "timestamp_opt", naive_is_utc=True
    )
    return Member(
        email=str(email).strip(),
        email_key=fields.email_key(str(email)),
        status=fields.contact_status(str(item["status"])),
        opted_in_at=opted,
        language=fields.text(item.get("language"), max_len=16),
        first_name=fields.text(merge.get("FNAME") if isinstance(merge.get("FNAME"), str) else None),
        last_name=fields.text(merge.get("LNAME") if isinstance(merge.get("LNAME"), str) else None),
        timezone=zone,
        country=country,
        last_changed=fields.optional_timestamp(item.get("last_changed"), "last_changed", naive_is_utc=True),
    )


def parse_activity(campaign_id: str, emails: Sequence[dict[str, Any]]) -> Iterator[Event]:
    for entry in emails:
        try:
            key = fields.email_key(str(entry["email_address"]))
        except (FieldError, KeyError):
            continue
        for act in entry.get("activity") or []:
            action = act.get("action")
            if action not in ("open", "click"):
                continue  # bounces are not engagement
            try:
                at = fields.timestamp(str(act["timestamp"]), "timestamp", naive_is_utc=True)
            except (FieldError, KeyError):
                continue
            yield Event(email_key=key, type=action, at=at, campaign_id=campaign_id)


def parse_campaign(data: dict[str, Any]) -> CampaignInfo:
    recipients = data.get("recipients") or {}
    saved = (recipients.get("segment_opts") or {}).get("saved_segment_id")
    return CampaignInfo(
        id=str(data["id"]),
        status=str(data.get("status") or ""),
        title=str((data.get("settings") or {}).get("title") or ""),
        list_id=str(recipients.get("list_id") or ""),
        # Mailchimp may answer 0 for "no saved segment"; ids start at 1
        segment_id=saved if isinstance(saved, int) and not isinstance(saved, bool) and saved > 0 else None,
        send_time=_optional_time(data.get("send_time")),
        emails_sent=int(data.get("emails_sent") or 0),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _optional_time(value: Any) -> datetime | None:
    try:
        return fields.optional_timestamp(value if isinstance(value, str) else None, "time", naive_is_utc=True)
    except FieldError:
        return None
