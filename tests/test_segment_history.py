"""Segment history: every entry and exit of every compute, the v8 backfill, and the segment report and
movements read from it, on both stores."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, text

from segmail.jobs import report
from segmail.jobs.compute import compute
from segmail.reports.periods import Period
from segmail.segments.engine import SegmentChange
from segmail.store.codec import to_us
from segmail.store.db import MIGRATIONS, open_store, set_meta
from segmail.store.schema import memberships, segment_history
from tests.conftest import T
from tests.shop import Shop, config

DAY = timedelta(days=1)
SEGMENTS = {
    "welcome": {"enabled": False},
    "lapsed": {"enabled": False},
    "unengaged": {"enabled": False},
    "vip": {"enabled": False},
    "repeat_buyer": {"enabled": False},
    "buyer": {"rule": "orders_count >= 1"},
    "big": {"rule": "total_spent >= 100"},
}


def history(store):
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(segment_history.c.run_id, segment_history.c.segment, segment_history.c.email_key,
                   segment_history.c.at, segment_history.c.kind).order_by(segment_history.c.run_id, segment_history.c.segment,
                                                                          segment_history.c.email_key)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]


def scenario(store):
    """Three computes a day apart: a buys (buyer), b buys big (buyer, big), then a refunds out of big…"""
    cfg = config(SEGMENTS, shop={"currency": "EUR"})
    shop = Shop(store)
    for email in ("a@x.com", "b@x.com", "c@x.com"):
        shop.contact(email)
    t1, t2, t3 = T - 3 * DAY, T - 2 * DAY, T - DAY
    shop.order("a@x.com", t1 - timedelta(hours=1), "20.00")
    shop.order("b@x.com", t1 - timedelta(hours=2), "150.00")
    shop.flush(t1)
    r1 = compute(store, cfg, as_of=t1, now=t1).run_id
    shop.order("a@x.com", t2 - timedelta(hours=1), "90.00")  # a: 110 -> big
    shop.order("c@x.com", t2 - timedelta(hours=1), "5.00")  # c: buyer
    shop.flush(t2)
    r2 = compute(store, cfg, as_of=t2, now=t2).run_id
    # b's big order is refunded in full: b leaves both segments; a orders again while a member
    shop.records.append(_refund(store, "b@x.com"))
    shop.order("a@x.com", t3 - timedelta(hours=1), "7.00")
    shop.flush(t3)
    r3 = compute(store, cfg, as_of=t3, now=t3).run_id
    return cfg, (t1, t2, t3), (r1, r2, r3)


def _refund(store, email):
    from segmail.connector.records import Order

    with store.engine.connect() as conn:
        order_id, created, total = conn.execute(
            text("SELECT order_id, created_at, total_e4 FROM orders WHERE email_key = :k"), {"k": email}
        ).one()
    from segmail.store.codec import from_e4, from_us

    total_d = from_e4(total)
    return Order(order_id=order_id, email_key=email, created_at=from_us(created), total=total_d, currency="EUR",
                 status="refunded", refunded=total_d)  # fmt: skip


def test_every_compute_records_its_entries_and_exits(store):
    _, (_, _, t3), (r1, r2, r3) = scenario(store)
    rows = [(run, seg, key, kind) for run, seg, key, _, kind in history(store)]
    assert rows == [
        (r1, "big", "b@x.com", "enter"), (r1, "buyer", "a@x.com", "enter"), (r1, "buyer", "b@x.com", "enter"),
        (r2, "big", "a@x.com", "enter"), (r2, "buyer", "c@x.com", "enter"),
        (r3, "big", "b@x.com", "exit"), (r3, "buyer", "b@x.com", "exit"),
    ]  # fmt: skip
    assert {at for run, _, _, at, _ in history(store) if run == r3} == {to_us(t3)}  # the compute's as-of
    with store.engine.connect() as conn:  # the stored memberships are exactly the history's net result
        stored = set(conn.execute(select(memberships.c.segment, memberships.c.email_key)).all())
    assert stored == {("big", "a@x.com"), ("buyer", "a@x.com"), ("buyer", "c@x.com")}


def test_a_disabled_segment_is_recorded_as_exits(store):
    _, (_, _, t3), _ = scenario(store)
    disabled = config({**SEGMENTS, "big": {**SEGMENTS["big"], "enabled": False}}, shop={"currency": "EUR"})
    run = compute(store, disabled, as_of=t3 + DAY, now=t3 + DAY).run_id
    assert [(seg, key, kind) for r, seg, key, _, kind in history(store) if r == run] == [
        ("big", "a@x.com", "exit")
    ]


def test_a_segment_removed_from_the_config_is_recorded_as_exits(store):
    _, (_, _, t3), _ = scenario(store)
    removed = config({k: v for k, v in SEGMENTS.items() if k != "big"}, shop={"currency": "EUR"})
    result = compute(store, removed, as_of=t3 + DAY, now=t3 + DAY)
    assert result.changes["(removed segments)"] == SegmentChange(size=0, entered=0, left=1)
    exits = [(seg, key, kind, at) for r, seg, key, at, kind in history(store) if r == result.run_id]
    assert exits == [("big", "a@x.com", "exit", to_us(t3 + DAY))]


def test_the_segment_report_three_revenues_and_the_movements(store):
    cfg, (t1, _, t3), _ = scenario(store)
    # from just after the first compute to just after the third
    result = report.segment_report(store, cfg, Period(t1 + timedelta(hours=1), t3 + timedelta(hours=1)))
    rows = {r.segment: r for r in result.rows}
    assert set(rows) == {"buyer", "big"}
    buyer, big = rows["buyer"], rows["big"]
    # start: the state of compute 1 (a, b in buyer; b in big); end: compute 3 (a, c in buyer; a in big)
    assert (buyer.members_start, buyer.members_end, buyer.entered, buyer.left) == (2, 2, 1, 1)
    assert (big.members_start, big.members_end, big.entered, big.left) == (1, 1, 1, 1)
    # revenue: orders in the period by members at the end: a 90 + 7, c 5 (b's refunded order is no order)
    assert (buyer.orders, buyer.revenue) == (3, Decimal("102.00")) and big.revenue == Decimal("97.00")
    # while a member: a's 90 was placed before a entered big (compute 2 came after it); only the 7 was
    # placed inside a membership of big. In buyer a was a member for both; c's 5 came before c entered.
    assert big.revenue_while_member == Decimal("7.00") and buyer.revenue_while_member == Decimal("97.00")
    assert buyer.revenue_per_member == Decimal("51.0000") and buyer.attributed_revenue == Decimal("0.00")
    moves = report.movement_report(store, result.period).movements
    # a joined big (staying a buyer); b left both; c joined buyer from no segment
    assert moves == {
        ("(none)", "big"): 1,
        ("(none)", "buyer"): 1,
        ("big", "(none)"): 1,
        ("buyer", "(none)"): 1,
    }
    assert result.movements == moves


def test_v8_backfills_the_current_memberships_as_entries(store_url, tmp_path):
    store = open_store(store_url, migrations=MIGRATIONS[:6])  # a v7 store
    shop = Shop(store)
    shop.contact("a@x.com")
    shop.order("a@x.com", T - DAY, "10.00")
    shop.flush(T)
    with store.engine.begin() as conn:
        conn.execute(
            memberships.insert().values(segment="buyer", email_key="a@x.com", entered_at=123, run_id=4)
        )
        conn.execute(text("DROP TABLE segment_history"))
        conn.execute(text("DROP TABLE campaign_results"))
        conn.execute(text("DROP TABLE campaign_activity"))
        set_meta(conn, "schema_version", 7)
    store.dispose()
    migrated = open_store(store_url)
    assert history(migrated) == [(4, "buyer", "a@x.com", 123, "enter")]
    with migrated.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM campaign_results")).scalar() == 0
    migrated.dispose()
