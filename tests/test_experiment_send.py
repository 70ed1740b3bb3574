"""Holdouts and A/B variants end to end against the spec-checked Mailchimp sandbox.

What the sandbox delivered is the truth checked here: a held-out recipient is in no static segment and
gets no mail; every other recipient gets exactly one mail, with their variant's subject and template;
a crash after the ledger write and a second instance (resuming, or planning the same slot at the same
time) change none of that. A test-then-winner broadcast mails the test group on the test date, decides
once from the clicks on each variant's own campaign, and mails the winner to the rest on the date.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from segmail.connector.records import Event
from segmail.jobs.experiments import decide_due
from segmail.sending.assign import draw, held_out, pick_variant
from segmail.store.codec import to_us
from segmail.store.experiment_decisions import decisions
from segmail.store.schema import send_buckets, send_ledger
from segmail.store.writer import write_records
from tests.test_send import VIP, cfg, deliver_all, jobs_of, sender_for, setup

BERLIN = [(f"buyer{i:02d}@x.io", "Europe/Berlin", "DE") for i in range(40)]
EMAILS = [e for e, _, _ in BERLIN]
SUBJECTS = {"a": "Subject A", "b": "Subject B"}
AB = [
    {"name": "a", "subject": SUBJECTS["a"]},
    {"name": "b", "subject": SUBJECTS["b"], "template": "welcome.html"},
]
MARKERS = {"a": "Shop the sale now", "b": "Start shopping"}  # each template's call to action
CAMPAIGN = {**VIP, "holdout_percent": 25, "variants": AB}
END = datetime(2026, 12, 5, tzinfo=UTC)


def ledger_rows(store):
    with store.engine.connect() as conn:
        return {r.email_key: r for r in conn.execute(select(send_ledger))}


def mails(sandbox):
    """email → [(subject, html)] of every delivered mail."""
    got: dict[str, list[tuple[str, str]]] = {}
    for cid, email, _ in sandbox.state.deliveries:
        c = sandbox.state.get_campaign(cid)
        got.setdefault(email, []).append((c.settings["subject_line"], c.html or ""))
    return got


def segment_members(sandbox):
    """Everyone in a bucket's static segment (what a campaign is sent to)."""
    lst = sandbox.state.lists["list1"]
    sends = [seg for seg in lst.segments.values() if seg.name.startswith("segmail send ")]
    assert sends
    return {lst.members[h].email.lower() for seg in sends for h in seg.members}


def run_jobs(sender, clock):
    for campaign, slot, run_at in sorted(jobs_of(sender, clock), key=lambda j: j[1]):
        clock.now = max(clock.now, run_at)
        sender.run_slot(campaign, slot)


def expected(occurrence="2026-12-01"):
    """The assignment sending/assign.py makes: (held out, variant) per email."""
    variants = cfg_def().variants
    return {e: (held_out(d := draw("promo", occurrence, e), 25), pick_variant(d, variants)) for e in EMAILS}


def cfg_def():
    from tests.shop import config

    return config(
        {"vip": {"rule": "orders_count >= 1"}},
        send={"shop_name": "S", "shop_address": "S, 1 Main St", "shop_url": "https://s.example"},
        campaigns={"promo": CAMPAIGN},
    ).campaigns["promo"]


def assert_each_mailed_once_with_their_variant(sandbox, store):
    plan = expected()
    held = {e for e, (h, _) in plan.items() if h}
    assert 0 < len(held) < len(EMAILS)
    got = mails(sandbox)
    assert set(got) == set(EMAILS) - held  # the held-out get nothing
    assert not held & segment_members(sandbox)  # and are in no static segment Mailchimp could mail
    for email, received in got.items():
        (subject, html), *more = received
        assert not more, f"{email} got {len(received)} mails"
        variant = plan[email][1]
        assert subject == SUBJECTS[variant] and MARKERS[variant] in html, email
    rows = ledger_rows(store)
    assert {e for e, r in rows.items() if r.status == "holdout"} == held
    assert all(r.variant == plan[e][1] for e, r in rows.items())  # the ledger records each one's variant


def test_held_out_recipients_are_never_mailed_and_variants_send_their_own_mail(sandbox, store, clock):
    c = cfg(sandbox, {"promo": CAMPAIGN})
    api = setup(sandbox, store, c, members=BERLIN)
    sender = sender_for(store, c, api, clock)
    run_jobs(sender, clock)
    deliver_all(sandbox, clock, END)
    assert_each_mailed_once_with_their_variant(sandbox, store)
    with store.engine.connect() as conn:
        titles = [r.title for r in conn.execute(select(send_buckets))]
    assert len(titles) == 2 and {t.split(" variant ")[1].split()[0] for t in titles} == {"a", "b"}
    assert jobs_of(sender, clock) == []  # nothing left to plan: the held-out are done too


def test_a_crash_after_the_ledger_write_and_a_second_instance_mail_nobody_twice(sandbox, store, clock):
    c = cfg(sandbox, {"promo": CAMPAIGN})
    api = setup(sandbox, store, c, members=BERLIN)
    first = sender_for(store, c, api, clock)
    ((campaign, slot, run_at),) = jobs_of(first, clock)
    clock.now = run_at

    def killed(bucket_id):
        raise SystemExit("kill -9 right after the ledger transaction")

    first._continue = killed
    with pytest.raises(SystemExit):
        first.run_slot(campaign, slot)
    before = ledger_rows(store)
    assert sandbox.state.campaigns == {}  # nothing reached Mailchimp
    second = sender_for(store, c, api, clock)  # another process on the same store
    result = second.run_slot(campaign, slot)
    assert (result.buckets, result.held_out) == (0, 0)  # the first one's buckets are resumed, not re-planned
    assert ledger_rows(store).keys() == before.keys()
    deliver_all(sandbox, clock, END)
    assert_each_mailed_once_with_their_variant(sandbox, store)


def test_two_instances_planning_the_same_slot_at_once_write_it_once(sandbox, store, clock):
    c = cfg(sandbox, {"promo": CAMPAIGN})
    api = setup(sandbox, store, c, members=BERLIN)
    a, b = sender_for(store, c, api, clock), sender_for(store, c, api, clock)
    ((campaign, slot, run_at),) = jobs_of(a, clock)
    clock.now = run_at
    campaign_def = c.campaigns[campaign]
    plan_a = a.slot_plan(campaign_def, slot, clock.now, dimensions=None)
    plan_b = b.slot_plan(campaign_def, slot, clock.now, dimensions=None)  # before either writes
    assert len(plan_a.holdouts) == len(plan_b.holdouts) > 0
    from segmail.jobs.send import SlotResult

    written_a = a.write_slot(plan_a, SlotResult(campaign, slot))
    result_b = SlotResult(campaign, slot)
    written_b = b.write_slot(plan_b, result_b)
    assert len(written_a) == 2 and written_b == [] and result_b.held_out == 0
    for bucket_id in written_a:
        a._continue(bucket_id)
    b.resume()
    deliver_all(sandbox, clock, END)
    assert_each_mailed_once_with_their_variant(sandbox, store)


def test_test_then_winner_decides_once_from_clicks_and_mails_the_rest_the_winner(sandbox, store, clock):
    ab = {**VIP, "date": "2026-12-03", "variants": AB, "test_percent": 50, "test_date": "2026-12-01"}
    c = cfg(sandbox, {"promo": ab})
    api = setup(sandbox, store, c, members=BERLIN)
    sender = sender_for(store, c, api, clock)
    run_jobs(sender, clock)  # only the test group is planned before the decision
    deliver_all(sandbox, clock, datetime(2026, 12, 2, tzinfo=UTC))
    tested = ledger_rows(store)
    assert {r.ab_phase for r in tested.values()} == {"test"} and 0 < len(tested) < len(EMAILS)
    with store.engine.connect() as conn:
        mc = {r.bucket_id: r.mc_campaign_id for r in conn.execute(select(send_buckets))}
    by_variant = {v: [e for e, r in tested.items() if r.variant == v] for v in "ab"}
    clicks = [Event(email_key=e, type="click", at=datetime(2026, 12, 1, 12, tzinfo=UTC),
                    campaign_id=mc[tested[e].bucket_id]) for e in by_variant["b"] + by_variant["a"][:1]]  # fmt: skip
    with store.engine.begin() as conn:  # what the sync's engagement pull stores
        write_records(conn, clicks, source="mailchimp", now_us=to_us(clock.now))
    clock.now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)  # 2026-12-03 begins in UTC+14, minus the lead
    run_jobs(sender, clock)
    assert (
        decide_due(store, c, now=clock.now + timedelta(hours=1)) == []
    )  # decided once: a second try finds it
    with store.engine.connect() as conn:
        (made,) = decisions(conn)
    assert (made.winner, made.clear, made.metric) == ("b", True, "click_rate")
    arms = {a["variant"]: a for a in made.figures["arms"]}
    assert arms["b"]["recipients"] == arms["b"]["total"] == len(by_variant["b"]) and arms["a"]["total"] == 1
    assert made.decision.startswith("b wins on click_rate")
    deliver_all(sandbox, clock, END)
    got = mails(sandbox)
    assert Counter(len(v) for v in got.values()) == Counter({1: len(EMAILS)})  # everyone exactly once
    for email, ((subject, _),) in got.items():
        row = ledger_rows(store)[email]
        want = row.variant if row.ab_phase == "test" else "b"
        assert (subject, row.variant) == (SUBJECTS[want], want), email
    rest = [r for r in ledger_rows(store).values() if r.ab_phase == "winner"]
    assert len(rest) == len(EMAILS) - len(tested)
    assert {r.slot_at for r in rest} == {to_us(datetime(2026, 12, 3, 9, tzinfo=UTC))}  # 10:00 in Berlin
    # `report campaigns` splits Mailchimp's figures by variant through each bucket's own campaign
    from segmail.store.report_campaigns import variants_of

    with store.engine.connect() as conn:
        mc = {r.bucket_id: r.mc_campaign_id for r in conn.execute(select(send_buckets))}
        found = variants_of(conn, sorted(mc.values()))
    want = {mc[r.bucket_id]: (r.ab_phase, r.variant) for r in ledger_rows(store).values() if r.bucket_id}
    assert found == want and set(found.values()) >= {("test", "a"), ("test", "b"), ("winner", "b")}


def test_send_plan_shows_the_held_out_and_says_who_waits_for_the_winner(tmp_path, store, store_url, capsys):
    from tests.test_send_cli import write_toml
    from tests.test_send_plan_cli import plan, shop_with

    shop_with(store, ["subscribed"] * 40)
    ab = {**VIP, "date": "2026-12-03", "holdout_percent": 25, "test_percent": 50, "test_date": "2026-12-01"}
    toml = write_toml(tmp_path / "c.toml", store_url, "https://us6.api.mailchimp.com/3.0", {"promo": ab})
    with toml.open("a") as f:
        f.writelines(
            f'[[campaigns.promo.variants]]\nname = "{n}"\nsubject = "{s}"\n' for n, s in SUBJECTS.items()
        )
    out, err = plan(capsys, toml, "promo")
    rows = out.splitlines()[1:]
    held = [r for r in rows if r.endswith(",skip:holdout")]
    assert 0 < len(held) < len(rows) < 40  # the test group only, a quarter of it held out
    assert f"{len(held)} skipped (holdout={len(held)})" in err
    assert "test-then-winner: only the test group (50 %) is planned; the others get the winner, picked at " \
           "2026-12-02T09:30Z" in err  # fmt: skip
