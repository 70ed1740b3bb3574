"""MailchimpApi's campaign calls against the spec-checked sandbox: what the send job relies on.

The property that matters most is "nobody gets a campaign twice, and only who was meant to": every test
that sends checks the sandbox's delivery log, not just the campaign's status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from mailchimp_marketing.api_client import ApiClientError

import segmail.connector.mailchimp
from segmail.connector.http import ItemError
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.mailchimp_parse import CampaignInfo
from segmail.sandbox.faults import Faults
from segmail.sandbox.mailchimp import MailchimpSandbox
from tests.mailchimp_fixture import Clock, official_client
from tests.plugins.sandboxes import KEY

NEPAL = timezone(timedelta(hours=5, minutes=45))  # a quarter-hour offset
T0 = datetime(2026, 3, 2, 9, 7, 30, tzinfo=UTC)
QUARTER = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)  # the first quarter hour after T0

# In "spring": two subscribed, one unsubscribed, one pending; plus a subscribed member outside it.
SUBSCRIBED_IN = ["ann@example.com", "bob@example.com"]
OTHERS_IN = {"una@example.com": "unsubscribed", "pat@example.com": "pending"}
OUTSIDE = "cy@example.com"


@pytest.fixture
def clock() -> Clock:  # the plugin's `sandbox` (tests/plugins/sandboxes.py) reads this clock
    return Clock(T0)


@pytest.fixture
def api(sandbox: MailchimpSandbox) -> Iterator[MailchimpApi]:
    client = MailchimpApi(api_key=KEY, api_url=sandbox.base_url, sleep=lambda _s: None)
    yield client
    client.close()


def _audience(sandbox: MailchimpSandbox) -> list[str]:
    """Seeds the members and returns the addresses to put in the segment (one is not in the audience)."""
    for email in [*SUBSCRIBED_IN, OUTSIDE]:
        sandbox.add_member("list1", email)
    for email, status in OTHERS_IN.items():
        sandbox.add_member("list1", email, status=status)
    return [*SUBSCRIBED_IN, *OTHERS_IN, "stranger@example.com"]


def _draft(
    api: MailchimpApi, segment_id: int, title: str = "spring 2026-03", list_id: str = "list1"
) -> CampaignInfo:
    return api.create_campaign(
        list_id=list_id,
        segment_id=segment_id,
        title=title,
        subject="Spring is here",
        from_name="Shop",
        reply_to="shop@example.com",
        preview_text="Ten percent off",
    )


def _ready(api: MailchimpApi, segment_id: int, title: str = "spring 2026-03") -> CampaignInfo:
    draft = _draft(api, segment_id, title)
    api.set_content(draft.id, html="<p>Hello *|FNAME|*</p>", text="Hello")
    return draft


def _delivered(sandbox: MailchimpSandbox) -> list[tuple[str, str, datetime]]:
    return list(sandbox.state.deliveries)


# ---- scheduling -----------------------------------------------------------------------------------


def test_a_scheduled_campaign_reaches_the_subscribed_segment_members_once(
    sandbox: MailchimpSandbox, api: MailchimpApi, clock: Clock
) -> None:
    emails = _audience(sandbox)
    sandbox.add_member("list1", "late@example.com")
    segment = api.create_static_segment("list1", "spring", emails)
    assert api.segment_member_count("list1", segment) == 3  # subscribed + pending, like Mailchimp

    draft = _draft(api, segment)
    assert draft == CampaignInfo(
        id=draft.id,
        status="save",
        title="spring 2026-03",
        list_id="list1",
        segment_id=segment,
        send_time=None,
        emails_sent=0,
    )
    sent_body = sandbox.requests_log[-1].json
    assert sent_body["settings"]["preview_text"] == "Ten percent off"
    api.set_content(draft.id, html="<p>Hello *|FNAME|*</p>", text="Hello")
    api.schedule(draft.id, QUARTER)
    assert api.get_campaign(draft.id) == replace(draft, status="schedule", send_time=QUARTER)
    assert _delivered(sandbox) == []

    # The segment is read when the mail goes out: changes before then count...
    api.change_segment("list1", segment, add=["late@example.com"], remove=["bob@example.com"])
    clock.now = QUARTER + timedelta(minutes=3)
    # ...a member tagged after the send time does not, even before any request has delivered it.
    sandbox.add_member("list1", "after@example.com", tags=["spring"])

    assert api.get_campaign(draft.id) == replace(draft, status="sent", send_time=QUARTER, emails_sent=2)
    assert sorted(_delivered(sandbox)) == [
        (draft.id, "ann@example.com", QUARTER),
        (draft.id, "late@example.com", QUARTER),
    ]
    for email, campaigns in {
        "ANN@example.com": [draft.id],
        "late@example.com": [draft.id],
        "bob@example.com": [],
        "una@example.com": [],
        "pat@example.com": [],
        OUTSIDE: [],
        "after@example.com": [],
    }.items():
        assert sandbox.state.mails_to(email) == campaigns, email

    clock.now += timedelta(days=1)
    with pytest.raises(ItemError) as refused:
        api.schedule(draft.id, QUARTER + timedelta(days=2))
    assert refused.value.status == 400 and "status is 'sent'" in refused.value.detail
    with pytest.raises(ItemError):
        api.send_now(draft.id)
    assert api.get_campaign(draft.id) == replace(draft, status="sent", send_time=QUARTER, emails_sent=2)
    assert len(_delivered(sandbox)) == 2


def test_schedule_refuses_times_mailchimp_would_refuse_without_a_request(
    sandbox: MailchimpSandbox, api: MailchimpApi
) -> None:
    sent_before = (len(sandbox.requests_log), api.stats.requests)
    for bad in (
        QUARTER.replace(minute=20),
        QUARTER.replace(second=30),
        QUARTER.replace(microsecond=1),
        QUARTER.replace(tzinfo=None),  # naive: which zone's 09:15?
        datetime(2026, 3, 2, 15, 10, tzinfo=NEPAL),  # 09:25 UTC
    ):
        with pytest.raises(ValueError, match="schedule time"):
            api.schedule("c0ffee", bad)
    assert (len(sandbox.requests_log), api.stats.requests) == sent_before

    segment = api.create_static_segment("list1", "spring", _audience(sandbox))
    draft = _ready(api, segment)
    api.schedule(draft.id, datetime(2026, 3, 2, 15, 0, tzinfo=NEPAL))  # 09:15 UTC
    assert json.loads(sandbox.requests_log[-1].body) == {"schedule_time": "2026-03-02T09:15:00+00:00"}
    info = api.get_campaign(draft.id)
    assert info is not None and (info.status, info.send_time) == ("schedule", QUARTER)


def test_schedule_refuses_past_times_and_unready_campaigns(
    sandbox: MailchimpSandbox, api: MailchimpApi
) -> None:
    segment = api.create_static_segment("list1", "spring", _audience(sandbox))
    draft = _draft(api, segment)
    with pytest.raises(ItemError) as no_content:
        api.schedule(draft.id, QUARTER)
    assert no_content.value.status == 400 and "content: This value is required" in no_content.value.detail

    api.set_content(draft.id, html="<p>Hi</p>", text="Hi")
    with pytest.raises(ItemError) as past:
        api.schedule(draft.id, QUARTER - timedelta(minutes=15))
    assert "schedule_time: The schedule time must be in the future" in past.value.detail

    nobody = _ready(api, api.create_static_segment("list1", "nobody", ["una@example.com"]), "empty")
    with pytest.raises(ItemError) as no_recipients:
        api.schedule(nobody.id, QUARTER)
    assert "recipients: This value is required" in no_recipients.value.detail
    assert {c.status for c in api.campaigns()} == {"save"}


# ---- sending now, test mails ----------------------------------------------------------------------


def test_send_now_delivers_once_through_sending_to_sent(
    sandbox: MailchimpSandbox, api: MailchimpApi, clock: Clock
) -> None:
    segment = api.create_static_segment("list1", "spring", _audience(sandbox))
    draft = _ready(api, segment)
    sandbox.state.sending_for = timedelta(minutes=10)
    api.send_now(draft.id)
    now = T0.replace(microsecond=0)
    assert api.get_campaign(draft.id) == replace(draft, status="sending", send_time=now, emails_sent=2)
    clock.now = T0 + timedelta(minutes=10)
    assert api.get_campaign(draft.id) == replace(draft, status="sent", send_time=now, emails_sent=2)
    assert sorted(_delivered(sandbox)) == [(draft.id, email, now) for email in SUBSCRIBED_IN]

    with pytest.raises(ItemError) as again:
        api.send_now(draft.id)
    assert again.value.status == 400
    assert len(_delivered(sandbox)) == 2


def test_send_test_mails_the_testers_and_nobody_in_the_audience(
    sandbox: MailchimpSandbox, api: MailchimpApi
) -> None:
    segment = api.create_static_segment("list1", "spring", _audience(sandbox))
    draft = _draft(api, segment)
    with pytest.raises(ItemError) as not_ready:  # like Mailchimp: no test before the content is set
        api.send_test(draft.id, ["qa@example.com"])
    assert not_ready.value.status == 400

    api.set_content(draft.id, html="<p>Hi</p>", text="Hi")
    api.send_test(draft.id, ["qa@example.com", "boss@example.com"], send_type="plaintext")
    api.send_test(draft.id, ["qa@example.com"])
    assert sandbox.state.test_emails == [
        (draft.id, "qa@example.com", "plaintext", T0),
        (draft.id, "boss@example.com", "plaintext", T0),
        (draft.id, "qa@example.com", "html", T0),
    ]
    assert _delivered(sandbox) == [] and sandbox.state.mails_to("qa@example.com") == []
    assert api.get_campaign(draft.id) == draft  # still a draft

    # A segment with nobody subscribed cannot be sent to, but can be previewed: the testers are the audience.
    nobody = _ready(api, api.create_static_segment("list1", "nobody", []), "empty")
    api.send_test(nobody.id, ["qa@example.com"])
    assert len(sandbox.state.test_emails) == 4 and _delivered(sandbox) == []

    before = api.stats.requests
    with pytest.raises(ValueError, match="send_type"):
        api.send_test(draft.id, ["qa@example.com"], send_type="amp")
    with pytest.raises(ValueError, match="at least one"):
        api.send_test(draft.id, [])
    assert api.stats.requests == before


# ---- reading, finding, deleting -------------------------------------------------------------------


def test_get_and_delete(sandbox: MailchimpSandbox, api: MailchimpApi) -> None:
    assert api.get_campaign("0000000000") is None
    api.delete_campaign("0000000000")  # already gone is fine

    segment = api.create_static_segment("list1", "spring", _audience(sandbox))
    orphan = _draft(api, segment, "orphan")
    kept = _draft(api, segment, "kept")
    api.delete_campaign(orphan.id)
    assert api.get_campaign(orphan.id) is None
    api.delete_campaign(orphan.id)
    newer = _draft(api, segment, "newer")
    assert newer.id not in (orphan.id, kept.id)  # a deleted campaign's id is never handed out again
    assert [c.title for c in api.campaigns()] == ["kept", "newer"]

    api.set_content(kept.id, html="<p>Hi</p>", text="Hi")
    api.send_now(kept.id)
    with pytest.raises(ItemError) as sent:
        api.delete_campaign(kept.id)
    assert sent.value.status == 400
    info = api.get_campaign(kept.id)
    assert info is not None and info.status == "sent"


def test_campaigns_pages_and_filters(
    sandbox: MailchimpSandbox, api: MailchimpApi, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.add_list("list2", "other audience")
    segment = api.create_static_segment("list1", "spring", _audience(sandbox))
    other = api.create_static_segment("list2", "spring", [])
    created = []
    for i in range(6):
        clock.now = T0 + timedelta(minutes=i)
        created.append(_draft(api, segment, f"weekly {i}"))
    _draft(api, other, "weekly 9", list_id="list2")
    api.set_content(created[1].id, html="<p>Hi</p>", text="Hi")
    api.send_now(created[1].id)

    monkeypatch.setattr(segmail.connector.mailchimp, "PAGE_SIZE", 2)
    before = len(sandbox.requests_log)
    drafts = list(api.campaigns(list_id="list1", status="save"))
    assert [c.title for c in drafts] == ["weekly 0", "weekly 2", "weekly 3", "weekly 4", "weekly 5"]
    assert len(sandbox.requests_log) - before == 3  # pages of 2, 2 and 1
    query = sandbox.requests_log[-1].query
    assert "sort_field=create_time" in query and "sort_dir=ASC" in query and "offset=4" in query

    assert [c.title for c in api.campaigns(status="sent")] == ["weekly 1"]
    assert [c.title for c in api.campaigns(list_id="list2")] == ["weekly 9"]
    wanted = next(c for c in api.campaigns(list_id="list1") if c.title == "weekly 3")
    assert wanted == created[3]
    later = api.campaigns(since_create_time=T0 + timedelta(minutes=3, seconds=59))
    assert [c.title for c in later] == ["weekly 4", "weekly 5", "weekly 9"]

    before = len(sandbox.requests_log)
    with pytest.raises(ValueError, match="status"):
        api.campaigns(status="canceled")  # a campaign status, but not one GET /campaigns filters on
    assert len(sandbox.requests_log) == before


def test_sandbox_campaign_list_takes_the_spec_filters(sandbox: MailchimpSandbox, clock: Clock) -> None:
    client = official_client(sandbox)
    segment = client.lists.create_segment("list1", {"name": "s", "static_segment": []})["id"]
    ids = []
    for i in range(4):
        clock.now = T0 + timedelta(hours=i)
        body = {
            "type": "plaintext" if i == 3 else "regular",
            "recipients": {"list_id": "list1", "segment_opts": {"saved_segment_id": segment}},
            "settings": {"title": f"c{i}"},
        }
        ids.append(client.campaigns.create(body)["id"])

    def listed(**params: object) -> list[str]:
        return [c["id"] for c in client.campaigns.list(**params)["campaigns"]]

    assert listed(sort_field="create_time", sort_dir="DESC") == ids[::-1]
    assert listed(sort_field="create_time", sort_dir="DESC", count=2, offset=1) == [ids[2], ids[1]]
    assert listed(since_create_time="2026-03-02T10:07:30+00:00") == ids[2:]  # strictly after
    assert listed(before_create_time="2026-03-02T10:07:30+00:00") == ids[:1]
    assert listed(type="plaintext") == ids[3:]
    with pytest.raises(ApiClientError) as bad:
        client.campaigns.list(sort_field="title")
    assert bad.value.status_code == 400

    removed = client.campaigns.remove(ids[0])
    assert removed.status_code == 204 and listed() == ids[1:]


# ---- lost answers, big segments -------------------------------------------------------------------


def test_an_action_whose_answer_was_lost_is_settled_by_reading_the_campaign(
    sandbox: MailchimpSandbox, clock: Clock
) -> None:
    def heal(_seconds: float) -> None:  # the retry's backoff: the network is fine again
        sandbox.faults = Faults()

    api = MailchimpApi(api_key=KEY, api_url=sandbox.base_url, sleep=heal)
    try:
        segment = api.create_static_segment("list1", "spring", _audience(sandbox))
        now_draft, later_draft = _ready(api, segment, "now"), _ready(api, segment, "later")
        unready = _draft(api, segment, "unready")

        sandbox.faults = Faults(rate_reset_after_apply=1.0)
        api.send_now(now_draft.id)  # sent, answer lost; the retry is refused because it was sent
        sandbox.faults = Faults(rate_reset_after_apply=1.0)
        api.schedule(later_draft.id, QUARTER)
        assert [e.fault for e in sandbox.requests_log if e.fault] == ["reset_after_apply"] * 2
        assert api.stats.retries == 2

        sandbox.faults = Faults(rate_503=1.0)  # the first attempt never landed: the refusal is real
        with pytest.raises(ItemError) as refused:
            api.send_now(unready.id)
        assert "content: This value is required" in refused.value.detail

        clock.now = QUARTER
        sent = replace(later_draft, status="sent", send_time=QUARTER, emails_sent=2)
        assert api.get_campaign(later_draft.id) == sent
        for email in SUBSCRIBED_IN:
            assert sandbox.state.mails_to(email) == [now_draft.id, later_draft.id]
    finally:
        api.close()


# "A maximum of 500 members can be sent" per members_to_add/members_to_remove
# (https://mailchimp.com/developer/marketing/api/list-segments/batch-add-or-remove-members/); the create call
# documents no limit for `static_segment`, so it carries no more than that either.
def test_a_segment_of_more_than_500_is_created_in_chunks(
    sandbox: MailchimpSandbox, api: MailchimpApi
) -> None:
    emails = [f"m{i}@example.com" for i in range(501)]
    for email in emails:
        sandbox.add_member("list1", email)
    before = len(sandbox.requests_log)
    segment = api.create_static_segment("list1", "big", emails)
    create, rest = sandbox.requests_log[before:]
    assert len(json.loads(create.body)["static_segment"]) == 500
    assert rest.path.endswith(f"/segments/{segment}") and rest.json["total_added"] == 1
    assert api.segment_member_count("list1", segment) == 501

    empty = api.create_static_segment("list1", "tag only")  # the sync job's call, unchanged
    assert api.segment_member_count("list1", empty) == 0
