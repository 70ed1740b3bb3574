"""Revenue attribution, edge by edge: the rule of issue 12 pinned to the microsecond, on both stores.

The rule (README "Reports"): a paid order goes to the campaign of the contact's most recent open or
click in the `attribution_window` before it, order time - window <= touch time <= order time; a click
beats an open at one instant; of two campaigns touched at one instant, the one sent later wins; an order
is attributed at most once; refunds reduce the revenue.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from segmail.connector.records import Event
from segmail.jobs import report
from segmail.reports.attribution import Order, Touch, counts, winner
from segmail.reports.periods import Period, midnight
from segmail.store.campaign_results import save_campaign
from segmail.store.codec import to_us
from segmail.store.writer import write_records
from tests.conftest import T
from tests.shop import Shop, config

US = timedelta(microseconds=1)
WINDOW = timedelta(days=5)
W_US = int(WINDOW / US)


def order(at_us: int, key: str = "o1") -> Order:
    return Order(("test", key), "a@example.com", at_us, 10_0000)


# ---- the pure rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset_us", "counted"),
    [
        (0, True),  # at the order's instant: touch time <= order time
        (1, False),  # a microsecond after the order
        (-W_US, True),  # exactly the window before: order time - window <= touch time
        (-W_US - 1, False),  # a microsecond more
        (-W_US + 1, True),
    ],
)
def test_window_boundaries_are_inclusive_to_the_microsecond(offset_us, counted):
    o = order(to_us(T))
    t = Touch(o.created_at_us + offset_us, False, 0, "c1")
    assert counts(t, o, window_us=W_US, opens=True) is counted
    assert (winner(o, [t], window_us=W_US, opens=True) is t) is counted


def test_the_most_recent_touch_wins_and_a_click_beats_an_open_at_the_same_instant():
    o = order(to_us(T))
    at = o.created_at_us - 3_600_000_000
    older_click = Touch(at - 1, True, 0, "early")
    open_ = Touch(at, False, 10, "opened")
    click = Touch(at, True, 5, "clicked")  # sent earlier than "opened", still wins: it is a click
    assert winner(o, [click, older_click, open_], window_us=W_US, opens=True) == click
    assert winner(o, [older_click, open_], window_us=W_US, opens=True) == open_  # most recent
    assert winner(o, [open_], window_us=W_US, opens=False) is None  # clicks only
    assert winner(o, [older_click, open_], window_us=W_US, opens=False) == older_click


def test_two_campaigns_at_the_same_instant_go_to_the_one_sent_later():
    o = order(to_us(T))
    at = o.created_at_us - 1000
    first = Touch(at, False, 100, "zz-sent-first")
    later = Touch(at, False, 200, "aa-sent-later")
    assert winner(o, [first, later], window_us=W_US, opens=True) == later
    assert winner(o, [later, first], window_us=W_US, opens=True) == later


def test_no_touch_before_the_order_no_attribution():
    o = order(to_us(T))
    assert winner(o, [], window_us=W_US, opens=True) is None
    assert winner(o, [Touch(o.created_at_us + 5, True, 0, "c")], window_us=W_US, opens=True) is None


# ---- through the store ---------------------------------------------------------------------------

LIST = "list1"


def campaign(store, mc_id, sent, *, segment=None, target="tag", recipients=100, title=None):
    with store.engine.begin() as conn:
        save_campaign(conn, {
            "mc_campaign_id": mc_id, "list_id": LIST, "title": title or f"title {mc_id}", "sent_at": to_us(sent),
            "recipients": recipients, "target": target, "campaign": None, "segment": segment, "opens_total": 0,
            "proxy_opens": 0, "unique_opens": 0, "clicks_total": 0, "unique_clicks": 0, "unsubscribed": 0,
            "bounces": 0, "activity_read_at": None, "updated_at": to_us(sent),
        })  # fmt: skip


def touch(store, email, at, kind="open", campaign_id="c1"):
    with store.engine.begin() as conn:
        write_records(conn, [Event(email_key=email, type=kind, at=at, campaign_id=campaign_id)], source="mailchimp",
                      now_us=to_us(T))  # fmt: skip


def cfg(**report_section):
    return config(mailchimp={"list_id": LIST}, shop={"currency": "EUR"}, report=report_section)


def rows_by_id(store, c=None, since=T - timedelta(days=30), until=T + timedelta(days=30)):
    result = report.campaign_report(store, c or cfg(), Period(midnight(since.date()), midnight(until.date())))
    return {r.campaign_id: r for r in result.rows}


def test_store_attribution_edges(store):
    """One scenario per edge, each on its own contact, read back through the campaign report."""
    sent_a, sent_b = T - timedelta(days=10), T - timedelta(days=9)
    campaign(store, "A", sent_a, segment="vip")
    campaign(store, "B", sent_b, segment="lapsed")
    campaign(store, "OTHERLIST", sent_b, segment="vip")
    shop = Shop(store)
    for name in ("edge", "late", "tie", "same", "two", "before", "refund", "status", "closed"):
        shop.contact(f"{name}@example.com")
    t0 = T - timedelta(days=2)
    # the window's far edge, to the microsecond: counted; one microsecond older: not
    touch(store, "edge@example.com", t0 - WINDOW, campaign_id="A")
    shop.order("edge@example.com", t0, "10.00")
    touch(store, "late@example.com", t0 - WINDOW - US, campaign_id="A")
    shop.order("late@example.com", t0, "20.00")
    # a click of A and an open of B at the same instant: the click wins
    touch(store, "tie@example.com", t0 - timedelta(hours=1), "click", campaign_id="A")
    touch(store, "tie@example.com", t0 - timedelta(hours=1), "open", campaign_id="B")
    shop.order("tie@example.com", t0, "30.00")
    # opens of A and B at the same instant: B was sent later
    touch(store, "same@example.com", t0 - timedelta(hours=2), campaign_id="A")
    touch(store, "same@example.com", t0 - timedelta(hours=2), campaign_id="B")
    shop.order("same@example.com", t0, "40.00")
    # a contact in both windows: the most recent touch (B) takes the order, once
    touch(store, "two@example.com", t0 - timedelta(days=3), "click", campaign_id="A")
    touch(store, "two@example.com", t0 - timedelta(days=1), campaign_id="B")
    shop.order("two@example.com", t0, "50.00")
    # an order placed before any send: nothing to attribute it to
    touch(store, "before@example.com", sent_a + timedelta(hours=1), campaign_id="A")
    shop.order("before@example.com", sent_a - timedelta(days=1), "60.00")
    # refunds reduce the revenue; a refunded (not paid) order is no order at all
    touch(store, "refund@example.com", t0 - timedelta(hours=3), campaign_id="A")
    shop.order("refund@example.com", t0, "70.00", status="partially_refunded", refunded="25.50")
    shop.order("refund@example.com", t0 + timedelta(minutes=1), "80.00", status="refunded", refunded="80.00")
    # an unsubscribed contact's order counts: the current status plays no part
    shop.contact("status@example.com", status="unsubscribed")
    touch(store, "status@example.com", t0 - timedelta(hours=4), campaign_id="B")
    shop.order("status@example.com", t0, "90.00")
    # another audience's campaign is not one of ours, and a touch after the order does not count
    touch(store, "closed@example.com", t0 - timedelta(hours=1), campaign_id="OTHERLIST")
    touch(store, "closed@example.com", t0 + US, campaign_id="A")
    shop.order("closed@example.com", t0, "100.00")
    shop.flush(T)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE campaign_results SET list_id = 'list2' WHERE mc_campaign_id = 'OTHERLIST'"
        )
    rows = rows_by_id(store)
    a, b = rows["A"], rows["B"]
    # A: edge 10 + tie 30 + refund (70 - 25.50) = 84.50
    assert (a.attributed_orders, a.attributed_revenue) == (3, Decimal("84.50"))
    # B: same 40 + two 50 + status 90
    assert (b.attributed_orders, b.attributed_revenue) == (3, Decimal("180.00"))
    assert a.revenue_per_recipient == Decimal("0.8450") and "OTHERLIST" not in rows
    # clicks only: the opens no longer count (tie's click of A stays; two's click of A now wins)
    clicks = rows_by_id(store, cfg(attribute_opens=False))
    assert (clicks["A"].attributed_orders, clicks["A"].attributed_revenue) == (2, Decimal("80.00"))
    assert "B" in clicks and clicks["B"].attributed_orders == 0
    # gross totals when refunds are not to reduce revenue
    gross = rows_by_id(store, cfg(net_of_refunds=False))
    assert gross["A"].attributed_revenue == Decimal("110.00")


def test_a_campaign_counts_its_orders_after_the_period_and_the_window_is_configurable(store):
    sent = T - timedelta(days=1)
    campaign(store, "A", sent)
    shop = Shop(store)
    shop.contact("x@example.com")
    touch(store, "x@example.com", sent + timedelta(hours=1), "click", campaign_id="A")
    shop.order("x@example.com", sent + timedelta(days=6), "15.00")  # after the period, 5 days + 23 h later
    shop.flush(T)
    period = (T - timedelta(days=3), T + timedelta(days=1))  # the campaign's send is in; the order is not
    assert rows_by_id(store, cfg(), *period)["A"].attributed_orders == 0  # outside the 5 days
    wide = rows_by_id(store, cfg(attribution_window="6d"), *period)["A"]
    assert (wide.attributed_orders, wide.attributed_revenue) == (1, Decimal("15.00"))
    assert (
        rows_by_id(store, cfg(attribution_window="6d"), T - timedelta(days=60), T - timedelta(days=3)) == {}
    )
