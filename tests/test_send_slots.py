"""Two campaigns on one send slot: each is its own bucket and Mailchimp campaign, each mail delivered once.

Bucket ids used to be keyed by slot and variant only, so a second campaign whose recipients shared an
instant and a variant with the first was never created (only a warning was logged). The sandbox's
delivery log, not the ledger, is what these tests check.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from segmail.jobs.compute import compute
from segmail.jobs.sync import pull_members
from segmail.jobs.wiring import open_mailchimp
from segmail.store.schema import send_buckets
from tests.shop import Shop
from tests.test_send import KEY, NOW, VIP, cfg, jobs_of, sender_for

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
BERLIN = "Europe/Berlin"


def run_service(sender, clock, sandbox, until):
    """A stand-in for the service's scheduler: plan (a cycle), run the jobs that are due, jump to the
    next job's run time; each (campaign, slot) runs once per instant, so a job a bug keeps re-adding
    cannot loop forever."""
    for _ in range(100):
        jobs = sorted(jobs_of(sender, clock), key=lambda j: (j[2], j[0]))
        for campaign, slot, run_at in jobs:
            if run_at <= clock.now:
                sender.run_slot(campaign, slot)
        later = [run_at for _, _, run_at in jobs if run_at > clock.now]
        if not later or min(later) > until:
            break
        clock.now = min(later)
        sandbox.state.advance(clock.now)
    clock.now = until
    sandbox.state.advance(until)


def mails(sandbox):
    """(email, segmail campaign) of every delivery; the campaign is read from the Mailchimp title."""
    titles = {c.id: c.settings["title"] for c in sandbox.state.campaigns.values()}
    return Counter((email, titles[cid].split()[1]) for cid, email, _ in sandbox.state.deliveries)


def add_members(sandbox, shop, members):
    for email, zone, country in members:
        sandbox.add_member("list1", email, status="subscribed", timezone=zone, country_code=country)
        shop.contact(email)


def test_two_broadcasts_on_one_slot_are_two_campaigns(sandbox, store, clock):
    """`at`: two segments, one date and time, one template (so one variant per zone)."""
    members = [("berlin@x.io", BERLIN, "DE"), ("berlin2@x.io", BERLIN, "DE"),
               ("ny@x.io", "America/New_York", "US"), ("ny2@x.io", "America/New_York", "US")]  # fmt: skip
    first_buyers = {**VIP, "segment": "once", "subject": "Thanks for your first order"}
    c = cfg(
        sandbox, {"vip_early": {**VIP}, "first_buyers": first_buyers},
        segments={"vip": {"rule": "orders_count >= 2"}, "once": {"rule": "orders_count == 1"}},
    )  # fmt: skip
    shop = Shop(store)
    add_members(sandbox, shop, members)
    for email, *_ in members:
        shop.order(email, NOW - timedelta(days=10), "50.00")
    for email in ("berlin@x.io", "ny@x.io"):
        shop.order(email, NOW - timedelta(days=5), "50.00")
    shop.flush(NOW)
    api = open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)
    pull_members(store, c, api, now=NOW)
    compute(store, c, as_of=NOW, now=NOW)
    sender = sender_for(store, c, api, clock)
    planned = {
        name: {p.email_key: p for p in sender.plan(c.campaigns[name], now=NOW, since_us=None)}
        for name in c.campaigns
    }
    vip, first = planned["vip_early"]["berlin@x.io"], planned["first_buyers"]["berlin2@x.io"]
    assert (vip.send_at, vip.variant) == (first.send_at, first.variant)  # the same slot and mail
    assert vip.bucket_key != first.bucket_key
    run_service(sender, clock, sandbox, datetime(2026, 12, 2, tzinfo=UTC))
    assert mails(sandbox) == Counter({("berlin@x.io", "vip_early"): 1, ("ny@x.io", "vip_early"): 1,
                                      ("berlin2@x.io", "first_buyers"): 1, ("ny2@x.io", "first_buyers"): 1})  # fmt: skip
    assert len(sandbox.state.campaigns) == 4  # two slots (Berlin, New York) times two campaigns
    with store.engine.begin() as conn:
        buckets = conn.execute(select(send_buckets)).mappings().all()
    assert {b["status"] for b in buckets} == {"scheduled"}
    assert len({b["title"] for b in buckets}) == 4
    assert all(b["bucket_id"].startswith(b["campaign"] + "-") for b in buckets)


def example_pair() -> dict[str, dict]:
    """`still_interested` and `last_chance` exactly as config.example.toml ships them, switched on."""
    shipped = tomllib.loads(EXAMPLE.read_text())["campaigns"]
    return {name: {**shipped[name], "enabled": True} for name in ("still_interested", "last_chance")}


def test_the_shipped_follow_up_pair_shares_a_slot_and_both_go_out(sandbox, store, clock):
    """`on_enter`: B entered a week before A; A's `still_interested` and B's `last_chance` (delay 7d)
    fall on the same 11:00 in Berlin with the same variant, as the example pair does in production."""
    c = cfg(sandbox, example_pair(), segments={"unengaged": {"rule": "orders_count >= 1"}})
    shop = Shop(store)
    add_members(sandbox, shop, [("b@x.io", BERLIN, "DE"), ("a@x.io", BERLIN, "DE")])
    week_ago = NOW - timedelta(days=7)
    shop.order("b@x.io", week_ago - timedelta(days=1), "20.00")
    shop.flush(week_ago)
    api = open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)
    clock.now = week_ago
    sandbox.state.advance(week_ago)
    pull_members(store, c, api, now=week_ago)
    compute(store, c, as_of=week_ago, now=week_ago)  # b enters
    sender = sender_for(store, c, api, clock)
    run_service(sender, clock, sandbox, NOW)
    shop.order("a@x.io", NOW - timedelta(hours=1), "20.00")
    shop.flush(NOW)
    compute(store, c, as_of=NOW, now=NOW)  # a enters, a week after b
    slot = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
    planned = {
        name: {p.email_key: p for p in sender.plan(c.campaigns[name], now=NOW, since_us=None)}
        for name in c.campaigns
    }
    a_first, b_second = planned["still_interested"]["a@x.io"], planned["last_chance"]["b@x.io"]
    assert a_first.send_at == b_second.send_at == slot and a_first.variant == b_second.variant
    assert a_first.bucket_key != b_second.bucket_key
    run_service(sender, clock, sandbox, NOW + timedelta(days=9))
    assert mails(sandbox) == Counter(
        {(e, name): 1 for e in ("a@x.io", "b@x.io") for name in ("still_interested", "last_chance")}
    )
    at_slot = [m for m in sandbox.state.campaigns.values() if m.send_time == slot]
    assert sorted(m.settings["title"].split()[1] for m in at_slot) == ["last_chance", "still_interested"]
    assert len({m.segment_id for m in at_slot}) == 2  # one static segment each
