"""The Mailchimp sandbox, driven through the official client and checked against the official spec."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mailchimp_marketing.api_client import ApiClientError

from segmail.sandbox.faults import Faults
from segmail.sandbox.mailchimp import LoggedRequest, MailchimpSandbox
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.spec import SPEC_PATH, validate
from tests.mailchimp_fixture import checked_sandbox, official_client

T0 = datetime(2026, 1, 31, 10, 7, 30, tzinfo=UTC)
SPEC_SHA256 = "faadf55c59b8ee2c05d676370085a3051600e2e42278f36fa4aa7f6d72adaca1"


class Clock:
    """A settable clock, so scheduled sends happen when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _problem(err: ApiClientError) -> dict[str, Any]:
    # application/problem+json does not contain "application/json", so the client hands over raw text
    assert isinstance(err.text, str)
    doc: dict[str, Any] = json.loads(err.text)
    return doc


def _seed(sandbox: MailchimpSandbox, n: int, prefix: str = "m") -> list[str]:
    emails = [f"{prefix}{i}@example.com" for i in range(n)]
    for email in emails:
        sandbox.add_member("list1", email)
    return emails


# ---- basics ---------------------------------------------------------------------------------------


def test_vendored_spec_is_the_documented_file() -> None:
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def test_ping_list_and_wrong_key(mailchimp_sandbox: MailchimpSandbox) -> None:
    client = official_client(mailchimp_sandbox)
    assert "server" not in mailchimp_sandbox.base_url
    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}
    assert client.lists.get_list("list1")["name"] == "segmail test list"

    bad = official_client(mailchimp_sandbox, api_key="wrong-us6")
    with pytest.raises(ApiClientError) as caught:
        bad.ping.get()
    assert caught.value.status_code == 401
    assert _problem(caught.value)["title"] == "API Key Invalid"


# Errors are problem documents: https://mailchimp.com/developer/marketing/docs/errors/ ("Error format":
# `application/problem+json`, {type, title, status, detail, instance}).
def test_unknown_path_is_a_404_problem() -> None:
    # Not through the checking fixture: an unknown path is, rightly, not in the spec either.
    with MailchimpSandbox() as sandbox:
        client = official_client(sandbox)
        with pytest.raises(ApiClientError) as caught:
            client.api_client.call_api(
                "/automations/nope", "GET", header_params={"Accept": "application/json"}
            )
    problem = _problem(caught.value)
    assert caught.value.status_code == 404
    assert set(problem) >= {"type", "title", "status", "detail", "instance"}


# ---- members --------------------------------------------------------------------------------------


# https://mailchimp.com/developer/marketing/api/list-members/list-members-info/: `count` (default 10, max 1000), `offset`, `total_items` "regardless of pagination",
# `fields` as a comma-separated list (the same words in sandbox/specs/mailchimp-marketing.json).
def test_audience_pages_with_count_offset_and_fields(
    mailchimp_sandbox: MailchimpSandbox, tmp_path: Path
) -> None:
    as_of = datetime(2026, 6, 15, 12, tzinfo=UTC)
    assert mailchimp_sandbox.load_audience("list1", contacts=250, seed=7, as_of=as_of) == 250
    client = official_client(mailchimp_sandbox)

    seen: list[dict[str, Any]] = []
    for offset in range(0, 300, 100):
        page = client.lists.get_list_members_info(
            "list1",
            count=100,
            offset=offset,
            fields=["members.email_address", "members.status", "total_items"],
        )
        assert set(page) == {"members", "total_items"} and page["total_items"] == 250
        seen += page["members"]
    assert all(set(m) == {"email_address", "status"} for m in seen)

    files = generate_shop(tmp_path, contacts=250, seed=7, as_of=as_of)
    assert files.contacts is not None
    with files.contacts.open(encoding="utf-8", newline="") as f:
        contacts = {row["email"]: row["status"] for row in csv.DictReader(f)}
    assert {m["email_address"]: m["status"] for m in seen} == contacts  # orders match members by email

    full = client.lists.get_list_members_info("list1", count=1000, exclude_fields=["members._links"])
    assert len(full["members"]) == 250 and "_links" not in full["members"][0]
    member = full["members"][0]
    assert member["id"] == hashlib.md5(member["email_address"].encode()).hexdigest()
    assert set(member["merge_fields"]) == {"FNAME", "LNAME"}
    assert set(member["location"]) >= {
        "latitude",
        "longitude",
        "gmtoff",
        "dstoff",
        "country_code",
        "timezone",
    }


# https://mailchimp.com/developer/marketing/api/list-members/list-members-info/: `since_last_changed` "Uses ISO 8601 time format: 2015-10-21T15:41:36+00:00". The page
# does not say what a time without an offset means: the sandbox refuses it rather than guess.
def test_since_last_changed_status_filter_and_sort(mailchimp_sandbox: MailchimpSandbox) -> None:
    for i, status in enumerate(["subscribed", "unsubscribed", "subscribed", "cleaned"]):
        mailchimp_sandbox.add_member(
            "list1", f"p{i}@example.com", status=status, last_changed=T0 + timedelta(hours=i)
        )
    client = official_client(mailchimp_sandbox)

    since = client.lists.get_list_members_info("list1", since_last_changed="2026-01-31T11:07:30+00:00")
    assert [m["email_address"] for m in since["members"]] == [
        "p2@example.com",
        "p3@example.com",
    ]  # strictly after

    subscribed = client.lists.get_list_members_info(
        "list1", status="subscribed", sort_field="last_changed", sort_dir="DESC"
    )
    assert [m["email_address"] for m in subscribed["members"]] == ["p2@example.com", "p0@example.com"]
    assert subscribed["members"][0]["last_changed"] == "2026-01-31T12:07:30+00:00"

    with pytest.raises(ApiClientError) as caught:
        client.lists.get_list_members_info("list1", since_last_changed="2026-01-31T11:07:30")
    assert caught.value.status_code == 400 and "UTC offset" in caught.value.text


# https://mailchimp.com/developer/marketing/api/list-members/list-members-info/: count "Default value is 10. Maximum value is 1000".
def test_count_over_1000_is_a_400(mailchimp_sandbox: MailchimpSandbox) -> None:
    client = official_client(mailchimp_sandbox)
    with pytest.raises(ValueError, match="less than or equal to `1000`"):  # the client refuses before sending
        client.lists.get_list_members_info("list1", count=1001)
    with pytest.raises(ApiClientError) as caught:
        client.api_client.call_api(
            "/lists/list1/members",
            "GET",
            query_params=[("count", 1001)],
            header_params={"Accept": "application/json"},
        )
    problem = _problem(caught.value)
    assert caught.value.status_code == 400 and problem["title"] == "Invalid Resource"
    assert problem["errors"][0]["field"] == "count"


# subscriber_hash is "The MD5 hash of the lowercase version of the list member's email address"
# (https://mailchimp.com/developer/marketing/api/list-members/get-member-info/); the vector is the tags
# guide's (https://developer.mailchimp.com/documentation/mailchimp/guides/how-to-use-tags/).
def test_member_by_hash_and_404(mailchimp_sandbox: MailchimpSandbox) -> None:
    mailchimp_sandbox.add_member("list1", "Urist.McVankab@freddiesjokes.com", merge_fields={"FNAME": "Urist"})
    client = official_client(mailchimp_sandbox)
    member = client.lists.get_list_member(
        "list1", "62eeb292278cc15f5817cb78f7790b08"
    )  # the tags guide's vector
    assert member["email_address"] == "Urist.McVankab@freddiesjokes.com" and member["full_name"] == "Urist"
    with pytest.raises(ApiClientError) as caught:
        client.lists.get_list_member("list1", "0" * 32)
    assert caught.value.status_code == 404 and _problem(caught.value)["title"] == "Resource Not Found"


# ---- static segments and tags ---------------------------------------------------------------------


# members_to_add / members_to_remove: "A maximum of 500 members can be sent"
# (https://mailchimp.com/developer/marketing/api/list-segments/batch-add-or-remove-members/).
def test_static_segment_takes_500_and_refuses_501(mailchimp_sandbox: MailchimpSandbox) -> None:
    emails = _seed(mailchimp_sandbox, 501)
    client = official_client(mailchimp_sandbox)
    segment = client.lists.create_segment("list1", {"name": "vip", "static_segment": emails[:2]})
    assert (segment["type"], segment["member_count"], segment["list_id"]) == ("static", 2, "list1")

    added = client.lists.batch_segment_members({"members_to_add": emails[:500]}, "list1", segment["id"])
    assert (added["total_added"], added["error_count"], len(added["members_added"])) == (498, 0, 498)

    with pytest.raises(ApiClientError) as caught:
        client.lists.batch_segment_members({"members_to_remove": emails}, "list1", segment["id"])
    problem = _problem(caught.value)
    assert (caught.value.status_code, problem["title"]) == (400, "Invalid Resource")
    assert problem["detail"] == (
        "Maximum allowed member items exceeded, please provide at most 500 items in members_to_remove"
    )
    assert (
        len(mailchimp_sandbox.state.lists["list1"].segments[segment["id"]].members) == 500
    )  # nothing removed

    removed = client.lists.batch_segment_members({"members_to_remove": emails[:3]}, "list1", segment["id"])
    assert removed["total_removed"] == 3
    page = client.lists.get_segment_members_list("list1", str(segment["id"]), count=1000)
    assert page["total_items"] == 497 and emails[0] not in {m["email_address"] for m in page["members"]}


def test_unknown_emails_are_reported_and_never_created(mailchimp_sandbox: MailchimpSandbox) -> None:
    _seed(mailchimp_sandbox, 2)
    client = official_client(mailchimp_sandbox)
    segment = client.lists.create_segment("list1", {"name": "t", "static_segment": ["ghost@example.com"]})
    assert segment["member_count"] == 0  # ignored on create, as documented
    result = client.lists.batch_segment_members(
        {"members_to_add": ["m0@example.com", "ghost@example.com", "nobody@example.com"]},
        "list1",
        segment["id"],
    )
    assert result["total_added"] == 1 and result["error_count"] == 2
    assert result["errors"] == [
        {
            "email_addresses": ["ghost@example.com", "nobody@example.com"],
            "error": "Email address is not subscribed to the list",
        }
    ]
    assert len(mailchimp_sandbox.state.lists["list1"].members) == 2


def test_tags_are_static_segments(mailchimp_sandbox: MailchimpSandbox) -> None:
    _seed(mailchimp_sandbox, 1)
    client = official_client(mailchimp_sandbox)
    member_id = hashlib.md5(b"m0@example.com").hexdigest()

    result = client.lists.update_list_member_tags(
        "list1", member_id, {"tags": [{"name": "lapsed", "status": "active"}]}
    )
    assert result.status_code == 204 and result.content == b""  # an empty body comes back as the raw Response
    tags = client.lists.get_list_member_tags("list1", member_id)["tags"]
    assert [t["name"] for t in tags] == ["lapsed"]

    segments = client.lists.list_segments("list1", type="static")["segments"]
    assert [(s["id"], s["name"], s["member_count"]) for s in segments] == [(tags[0]["id"], "lapsed", 1)]
    client.lists.batch_segment_members({"members_to_remove": ["m0@example.com"]}, "list1", tags[0]["id"])
    assert client.lists.get_list_member("list1", member_id)["tags"] == []

    client.lists.batch_segment_members({"members_to_add": ["m0@example.com"]}, "list1", tags[0]["id"])
    client.lists.update_list_member_tags(
        "list1", member_id, {"tags": [{"name": "lapsed", "status": "inactive"}]}
    )
    assert client.lists.get_segment("list1", str(tags[0]["id"]))["member_count"] == 0


# ---- campaigns and reports ------------------------------------------------------------------------


def _campaign(client: Any, segment_id: int) -> str:
    campaign = client.campaigns.create(
        {
            "type": "regular",
            "recipients": {"list_id": "list1", "segment_opts": {"saved_segment_id": segment_id}},
            "settings": {
                "subject_line": "Welcome",
                "from_name": "Shop",
                "reply_to": "shop@example.com",
                "title": "w",
            },
        }
    )
    assert campaign["status"] == "save" and "send_time" not in campaign
    client.campaigns.set_content(campaign["id"], {"html": "<p>Hello *|FNAME|*</p>", "plain_text": "Hello"})
    return str(campaign["id"])


def test_campaign_schedules_on_the_quarter_hour_and_sends_when_due() -> None:
    clock = Clock(T0)
    with checked_sandbox(clock=clock) as sandbox:
        emails = _seed(sandbox, 3)
        client = official_client(sandbox)
        segment = client.lists.create_segment("list1", {"name": "welcome", "static_segment": emails[:2]})
        cid = _campaign(client, segment["id"])

        for bad in ("2026-01-31T10:20:00+00:00", "2026-01-31T10:15:30+00:00", "2026-01-31T10:00:00+00:00"):
            with pytest.raises(ApiClientError) as caught:  # not a quarter hour, stray seconds, in the past
                client.campaigns.schedule(cid, {"schedule_time": bad})
            assert (
                caught.value.status_code == 400
                and _problem(caught.value)["errors"][0]["field"] == "schedule_time"
            )

        assert (
            client.campaigns.schedule(cid, {"schedule_time": "2026-01-31T10:15:00+00:00"}).status_code == 204
        )
        assert client.campaigns.get(cid)["status"] == "schedule"
        clock.now = T0 + timedelta(minutes=8)
        sent = client.campaigns.get(cid)
        assert (sent["status"], sent["send_time"], sent["emails_sent"]) == (
            "sent",
            "2026-01-31T10:15:00+00:00",
            2,
        )
        listed = client.campaigns.list(status="sent", since_send_time="2026-01-31T10:00:00+00:00")
        assert [c["id"] for c in listed["campaigns"]] == [cid]


def test_send_with_null_body_freezes_recipients_and_reports_activity(
    mailchimp_sandbox: MailchimpSandbox,
) -> None:
    emails = _seed(mailchimp_sandbox, 40)
    client = official_client(mailchimp_sandbox)
    segment = client.lists.create_segment("list1", {"name": "all", "static_segment": emails[:30]})
    cid = _campaign(client, segment["id"])
    with pytest.raises(ApiClientError) as caught:
        client.campaigns.schedule(cid, {"schedule_time": "2020-01-01T10:15:00+00:00"})
    assert caught.value.status_code == 400

    assert client.campaigns.send(cid).status_code == 204
    assert mailchimp_sandbox.requests_log[-1].body == b"null"
    client.lists.batch_segment_members({"members_to_add": emails[30:]}, "list1", segment["id"])
    assert client.campaigns.get(cid)["recipients"]["recipient_count"] == 30  # frozen at send time

    events = mailchimp_sandbox.simulate_engagement(cid, seed=3, open_rate=0.5, click_rate=0.2)
    assert events == mailchimp_sandbox.simulate_engagement(cid, seed=3, open_rate=0.5, click_rate=0.2) > 0
    report = client.reports.get_email_activity_for_campaign(cid, count=1000)
    assert report["total_items"] == 30
    stamps = sorted(a["timestamp"] for e in report["emails"] for a in e["activity"])
    assert len(stamps) == events and {a["action"] for e in report["emails"] for a in e["activity"]} <= {
        "open",
        "click",
    }

    since = stamps[len(stamps) // 2]
    later = client.reports.get_email_activity_for_campaign(cid, since=since, count=1000)
    later_stamps = [a["timestamp"] for e in later["emails"] for a in e["activity"]]
    assert later_stamps and all(s > since for s in later_stamps)
    assert len(later_stamps) == sum(1 for s in stamps if s > since)


# ---- faults ---------------------------------------------------------------------------------------


# https://mailchimp.com/developer/marketing/docs/fundamentals/ ("API limits"): "You'll receive a 429 error if you
# reach the limit. At exceptionally high volumes, you may receive an HTTP 429 or 403 without a JSON body."
# The page promises no Retry-After; the injected fault sends one anyway (the real limit, below, does not).
def test_429_alternates_problem_and_empty_body(mailchimp_sandbox: MailchimpSandbox) -> None:
    client = official_client(mailchimp_sandbox)
    mailchimp_sandbox.faults = Faults(rate_429=1.0)
    with pytest.raises(ApiClientError) as caught:
        client.ping.get()
    assert caught.value.status_code == 429 and _problem(caught.value)["status"] == 429
    bare = client.ping.get()  # an empty-body error is *returned*, not raised: callers must check it
    assert type(bare).__name__ == "Response" and bare.status_code == 429 and not bare.ok
    assert bare.headers["Retry-After"] == "1" and bare.content == b""
    assert mailchimp_sandbox.faults_injected == {"429_problem": 1, "429_empty": 1}


@pytest.mark.parametrize(("faults", "status"), [(Faults(rate_500=1.0), 500), (Faults(rate_503=1.0), 503)])
def test_5xx_problems(mailchimp_sandbox: MailchimpSandbox, faults: Faults, status: int) -> None:
    mailchimp_sandbox.faults = faults
    with pytest.raises(ApiClientError) as caught:
        official_client(mailchimp_sandbox).ping.get()
    assert caught.value.status_code == status and _problem(caught.value)["status"] == status


def test_502_html(mailchimp_sandbox: MailchimpSandbox) -> None:
    mailchimp_sandbox.faults = Faults(rate_502_html=1.0)
    with pytest.raises(ApiClientError) as caught:
        official_client(mailchimp_sandbox).ping.get()
    assert caught.value.status_code == 502 and "<h1>502 Bad Gateway</h1>" in caught.value.text


def test_faulted_writes_change_nothing(mailchimp_sandbox: MailchimpSandbox) -> None:
    _seed(mailchimp_sandbox, 1)
    client = official_client(mailchimp_sandbox)
    body = {"tags": [{"name": "vip", "status": "active"}]}
    for faults in (Faults(rate_500=1.0), Faults(rate_reset=1.0)):
        mailchimp_sandbox.faults = faults
        with pytest.raises(ApiClientError):
            client.lists.update_list_member_tags("list1", "m0@example.com", body)
    assert mailchimp_sandbox.state.lists["list1"].segments == {}

    mailchimp_sandbox.faults = Faults(rate_reset=1.0)
    with pytest.raises(ApiClientError) as caught:
        client.ping.get()
    assert caught.value.status_code is None  # a reset: no status at all

    mailchimp_sandbox.faults = Faults(rate_reset_after_apply=1.0)
    with pytest.raises(ApiClientError) as caught:
        client.lists.update_list_member_tags("list1", "m0@example.com", body)
    assert caught.value.status_code is None
    assert mailchimp_sandbox.state.lists["list1"].segment_named("vip") is not None  # ...but the write landed
    assert mailchimp_sandbox.faults_injected == {"500": 1, "reset": 2, "reset_after_apply": 1}


def test_timeout_and_latency(mailchimp_sandbox: MailchimpSandbox) -> None:
    mailchimp_sandbox.faults = Faults(rate_timeout=1.0, timeout_s=1.0)
    with pytest.raises(ApiClientError) as caught:
        official_client(mailchimp_sandbox, timeout=0.2).ping.get()
    assert caught.value.status_code is None and "timed out" in str(caught.value.text)

    mailchimp_sandbox.faults = Faults(latency_ms=150)
    started = datetime.now(UTC)
    official_client(mailchimp_sandbox).ping.get()
    assert datetime.now(UTC) - started >= timedelta(milliseconds=150)


def test_fault_draws_are_seeded_and_exempt_paths_are_spared() -> None:
    def statuses(faults: Faults) -> list[int | None]:
        with MailchimpSandbox(faults=faults) as sandbox:
            client = official_client(sandbox)
            for _ in range(30):
                with contextlib.suppress(ApiClientError):
                    client.ping.get()
            return [entry.status for entry in sandbox.requests_log]

    mixed = Faults(seed=5, rate_500=0.3, rate_503=0.3)
    first = statuses(mixed)
    assert first == statuses(mixed) and {500, 503, 200} <= set(first)
    assert set(statuses(Faults(seed=5, rate_500=1.0, exempt_paths=("/ping",)))) == {200}


def test_faults_are_validated_and_parsed_from_flags() -> None:
    faults = Faults.parse("rate_429=0.1,latency_ms=20,timeout_s=2,exempt_paths=/ping;/lists/*")
    assert faults == Faults(rate_429=0.1, latency_ms=20, timeout_s=2.0, exempt_paths=("/ping", "/lists/*"))
    with pytest.raises(ValueError, match="rate_500 must be between 0 and 1, got 2"):
        Faults(rate_500=2.0)
    with pytest.raises(ValueError, match="add up to at most 1"):
        Faults(rate_500=0.6, rate_503=0.6)
    with pytest.raises(ValueError, match="rate_4299"):
        Faults.parse("rate_4299=1")


# ---- the server itself ----------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection_and_stop_joins_threads() -> None:
    with MailchimpSandbox() as sandbox:
        host, port = sandbox.base_url.split("//")[1].split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        for _ in range(3):
            conn.request(
                "GET", "/3.0/ping", headers={"Authorization": "Basic dXNlcjp0ZXN0LXVzNg=="}
            )  # user:test-us6
            assert conn.getresponse().read() == b'{"health_status": "Everything\'s Chimpy!"}'
        assert sandbox.connections_opened == 1
        official_client(sandbox).ping.get()  # the official client has no session: one connection per call
        assert sandbox.connections_opened == 2
    conn.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("mailchimp-sandbox")]


def test_validator_catches_what_the_spec_forbids() -> None:
    accepted_1001 = LoggedRequest("GET", "/3.0/lists/l/members", "count=5000", {"Authorization": "Basic eDp5"}, b"",
                                  200, {"Content-Type": "application/json"}, b'{"members": []}')  # fmt: skip
    assert any("greater than the maximum of 1000" in v for v in validate(accepted_1001))
    bad_status = LoggedRequest("GET", "/3.0/lists/l/members/abc", "", {"Authorization": "Basic eDp5"}, b"",
                               200, {"Content-Type": "application/json"}, b'{"status": "vip"}')  # fmt: skip
    assert any("'vip' is not one of" in v for v in validate(bad_status))
    problem = LoggedRequest("GET", "/3.0/ping", "", {"Authorization": "Basic eDp5"}, b"", 500,
                            {"Content-Type": "application/problem+json; charset=utf-8"}, b'{"title": "x"}')  # fmt: skip
    assert any("'type' is a required property" in v for v in validate(problem))
