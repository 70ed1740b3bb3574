"""store/experiment_outcomes.py on SQLite and PostgreSQL: who converted in the window, and for how much.

The window is [slot, slot + conversion_window): an order at the slot's microsecond counts, one at the
window's end does not. Paid statuses only, the reporting currency only, net of refunds; skipped ledger
rows are in neither group.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from segmail.connector.records import Event, Order
from segmail.store import ledger
from segmail.store.codec import to_us
from segmail.store.experiment_decisions import StoredDecision, decision, decisions, record_decision
from segmail.store.experiment_outcomes import ClickOutcome, GroupOutcome, click_outcomes, experiment_outcomes
from segmail.store.ledger import Entry, NewBucket, SlotWrite
from segmail.store.writer import write_records
from tests.shop import Shop

SLOT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AT = to_us(SLOT)
WINDOW = timedelta(days=7)
US = timedelta(microseconds=1)
PAID = ("paid", "completed", "processing", "partially_refunded")


def entry(email, occurrence="2026-12-01", variant="a", phase="test", at=AT, reason=None):
    return Entry(email, occurrence, at, "Europe/Berlin", "mailchimp", reason, variant, phase)


def seed(store):
    sent = NewBucket(prefix="promo-x", slot_at=AT, send_at=AT, variant='{"ab_variant": "a"}', title="t",
                     entries=tuple(entry(e) for e in ("s1@x.io", "s2@x.io", "s3@x.io")))  # fmt: skip
    welcome = NewBucket(prefix="welcome-x", slot_at=AT, send_at=AT, variant="{}", title="w",
                        entries=(entry("w1@x.io", "enter:1", "", ""), entry("w2@x.io", "enter:2", "", "")))  # fmt: skip
    with store.engine.begin() as conn:
        ledger.write_slot(conn, SlotWrite(
            campaign="promo", created_at=AT, buckets=(sent,), skips=(entry("k1@x.io", reason="late"),),
            holdouts=(entry("h1@x.io", reason="holdout"), entry("h2@x.io", variant="b", reason="holdout")),
        ))  # fmt: skip
        ledger.write_slot(conn, SlotWrite(campaign="welcome", created_at=AT, buckets=(welcome,)))
        for bucket_id, mc in (("promo-x-0", "mc_promo"), ("welcome-x-0", "mc_welcome")):
            ledger.update_bucket(conn, bucket_id, mc_campaign_id=mc)
            ledger.set_ledger_status(conn, bucket_id, "scheduled")
    shop = Shop(store)
    shop.order("s1@x.io", SLOT, "50.00")  # at the slot: counts
    shop.order("s1@x.io", SLOT + WINDOW - US, "20.00", status="partially_refunded", refunded="5.00")  # net 15
    shop.order("s2@x.io", SLOT + WINDOW, "30.00")  # the window's end: out
    shop.order("s2@x.io", SLOT - US, "10.00")  # before the slot: out
    shop.order("s3@x.io", SLOT + timedelta(days=1), "40.00", status="refunded")  # not paid
    shop.order("s3@x.io", SLOT + timedelta(days=1), "40.00", status="pending")  # not paid
    shop.order("h1@x.io", SLOT + timedelta(days=2), "25.00")
    shop.order("k1@x.io", SLOT + timedelta(days=2), "70.00")  # skipped: in no group
    shop.order("w1@x.io", SLOT + timedelta(hours=1), "10.00")
    shop.flush(SLOT)
    usd = Order(order_id="usd1", email_key="h1@x.io", created_at=SLOT + timedelta(days=1), total=Decimal("100"),
                refunded=Decimal(0), currency="USD", status="paid", categories=())  # fmt: skip
    clicks = [Event(email_key="s1@x.io", type="click", at=SLOT + timedelta(hours=1), campaign_id="mc_promo"),
              Event(email_key="s2@x.io", type="click", at=SLOT + timedelta(hours=1), campaign_id="other"),
              Event(email_key="s3@x.io", type="open", at=SLOT + timedelta(hours=1), campaign_id="mc_promo")]  # fmt: skip
    with store.engine.begin() as conn:
        write_records(conn, [usd, *clicks], source="test", now_us=AT)


def outcomes(store, **kw):
    with store.engine.connect() as conn:
        return experiment_outcomes(
            conn, window_us=WINDOW // US, paid_statuses=PAID, currency="EUR", **kw
        )  # fmt: skip


def g(campaign, occurrence, phase, variant, group, n, converters, revenue, sq):
    return GroupOutcome(campaign=campaign, occurrence=occurrence, ab_phase=phase, variant=variant, group=group,
                        recipients=n, converters=converters, revenue=Decimal(revenue), revenue_sq=sq)  # fmt: skip


def test_outcomes_per_group_with_window_edges_statuses_currency_and_refunds(store):
    seed(store)
    assert outcomes(store) == [
        g("promo", "2026-12-01", "test", "a", "holdout", 1, 1, "25", 625.0),
        g("promo", "2026-12-01", "test", "a", "sent", 3, 1, "65", 4225.0),  # s1: 50 + (20 - 5)
        g("promo", "2026-12-01", "test", "b", "holdout", 1, 0, "0", 0.0),
        g("welcome", "on_enter", "", "", "sent", 2, 1, "10", 100.0),  # each entry's occurrence, together
    ]


def test_outcomes_filters_and_cutoff(store):
    seed(store)
    # orders after the cutoff are not known yet: s1's second order drops out
    cut = outcomes(store, campaigns=["promo"], cutoff_us=to_us(SLOT + timedelta(days=1)))
    sent = next(o for o in cut if o.group == "sent")
    assert (sent.converters, sent.revenue, sent.revenue_sq) == (1, Decimal(50), 2500.0)
    assert outcomes(store, until_us=AT) == []  # until is exclusive
    assert {o.campaign for o in outcomes(store, since_us=AT, until_us=AT + 1)} == {"promo", "welcome"}


def test_clicks_on_the_buckets_own_campaign(store):
    seed(store)
    with store.engine.connect() as conn:
        got = click_outcomes(
            conn, campaign="promo", occurrence="2026-12-01", ab_phase="test", cutoff_us=AT + 10**12
        )
        early = click_outcomes(conn, campaign="promo", occurrence="2026-12-01", ab_phase="test", cutoff_us=AT)
    assert got == [
        ClickOutcome(variant="a", recipients=3, clickers=1)
    ]  # s2 clicked another campaign; s3 opened
    assert early == [ClickOutcome(variant="a", recipients=3, clickers=0)]


def test_a_decision_is_stored_once(store):
    d = StoredDecision(campaign="promo", occurrence="2026-12-03", decided_at=AT, metric="click_rate", winner="b",
                       clear=True, decision="b wins", figures={"arms": [1, 2]})  # fmt: skip
    other = StoredDecision(**{**d.__dict__, "winner": "a", "decided_at": AT + 1})
    with store.engine.begin() as conn:
        assert record_decision(conn, d) == d
    with store.engine.begin() as conn:  # a second instance deciding later keeps the first decision
        assert record_decision(conn, other) == d
        assert decision(conn, "promo", "2026-12-03") == d and decision(conn, "promo", "2026-12-04") is None
        assert decisions(conn) == [d]


def test_a_store_without_orders_has_recipients_and_no_money(store):
    with store.engine.begin() as conn:
        ledger.write_slot(
            conn, SlotWrite(campaign="c", created_at=AT, holdouts=(entry("h@x.io", reason="holdout"),))
        )
        assert experiment_outcomes(conn, window_us=1, paid_statuses=PAID, currency=None) == [
            g("c", "2026-12-01", "test", "a", "holdout", 1, 0, "0", 0.0)
        ]


def test_a_revenue_per_recipient_decision_reads_the_test_groups_orders_up_to_now(store):
    from segmail.jobs.experiments import decide_due
    from tests.shop import config

    c = config(
        {"vip": {"rule": "orders_count >= 1"}},
        send={"shop_name": "S", "shop_address": "S, 1 Main St", "shop_url": "https://s.example"},
        campaigns={"promo": {
            "segment": "vip", "template": "vip_early_access.html", "subject": "Hi", "from_name": "S",
            "reply_to": "hi@s.example", "local_time": "10:00", "trigger": "at", "date": "2026-12-03",
            "test_percent": 20, "test_date": "2026-12-01", "winner_metric": "revenue_per_recipient",
            "variants": [{"name": "a"}, {"name": "b", "subject": "Hi b"}]}},
    )  # fmt: skip
    emails = {"a": ["a1@x.io", "a2@x.io", "a3@x.io"], "b": ["b1@x.io", "b2@x.io", "b3@x.io"]}
    buckets = tuple(
        NewBucket(prefix=f"promo-{v}", slot_at=AT, send_at=AT, variant=f'{{"ab_variant": "{v}"}}', title=v,
                  entries=tuple(entry(e, "2026-12-03", v, "test") for e in es))
        for v, es in emails.items()
    )  # fmt: skip
    with store.engine.begin() as conn:
        ledger.write_slot(conn, SlotWrite(campaign="promo", created_at=AT, buckets=buckets))
        for v in emails:
            ledger.set_ledger_status(conn, f"promo-{v}-0", "sent")
    shop = Shop(store)
    for email, total in zip(emails["b"], ("10.00", "11.00", "12.00"), strict=True):
        shop.order(email, SLOT + timedelta(hours=2), total)
    shop.order("a1@x.io", SLOT + timedelta(days=3), "500.00")  # after the decision: not yet known
    shop.flush(SLOT)
    decide = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)  # 2026-12-03 in UTC+14, minus the 30-minute lead
    assert decide_due(store, c, now=decide - US) == []  # not yet due
    (made,) = decide_due(store, c, now=decide)
    # a: 0, 0, 0; b: 10, 11, 12 → d = 11, SE = sqrt(0/3 + 1/3) = 0.57735, df = 2, t = 4.30265
    # half = 2.48414 → (8.51586, 13.48414): above 0, so b wins
    assert (made.winner, made.clear, made.metric) == ("b", True, "revenue_per_recipient")
    (cmp,) = made.figures["comparisons"]
    assert (cmp["low"], cmp["high"]) == (pytest.approx(8.51586, abs=1e-4), pytest.approx(13.48414, abs=1e-4))
    assert decide_due(store, c, now=decide) == []  # once
