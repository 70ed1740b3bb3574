"""`segmail sync` end to end: the real client over HTTP against the spec-checked sandbox, on both stores."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

import segmail.jobs.sync as sync_job
from segmail.connector.http import ConfigurationError
from segmail.jobs.cycle import sync_once
from segmail.jobs.importer import import_csv
from segmail.jobs.wiring import WiringError, open_mailchimp
from segmail.sandbox.faults import Faults
from segmail.sandbox.shopgen import generate_shop
from segmail.segments.windows import DEFAULT_ENGAGEMENT_DAYS
from segmail.store import esp
from segmail.store.schema import contacts, events, memberships
from tests.conftest import T
from tests.mailchimp_fixture import checked_sandbox, official_client
from tests.shop import config

KEY = "0123456789abcdef0123456789abcdef-us6"


@pytest.fixture
def sandbox():
    with checked_sandbox(api_key=KEY, clock=lambda: T) as box:
        yield box


def setup_shop(sandbox, store, tmp_path, *, contacts_n=300, seed=3):
    sandbox.load_audience("list1", contacts=contacts_n, seed=seed, as_of=T)
    files = generate_shop(tmp_path / "shop", contacts=contacts_n, seed=seed, as_of=T)
    import_csv(store, files.orders, "orders", now=T)
    return files


def cfg(sandbox, segments=None, **mailchimp):
    return config(segments, mailchimp={"list_id": "list1", "api_url": sandbox.base_url, **mailchimp})


def api_for(c, **kw):
    return open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None, **kw)


def run(store, c, **kw):
    api = api_for(c)
    try:
        return sync_once(store, c, api, as_of=T, now=lambda: T, **kw)
    finally:
        api.close()


def tag_members(sandbox, tag):
    lst = sandbox.state.lists["list1"]
    segment = lst.segment_named(tag)
    if segment is None:
        return set()
    return {lst.members[h].email.lower() for h in segment.members}


def desired(store, c):
    with store.engine.connect() as conn:
        in_audience = set(
            conn.execute(select(contacts.c.email_key).where(contacts.c.mc_seen_at.is_not(None))).scalars()
        )
        rows = conn.execute(select(memberships.c.segment, memberships.c.email_key)).all()
    out = {d.tag: set() for d in c.segment_defs.values()}
    for seg, key in rows:
        if key in in_audience:
            out[c.segment_defs[seg].tag].add(key)
    return out


def segment_posts(sandbox):
    return [
        e
        for e in sandbox.requests_log
        if e.method == "POST" and e.path.count("/segments/") == 1 and e.status == 200
    ]


def test_first_sync_pulls_computes_and_pushes_exactly_the_memberships(sandbox, store, tmp_path):
    setup_shop(sandbox, store, tmp_path)
    c = cfg(sandbox)
    summary = run(store, c)
    members = sandbox.state.lists["list1"].members
    assert summary.members_pulled == len(members) == 300
    assert summary.member_problems == []
    with store.engine.connect() as conn:
        seen = conn.execute(select(contacts.c.email_key, contacts.c.mc_timezone, contacts.c.status)).all()
    assert len(seen) == 300
    want = desired(store, c)
    assert sum(len(v) for v in want.values()) > 50
    for tag, keys in want.items():
        assert tag_members(sandbox, tag) == keys, tag
        assert summary.tags[tag].added == len(keys)
    # the member's own status and other tags are never touched
    assert all(
        m.status in {"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"}
        for m in members.values()
    )


def test_second_sync_sends_only_the_differences(sandbox, store, tmp_path):
    setup_shop(sandbox, store, tmp_path)
    c = cfg(sandbox)
    run(store, c)
    before = len(segment_posts(sandbox))
    again = run(store, c)
    assert len(segment_posts(sandbox)) == before  # nothing changed: no segment calls at all
    assert all(t.added == t.removed == 0 for t in again.tags.values())
    # one subscriber becomes a repeat buyer: exactly one add is sent
    with store.engine.connect() as conn:
        key = (
            conn.execute(
                select(contacts.c.email_key)
                .where(contacts.c.status == "subscribed")
                .order_by(contacts.c.email_key)
            )
            .scalars()
            .first()
        )
    from datetime import UTC, datetime
    from decimal import Decimal

    from segmail.connector.records import Order
    from segmail.store.codec import to_us
    from segmail.store.writer import write_records

    with store.engine.begin() as conn:
        write_records(
            conn,
            [
                Order(
                    order_id=f"extra{i}",
                    email_key=key,
                    created_at=T - timedelta(days=1 + i),
                    total=Decimal("5000"),
                    currency="EUR",
                    status="paid",
                )
                for i in range(3)
            ],
            source="test",
            now_us=to_us(datetime(2026, 6, 15, tzinfo=UTC)),
        )
    third = run(store, c)
    assert third.tags["segmail:repeat_buyer"].added in (0, 1)
    assert key in tag_members(sandbox, "segmail:repeat_buyer")
    assert key in tag_members(sandbox, "segmail:vip")
    assert tag_members(sandbox, "segmail:vip") == desired(store, c)["segmail:vip"]


# 429 (with and without a JSON body) and 5xx are retried: https://mailchimp.com/developer/marketing/docs/errors/
# and "API limits" in https://mailchimp.com/developer/marketing/docs/fundamentals/.
def test_sync_converges_under_rate_limits_and_server_errors(sandbox, store, tmp_path):
    setup_shop(sandbox, store, tmp_path, contacts_n=1200)
    sandbox.faults = Faults(seed=7, rate_429=0.10, rate_500=0.02, rate_502_html=0.02, rate_503=0.01)
    c = cfg(sandbox)
    summary = run(store, c)
    assert sum(sandbox.faults_injected.values()) > 5
    assert summary.retries >= sum(sandbox.faults_injected.values())
    for tag, keys in desired(store, c).items():
        assert tag_members(sandbox, tag) == keys, tag
    assert all(t.failed == 0 for t in summary.tags.values())


def test_a_push_killed_mid_way_resumes_without_resending_confirmed_chunks(
    sandbox, store, tmp_path, monkeypatch
):
    setup_shop(sandbox, store, tmp_path, contacts_n=1600)
    c = cfg(sandbox, {"everyone": {"rule": "orders_count >= 0", "tag": "all-contacts"}}, max_connections=1)
    real_confirm = esp.confirm
    confirmed: list[list[str]] = []

    class Killed(BaseException):
        pass

    def crashing_confirm(conn, segment, **kw):
        real_confirm(conn, segment, **kw)
        if segment == "everyone":
            confirmed.append(list(kw["added"]))
            if len(confirmed) == 2:
                raise Killed  # dies inside the transaction that records the 2nd chunk: only the 1st is stored

    monkeypatch.setattr(sync_job.esp, "confirm", crashing_confirm)
    with pytest.raises(Killed):
        run(store, c)
    monkeypatch.setattr(sync_job.esp, "confirm", real_confirm)
    first_chunk = set(confirmed[0])
    posts_before = len(segment_posts(sandbox))
    run(store, c)
    resent = [
        email
        for entry in segment_posts(sandbox)[posts_before:]
        for email in (entry_body(entry).get("members_to_add") or [])
    ]
    assert first_chunk and not first_chunk & set(resent)
    assert set(confirmed[1]) <= set(resent)  # the chunk whose record was lost is sent again (idempotent)
    assert tag_members(sandbox, "all-contacts") == desired(store, c)["all-contacts"]


def entry_body(entry):
    import json

    return json.loads(entry.body or b"null") or {}


def test_engagement_is_pulled_for_sent_campaigns(sandbox, store, tmp_path):
    setup_shop(sandbox, store, tmp_path)
    client = official_client(sandbox)
    campaign = client.campaigns.create(
        {
            "type": "regular",
            "recipients": {"list_id": "list1"},
            "settings": {
                "subject_line": "Hi",
                "from_name": "Shop",
                "reply_to": "shop@example.com",
                "title": "t",
            },
        }
    )
    client.campaigns.set_content(campaign["id"], {"html": "<p>*|UNSUB|*</p>"})
    client.campaigns.send(campaign["id"])
    expected = sandbox.simulate_engagement(campaign["id"], seed=1, open_rate=0.5, click_rate=0.2)
    assert expected > 0
    summary = run(store, cfg(sandbox))
    assert summary.campaigns_read == 1
    with store.engine.connect() as conn:
        stored = conn.execute(select(events).where(events.c.campaign_id == campaign["id"])).all()
    assert summary.events_pulled == len(stored) == expected
    again = run(store, cfg(sandbox))
    activity_calls = [e for e in sandbox.requests_log if "/email-activity" in e.path]
    assert "since=" in activity_calls[-1].query and again.events_pulled <= expected


def test_members_outside_the_audience_are_skipped_and_counted(sandbox, store, tmp_path):
    sandbox.add_member("list1", "in@example.com")
    from segmail.connector.records import Contact
    from segmail.store.codec import to_us
    from segmail.store.writer import write_records

    with store.engine.begin() as conn:
        write_records(
            conn,
            [
                Contact(
                    email="out@example.com",
                    email_key="out@example.com",
                    status="subscribed",
                    opted_in_at=T - timedelta(days=1),
                )
            ],
            source="csv",
            now_us=to_us(T),
        )
    summary = run(store, cfg(sandbox))
    assert summary.tags["segmail:welcome"].not_in_audience == 1
    assert tag_members(sandbox, "segmail:welcome") == {"in@example.com"}
    assert "out@example.com" not in {m.email for m in sandbox.state.lists["list1"].members.values()}


def test_bad_member_data_is_logged_and_skipped(sandbox, store, caplog):
    sandbox.add_member("list1", "good@example.com", timezone="Mars/Olympus", country_code="DE")
    sandbox.add_member("list1", "bad@example.com")
    member = sandbox.state.lists["list1"].member("bad@example.com")
    member.email = "bad-at-example.com"  # malformed data the spec allows (a plain string)
    with caplog.at_level(logging.WARNING, logger="segmail.sync"):
        summary = run(store, cfg(sandbox))
    assert summary.members_pulled == 1 and len(summary.member_problems) == 1
    assert "email is not a valid address" in caplog.text and "bad-at-example.com" not in caplog.text
    with store.engine.connect() as conn:
        row = conn.execute(select(contacts.c.mc_timezone, contacts.c.mc_country)).one()
    assert tuple(row) == (None, "DE")


def test_wrong_key_stops_with_a_clear_error_and_never_shows_the_key(sandbox, store, caplog):
    c = cfg(sandbox)
    wrong = "ffffffffffffffffffffffffffffffff-us6"
    api = open_mailchimp(c, env={"MAILCHIMP_API_KEY": wrong}, sleep=lambda _s: None)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as info:
        sync_once(store, c, api, as_of=T, now=lambda: T)
    api.close()
    assert "HTTP 401" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text and KEY not in caplog.text


def test_api_key_never_appears_in_logs_or_errors_under_faults(sandbox, store, tmp_path, caplog):
    setup_shop(sandbox, store, tmp_path, contacts_n=200)
    sandbox.faults = Faults(seed=3, rate_429=0.2, rate_502_html=0.1, rate_reset=0.05)
    with caplog.at_level(logging.DEBUG):
        summary = run(store, cfg(sandbox))
    texts = caplog.text + " ".join(e for t in summary.tags.values() for e in t.errors)
    assert KEY not in texts and KEY.split("-")[0] not in texts


def test_missing_key_or_audience_is_one_clear_error(sandbox):
    with pytest.raises(WiringError, match="MAILCHIMP_API_KEY"):
        open_mailchimp(cfg(sandbox), env={})
    with pytest.raises(WiringError, match=r"mailchimp\.list_id"):
        open_mailchimp(config(), env={"MAILCHIMP_API_KEY": KEY})


def test_read_timeouts_and_resets_are_retried(sandbox, store, tmp_path):
    setup_shop(sandbox, store, tmp_path, contacts_n=150)
    # a 0.2 s client timeout against a sandbox that stalls 0.4 s: real (short) waits, bounded by the fault count
    sandbox.faults = Faults(seed=11, rate_timeout=0.05, rate_reset=0.05, timeout_s=0.4)
    c = cfg(sandbox, timeout_s=0.2)
    summary = run(store, c)
    assert sandbox.faults_injected["timeout"] + sandbox.faults_injected["reset"] > 0
    for tag, keys in desired(store, c).items():
        assert tag_members(sandbox, tag) == keys, tag
    assert summary.retries >= 1


def test_engagement_window_comes_from_the_rules():
    assert sync_job.engagement_window_days(config()) == 180  # unengaged: window_days = 180 > grace 90
    wide = config({"unengaged": {"window_days": 400}})
    assert sync_job.engagement_window_days(wide) == 400
    none = config({"unengaged": {"enabled": False}})
    assert sync_job.engagement_window_days(none) == DEFAULT_ENGAGEMENT_DAYS
    custom = config({"unengaged": {"enabled": False}, "clickers": {"rule": "days_since_last_click <= 45"}})
    assert sync_job.engagement_window_days(custom) == 45


def test_cli_sync_once_and_dry_run(sandbox, store_url, tmp_path, monkeypatch, capsys):
    from segmail.jobs.cli import main
    from segmail.store.db import open_store

    store = open_store(store_url)
    setup_shop(sandbox, store, tmp_path, contacts_n=200)
    conf = tmp_path / "segmail.toml"
    conf.write_text(f'[mailchimp]\nlist_id = "list1"\napi_url = "{sandbox.base_url}"\n')
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.setenv("MAILCHIMP_API_KEY", KEY)
    as_of = T.isoformat().replace("+00:00", "Z")
    assert main(["--config", str(conf), "sync", "--once", "--as-of", as_of]) == 0
    out = capsys.readouterr().out
    assert "members pulled: 200" in out and "segmail:repeat_buyer" in out and "requests:" in out
    with store.engine.connect() as conn:
        confirmed_before = conn.execute(select(esp.esp_memberships)).all()
    later = (T + timedelta(days=40)).isoformat().replace("+00:00", "Z")
    assert main(["--config", str(conf), "sync", "--once", "--dry-run", "--as-of", later]) == 0
    captured = capsys.readouterr()
    rows = [line.split(",") for line in captured.out.strip().splitlines()]
    assert rows[0] == ["tag", "email", "action"] and len(rows) > 1
    assert {r[2] for r in rows[1:]} <= {"add", "remove"}
    assert "would be sent (dry run" in captured.err
    with store.engine.connect() as conn:
        assert conn.execute(select(esp.esp_memberships)).all() == confirmed_before  # nothing written
    assert main(["--config", str(conf), "sync", "--as-of", as_of]) == 2  # --once is required for now
    store.dispose()


def test_only_managed_tags_change_and_a_disabled_segment_is_emptied(sandbox, store):
    sandbox.add_member("list1", "new@example.com", tags=["newsletter", "segmail:other"])
    run(store, cfg(sandbox))
    assert tag_members(sandbox, "segmail:welcome") == {"new@example.com"}
    run(store, cfg(sandbox, {"welcome": {"enabled": False}}))
    assert tag_members(sandbox, "segmail:welcome") == set()
    # tags segmail does not manage are left exactly as they were
    assert tag_members(sandbox, "newsletter") == {"new@example.com"}
    assert tag_members(sandbox, "segmail:other") == {"new@example.com"}
    member = sandbox.state.lists["list1"].member("new@example.com")
    assert member.status == "subscribed"
