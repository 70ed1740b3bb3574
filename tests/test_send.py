"""Send jobs end to end in-process: plan → ledger → Mailchimp campaigns in the spec-checked sandbox.

The clock is pinned (the sandbox's and the sender's); deliveries happen when the test advances the
sandbox clock past a scheduled time, so "exactly once" is checked on what the sandbox delivered.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from segmail.jobs.compute import compute
from segmail.jobs.send import Sender, make_renderer
from segmail.jobs.sync import pull_members
from segmail.jobs.wiring import open_mailchimp
from segmail.sandbox.faults import Faults
from segmail.store.schema import send_buckets, send_ledger
from tests.plugins.sandboxes import KEY, NOW  # the fixtures `clock` and `sandbox` read them
from tests.shop import Shop, config

D = date(2026, 12, 1)  # NOW is a Monday; the VIP broadcast is on this Tuesday
SHOPPING = [("ny@x.io", "America/New_York", "US"), ("berlin@x.io", "Europe/Berlin", "DE"),
            ("sydney@x.io", "Australia/Sydney", "AU"), ("kathmandu@x.io", "Asia/Kathmandu", "NP"),
            ("kiritimati@x.io", "Pacific/Kiritimati", "KI"), ("berlin2@x.io", "Europe/Berlin", "DE"),
            ("nozone@x.io", "", "")]  # fmt: skip
SEND = {"shop_name": "Boots & Co", "shop_address": "Boots & Co, 1 Main St, 10115 Berlin, Germany",
        "shop_url": "https://boots.example", "default_timezone": "Europe/London"}  # fmt: skip
VIP = {"segment": "vip", "template": "vip_early_access.html", "subject": "{{ _('Your early access starts today') }}",
       "from_name": "Boots & Co", "reply_to": "hello@boots.example", "local_time": "10:00", "trigger": "at",
       "date": D.isoformat()}  # fmt: skip


def cfg(sandbox, campaigns, *, send=None, segments=None):
    return config(
        segments or {"vip": {"rule": "orders_count >= 1"}},
        mailchimp={"list_id": "list1", "api_url": sandbox.base_url},
        send={**SEND, **(send or {})},
        campaigns=campaigns,
    )


def setup(sandbox, store, c, *, members=SHOPPING, statuses=None):
    shop = Shop(store)
    for email, zone, country in members:
        status = (statuses or {}).get(email, "subscribed")
        sandbox.add_member("list1", email, status=status, timezone=zone, country_code=country)
        shop.contact(email, status=status)
        shop.order(email, NOW - timedelta(days=10), "50.00")
    shop.flush(NOW)
    api = open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)
    pull_members(store, c, api, now=NOW)
    compute(store, c, as_of=NOW, now=NOW)
    return api


def sender_for(store, c, api, clock):
    return Sender(store, c, api, make_renderer(c), now=clock)


def jobs_of(sender, clock):
    registered = []
    sender.plan_step(lambda campaign, slot, run_at: registered.append((campaign, slot, run_at)))
    return registered


def deliver_all(sandbox, clock, until):
    clock.now = until
    sandbox.state.advance(until)


def test_vip_broadcast_goes_out_once_at_ten_local_in_every_zone(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c)
    sender = sender_for(store, c, api, clock)
    planned = {p.email_key: p for p in sender.plan(c.campaigns["vip_early"], now=NOW, since_us=None)}
    expected = {
        "ny@x.io": (datetime(2026, 12, 1, 15, 0, tzinfo=UTC), "mailchimp"),
        "berlin@x.io": (datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "mailchimp"),
        "sydney@x.io": (datetime(2026, 11, 30, 23, 0, tzinfo=UTC), "mailchimp"),  # AEDT +11
        "kathmandu@x.io": (datetime(2026, 12, 1, 4, 15, tzinfo=UTC), "mailchimp"),  # +05:45
        "kiritimati@x.io": (datetime(2026, 11, 30, 20, 0, tzinfo=UTC), "mailchimp"),  # +14
        "nozone@x.io": (datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "default"),  # Europe/London in winter
    }
    for email, (slot, source) in expected.items():
        assert (planned[email].send_at, planned[email].tz_source) == (slot, source), email
    jobs = jobs_of(sender, clock)
    slots = sorted({slot for _, slot, _ in jobs})
    assert len(slots) == 6  # the two Berlin recipients share a slot
    assert all(run_at == slot - timedelta(minutes=30) for _, slot, run_at in jobs)
    for _, slot, _ in sorted(jobs, key=lambda j: j[1]):
        clock.now = slot - timedelta(minutes=30)
        sender.run_slot("vip_early", slot)
    with store.engine.begin() as conn:
        buckets = conn.execute(select(send_buckets)).mappings().all()
    # vip_early_access uses language and country: the Berlin pair share one mail, so one campaign each
    assert len(buckets) == 6 and {b["status"] for b in buckets} == {"scheduled"}
    assert len(sandbox.state.campaigns) == 6
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    mails = Counter(email for _, email, _ in sandbox.state.deliveries)
    assert mails == Counter({e: 1 for e, _, _ in SHOPPING})
    times = {email: at for _, email, at in sandbox.state.deliveries}
    assert times["kathmandu@x.io"] == datetime(2026, 12, 1, 4, 15, tzinfo=UTC)
    # a later cycle and a re-run of every job create nothing more
    assert jobs_of(sender, clock) == []
    for _, slot, _ in jobs:
        sender.run_slot("vip_early", slot)
    assert len(sandbox.state.campaigns) == 6


def test_unsubscribed_members_are_never_bucketed(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, statuses={"ny@x.io": "unsubscribed"})
    sender = sender_for(store, c, api, clock)
    for _, slot, _ in jobs_of(sender, clock):
        sender.run_slot("vip_early", slot)
    with store.engine.begin() as conn:
        rows = {r.email_key: r for r in conn.execute(select(send_ledger))}
    assert rows["ny@x.io"].status == "skipped" and rows["ny@x.io"].reason == "status unsubscribed"
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    assert "ny@x.io" not in {e for _, e, _ in sandbox.state.deliveries}


def test_a_member_who_unsubscribes_after_planning_is_not_bucketed(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[1:2] + SHOPPING[5:6])  # the two in Berlin
    sender = sender_for(store, c, api, clock)
    ((campaign, slot, run_at),) = jobs_of(sender, clock)  # both planned into the 09:00Z slot
    clock.now = run_at
    member = sandbox.state.lists["list1"].member("berlin2@x.io")
    member.status, member.last_changed = "unsubscribed", clock.now  # between the cycle and the send job
    result = sender.run_slot(campaign, slot)
    assert (result.recipients, result.skipped) == (1, {"status unsubscribed": 1})
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    assert [e for _, e, _ in sandbox.state.deliveries] == ["berlin@x.io"]


def test_a_crash_between_create_and_schedule_resumes_the_same_campaign(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[:2])
    sender = sender_for(store, c, api, clock)
    (campaign, slot, run_at), *_ = sorted(jobs_of(sender, clock), key=lambda j: j[1])
    clock.now = run_at

    class Crash(Exception):
        pass

    real = api.set_content

    def crash(*args, **kwargs):
        raise Crash("killed after the campaign was created")

    api.set_content = crash
    with pytest.raises(Crash):
        sender.run_slot(campaign, slot)
    with store.engine.begin() as conn:
        bucket = conn.execute(select(send_buckets)).mappings().one()
    assert bucket["mc_campaign_id"] is not None and bucket["status"] == "planned"
    api.set_content = real
    assert sender.resume() == 1
    assert len(sandbox.state.campaigns) == 1
    assert sandbox.state.get_campaign(bucket["mc_campaign_id"]).status == "schedule"


def test_a_create_whose_id_was_lost_is_adopted_not_repeated(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[:1])
    sender = sender_for(store, c, api, clock)
    (campaign, slot, run_at), *_ = jobs_of(sender, clock)
    clock.now = run_at
    real = sender._update

    def lose_id(bucket_id, **values):
        if "mc_campaign_id" in values:
            raise RuntimeError("killed before the campaign id was stored")
        real(bucket_id, **values)

    sender._update = lose_id
    with pytest.raises(RuntimeError):
        sender.run_slot(campaign, slot)
    assert len(sandbox.state.campaigns) == 1
    sender._update = real
    sender.resume()
    assert len(sandbox.state.campaigns) == 1  # found by its unique title, not created again
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    assert [e for _, e, _ in sandbox.state.deliveries] == ["ny@x.io"]


def test_a_broken_template_fails_its_campaign_and_others_still_go_out(sandbox, store, clock, tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "templates"
    folder = tmp_path / "templates"
    shutil.copytree(shipped, folder)
    (folder / "broken.html").write_text(
        '{% extends "base.html" %}{% block body %}{{ oops( }}{% endblock %}\n'
    )
    broken = {**VIP, "template": "broken.html"}
    c = cfg(sandbox, {"vip_early": VIP, "vip_broken": broken}, send={"templates_dir": str(folder)})
    api = setup(sandbox, store, c, members=SHOPPING[:1])
    sender = sender_for(store, c, api, clock)
    counts = sender.plan_step(lambda *a: None)
    assert "broken.html:1" in counts["vip_broken"]["error"]
    slot = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    clock.now = slot - timedelta(minutes=30)
    failed = sender.run_slot("vip_broken", slot)
    ok = sender.run_slot("vip_early", slot)
    assert failed.failed and "broken.html:1" in failed.failed and failed.buckets == 0
    assert ok.buckets == 1 and ok.failed is None
    assert len(sandbox.state.campaigns) == 1


def test_frequency_cap_skips_a_broadcast_and_moves_an_on_enter_mail(sandbox, store, clock):
    welcome = {**VIP, "segment": "vip", "template": "welcome.html", "trigger": "on_enter", "backfill": True,
               "subject": "Welcome"}  # fmt: skip
    del welcome["date"]
    c = cfg(sandbox, {"vip_early": VIP, "welcome": welcome})
    api = setup(sandbox, store, c, members=SHOPPING[1:2])  # Berlin
    sender = sender_for(store, c, api, clock)
    plans = {name: list(sender.plan(c.campaigns[name], now=NOW, since_us=None)) for name in c.campaigns}
    # welcome: the next 10:00 in Berlin after entering (NOW, 07:00 local) is today 09:00Z
    assert plans["welcome"][0].send_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    slot = plans["welcome"][0].send_at
    clock.now = slot - timedelta(minutes=30)
    sender.run_slot("welcome", slot)
    (vip,) = list(sender.plan(c.campaigns["vip_early"], now=clock.now, since_us=None))
    assert vip.send_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 24 h later: outside the 16 h cap
    c2 = cfg(sandbox, {"vip_early": VIP, "welcome": welcome}, send={"min_hours_between": 30})
    capped = Sender(store, c2, api, make_renderer(c2), now=clock)
    (vip,) = list(capped.plan(c2.campaigns["vip_early"], now=clock.now, since_us=None))
    assert (vip.send_at, vip.action, vip.reason) == (None, "skip", "frequency_cap")


def test_late_slots_follow_the_late_policy(sandbox, store, clock):
    c = cfg(sandbox, {"vip_early": VIP})
    api = setup(sandbox, store, c, members=SHOPPING[:2])
    sender = sender_for(store, c, api, clock)
    # the service was down: it is now 16:30Z, NY's slot (15:00Z) is 1.5 h past, Berlin's (09:00Z) 7.5 h
    clock.now = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    jobs = jobs_of(sender, clock)
    assert {(slot, run_at) for _, slot, run_at in jobs} == {
        (datetime(2026, 12, 1, 15, 0, tzinfo=UTC), clock.now),
        (datetime(2026, 12, 1, 9, 0, tzinfo=UTC), clock.now),
    }
    for campaign, slot, _ in jobs:
        sender.run_slot(campaign, slot)
    with store.engine.begin() as conn:
        rows = {r.email_key: r for r in conn.execute(select(send_ledger))}
    assert rows["ny@x.io"].status == "sent"  # within 2 h: sent at once with actions/send
    assert (rows["berlin@x.io"].status, rows["berlin@x.io"].reason) == ("skipped", "late")
    assert [e for _, e, _ in sandbox.state.deliveries] == ["ny@x.io"]


def test_transient_errors_leave_the_bucket_for_the_next_cycle(sandbox, store, clock):
    c = cfg(
        sandbox,
        {"vip_early": VIP},
    )
    api = setup(sandbox, store, c, members=SHOPPING[:1])
    sender = sender_for(store, c, api, clock)
    ((campaign, slot, run_at),) = jobs_of(sender, clock)
    clock.now = run_at
    sandbox.faults = Faults(rate_503=1.0, exempt_paths=("/lists/*",))
    sender.run_slot(campaign, slot)
    with store.engine.begin() as conn:
        bucket = conn.execute(select(send_buckets)).mappings().one()
    assert bucket["status"] == "planned" and "503" in bucket["error"]
    sandbox.faults = Faults()
    counts = sender.plan_step(lambda *a: None)
    assert counts["resumed"] == 1
    assert len(sandbox.state.campaigns) == 1
    assert next(iter(sandbox.state.campaigns.values())).status == "schedule"
