"""Every boundary of the five built-in segments, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T
from tests.shop import Shop, config, days

US = timedelta(microseconds=1)


@pytest.fixture
def shop(store):
    return Shop(store)


def test_welcome_window_is_inclusive_at_both_ends(shop):
    edge = shop.contact("edge@example.com", opted_in_at=T - days(30))
    past = shop.contact("past@example.com", opted_in_at=T - days(30) - US)
    now = shop.contact("now@example.com", opted_in_at=T)
    future = shop.contact("future@example.com", opted_in_at=T + US)
    missing = shop.contact("missing@example.com", opted_in_at=None)
    unsub = shop.contact("unsub@example.com", status="unsubscribed", opted_in_at=T - days(1))
    pending = shop.contact("pending@example.com", status="pending", opted_in_at=T - days(1))
    welcome = shop.segments(T)["welcome"]
    assert welcome == {edge, now}
    assert not {past, future, missing, unsub, pending} & welcome


def test_welcome_ends_with_the_first_paid_order_only(shop):
    paid = shop.contact("paid@example.com", opted_in_at=T - days(2))
    shop.order(paid, T - days(1))
    cancelled = shop.contact("cancelled@example.com", opted_in_at=T - days(2))
    shop.order(cancelled, T - days(1), status="cancelled")
    refunded = shop.contact("refunded@example.com", opted_in_at=T - days(2))
    shop.order(refunded, T - days(1), status="refunded", refunded="10.00")
    later = shop.contact("later@example.com", opted_in_at=T - days(2))
    shop.order(later, T + days(1))  # after T: does not exist yet at T
    assert shop.segments(T)["welcome"] == {cancelled, refunded, later}


@pytest.mark.parametrize("status", ["paid", "completed", "processing", "partially_refunded"])
def test_every_default_paid_status_counts(shop, status):
    a = shop.contact("a@example.com", opted_in_at=T - days(400))
    shop.order(a, T - days(10), status=status, refunded="1.00" if status == "partially_refunded" else "0")
    shop.order(a, T - days(5), status=status)
    assert shop.segments(T)["repeat_buyer"] == {a}


def test_repeat_buyer_counts_paid_orders_up_to_t(shop):
    two = shop.contact("two@example.com")
    shop.order(two, T - days(10))
    shop.order(two, T)  # exactly at T counts
    one_paid = shop.contact("onepaid@example.com")
    shop.order(one_paid, T - days(10))
    shop.order(one_paid, T - days(9), status="pending")
    shop.order(one_paid, T - days(8), status="cancelled")
    after = shop.contact("after@example.com")
    shop.order(after, T - days(10))
    shop.order(after, T + US)
    assert shop.segments(T)["repeat_buyer"] == {two}


def test_repeat_buyer_min_orders_parameter(shop):
    three = shop.contact("three@example.com")
    for n in range(3):
        shop.order(three, T - days(n + 1))
    two = shop.contact("two@example.com")
    shop.order(two, T - days(1))
    shop.order(two, T - days(2))
    assert shop.segments(T, config({"repeat_buyer": {"min_orders": 3}}))["repeat_buyer"] == {three}


def _buyers(shop, spends):
    keys = []
    for i, spend in enumerate(spends):
        key = shop.contact(f"b{i}@example.com")
        shop.order(key, T - days(3), total=spend)
        keys.append(key)
    return keys


def test_vip_is_top_ten_percent_by_net_spend(shop):
    keys = _buyers(shop, [f"{10 * (i + 1)}.00" for i in range(10)])  # 10..100
    assert shop.segments(T)["vip"] == {keys[-1]}  # k = ceil(10% of 10) = 1


def test_vip_k_rounds_up(shop):
    keys = _buyers(shop, [f"{10 * (i + 1)}.00" for i in range(11)])  # 11 buyers → k = ceil(1.1) = 2
    assert shop.segments(T)["vip"] == {keys[-1], keys[-2]}


def test_vip_ties_at_the_threshold_are_included(shop):
    keys = _buyers(shop, ["10.00"] * 8 + ["99.99", "99.99"])
    assert shop.segments(T)["vip"] == {keys[-1], keys[-2]}


def test_vip_uses_net_spend_and_ignores_non_population(shop):
    keys = _buyers(shop, [f"{10 * (i + 1)}.00" for i in range(10)])
    big_refund = shop.contact("refund@example.com")
    shop.order(big_refund, T - days(1), total="500.00", refunded="495.00", status="partially_refunded")
    cleaned = shop.contact("cleaned@example.com", status="cleaned")
    shop.order(cleaned, T - days(1), total="900.00")
    guest_only = "guest@example.com"  # orders but no contact: not in the population
    shop.order(guest_only, T - days(1), total="800.00")
    # buyers in the population: 11 (10 + big_refund at net 5.00) → k = 2 → threshold 90.00
    assert shop.segments(T)["vip"] == {keys[-1], keys[-2]}


def test_vip_min_spent_floor_and_top_percent(shop):
    keys = _buyers(shop, ["10.00", "20.00", "30.00", "40.00"])
    vip = shop.segments(T, config({"vip": {"top_percent": 50, "min_spent": 40}}))["vip"]
    assert vip == {keys[-1]}


def _repeat(shop, name, gaps_days, last_at):
    key = shop.contact(f"{name}@example.com")
    at = last_at
    shop.order(key, at)
    for gap in reversed(gaps_days):
        at = at - days(gap)
        shop.order(key, at)
    return key


def test_lapsed_uses_median_gap_odd_count(shop):
    # gaps 10, 20, 60 → median 20 → threshold max(30, 2*20) = 40 days
    _repeat(shop, "g1", [10, 20], T - days(1))
    _repeat(shop, "g2", [60], T - days(1))
    at_edge = shop.contact("edge@example.com")
    shop.order(at_edge, T - days(40))
    over = shop.contact("over@example.com")
    shop.order(over, T - days(40) - US)
    assert shop.segments(T)["lapsed"] == {over}


def test_lapsed_uses_mean_of_middle_gaps_for_even_count(shop):
    # gaps 10, 20, 30, 100 → median (20 + 30) / 2 = 25 → threshold 50 days
    _repeat(shop, "g1", [10, 20], T - days(1))
    _repeat(shop, "g2", [30, 100], T - days(1))
    edge = shop.contact("edge@example.com")
    shop.order(edge, T - days(50))
    over = shop.contact("over@example.com")
    shop.order(over, T - days(50) - US)
    assert shop.segments(T)["lapsed"] == {over}


def test_lapsed_never_sooner_than_min_days(shop):
    _repeat(shop, "g1", [1, 1, 1], T - days(1))  # median 1 day → 2 days, but min_days 30 wins
    recent = shop.contact("recent@example.com")
    shop.order(recent, T - days(30))
    old = shop.contact("old@example.com")
    shop.order(old, T - days(31))
    lapsed = shop.segments(T)["lapsed"]
    assert lapsed == {old}


def test_lapsed_without_any_repeat_purchase_falls_back_to_min_days(shop):
    a = shop.contact("a@example.com")
    shop.order(a, T - days(31))
    b = shop.contact("b@example.com")
    shop.order(b, T - days(29))
    assert shop.segments(T)["lapsed"] == {a}


def test_lapsed_median_ignores_cleaned_contacts_and_unpaid_orders(shop):
    _repeat(shop, "g1", [10], T - days(1))  # population gap: 10 → threshold max(30, 20) = 30
    cleaned = shop.contact("cleaned@example.com", status="cleaned")
    shop.order(cleaned, T - days(500))
    shop.order(cleaned, T - days(1))  # a 499-day gap that must not count
    x = shop.contact("x@example.com")
    shop.order(x, T - days(300), status="cancelled")
    shop.order(x, T - days(31))
    assert shop.segments(T)["lapsed"] == {x}


def test_unengaged_boundaries(shop):
    grace_edge = shop.contact("grace@example.com", opted_in_at=T - days(90))
    too_new = shop.contact("new@example.com", opted_in_at=T - days(90) + US)
    no_optin = shop.contact("nooptin@example.com", opted_in_at=None)
    opened_in_window = shop.contact("opened@example.com", opted_in_at=T - days(400))
    shop.event(opened_in_window, T - days(180))  # exactly at the window's start: still engaged
    opened_before = shop.contact("openedbefore@example.com", opted_in_at=T - days(400))
    shop.event(opened_before, T - days(180) - US)
    clicked = shop.contact("clicked@example.com", opted_in_at=T - days(400))
    shop.event(clicked, T - days(10), type="click")
    bought = shop.contact("bought@example.com", opted_in_at=T - days(400))
    shop.order(bought, T - days(100))
    bought_long_ago = shop.contact("boughtold@example.com", opted_in_at=T - days(400))
    shop.order(bought_long_ago, T - days(181))
    cancelled = shop.contact("cancelled@example.com", opted_in_at=T - days(400))
    shop.order(cancelled, T - days(10), status="cancelled")
    unsub = shop.contact("unsub@example.com", status="unsubscribed", opted_in_at=T - days(400))
    future_open = shop.contact("futureopen@example.com", opted_in_at=T - days(400))
    shop.event(future_open, T + days(1))
    assert shop.segments(T)["unengaged"] == {
        grace_edge,
        no_optin,
        opened_before,
        bought_long_ago,
        cancelled,
        future_open,
    }
    assert not {too_new, opened_in_window, clicked, bought, unsub} & shop.segments(T)["unengaged"]


def test_cleaned_and_archived_are_in_no_segment(shop):
    for status in ("cleaned", "archived"):
        key = shop.contact(f"{status}@example.com", status=status, opted_in_at=T - days(1))
        shop.order(key, T - days(100))
        shop.order(key, T - days(200))
    result = shop.segments(T)
    assert all(not members for members in result.values())


def test_a_contact_can_be_in_several_segments(shop):
    key = shop.contact("many@example.com", opted_in_at=T - days(1000))
    shop.order(key, T - days(400), total="500.00")
    shop.order(key, T - days(300), total="500.00")
    result = shop.segments(T)
    assert {name for name, members in result.items() if key in members} == {
        "repeat_buyer",
        "vip",
        "lapsed",
        "unengaged",
    }


def test_custom_rule_with_categories_country_and_parameters(shop):
    de = shop.contact("de@example.com", country="DE")
    shop.order(de, T - days(5), cats=("boots", "coats"))
    at = shop.contact("at@example.com", country="AT")
    shop.order(at, T - days(5), cats=("sandals",))
    fr = shop.contact("fr@example.com", country="FR")
    shop.order(fr, T - days(5), cats=("boots",))
    cfg = config(
        {
            "boot_buyers_dach": {
                "rule": '"boots" in categories and country in markets and days_since_last_order <= recent',
                "markets": ["DE", "AT", "CH"],
                "recent": 30,
                "tag": "Boots DACH",
            }
        }
    )
    assert shop.segments(T, cfg)["boot_buyers_dach"] == {de}


def test_back_dated_compute_sees_only_data_up_to_t(shop):
    a = shop.contact("a@example.com", opted_in_at=T - days(400))
    shop.order(a, T - days(50))
    shop.order(a, T - days(40))
    shop.order(a, T + days(5))
    assert shop.segments(T)["repeat_buyer"] == {a}
    # the same store, computed earlier: only one order existed
    assert shop.segments(T - days(45))["repeat_buyer"] == set()
    assert shop.segments(T + days(10))["repeat_buyer"] == {a}


def test_a_segment_removed_from_the_config_loses_its_members(shop):
    de = shop.contact("de@example.com", country="DE")
    with_custom = config({"germany": {"rule": "country == 'DE'"}})
    assert shop.segments(T, with_custom)["germany"] == {de}
    after = shop.segments(T)  # the default config has no "germany"
    assert "germany" not in after
    from sqlalchemy import select

    from segmail.store.runs import last_run
    from segmail.store.schema import memberships

    with shop.store.engine.connect() as conn:
        assert conn.execute(select(memberships).where(memberships.c.segment == "germany")).first() is None
        assert last_run(conn, "compute")["stats"]["(removed segments)"]["left"] == 1
