"""`report campaigns`' holdout and A/B columns (reports/campaign_lift.py): occurrences pooled over the
period, lift = revenue per mailed recipient - revenue per held-out recipient, per variant rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from segmail.reports.campaign_lift import pooled, with_lift
from segmail.reports.campaigns import CampaignRow
from segmail.store.experiment_outcomes import GroupOutcome


def row(campaign_id: str) -> CampaignRow:
    return CampaignRow(
        campaign_id=campaign_id, title=campaign_id, sent_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        segment="vip", target="segmail", recipients=200, opens=80, proxy_opens=5, clicks=20,
        unsubscribes=1, bounces=0, attributed_orders=12, attributed_revenue=Decimal("600.00"),
        revenue_per_recipient=Decimal("3.00"),
    )  # fmt: skip


def outcome(
    campaign: str, occurrence: str, group: str, n: int, converters: int, each: int, variant: str = ""
):
    # every converter spent `each`: sum = converters x each, sum of squares = converters x each^2
    return GroupOutcome(
        campaign=campaign, occurrence=occurrence, ab_phase="", variant=variant, group=group, recipients=n,
        converters=converters, revenue=Decimal(converters * each), revenue_sq=float(converters * each**2),
    )  # fmt: skip


def test_two_occurrences_are_pooled_and_the_lift_is_the_difference_per_recipient():
    outcomes = [
        outcome("promo", "2026-11-02", "sent", 100, 20, 50),
        outcome("promo", "2026-11-02", "holdout", 10, 1, 25),
        outcome("promo", "2026-11-09", "sent", 100, 20, 50),
        outcome("promo", "2026-11-09", "holdout", 10, 1, 25),
    ]
    sent = next(g for g in pooled(outcomes) if g.group == "sent")
    assert (sent.recipients, sent.converters, sent.revenue, sent.revenue_sq) == (
        200,
        40,
        Decimal(2000),
        100000.0,
    )
    [got] = with_lift([row("promo")], outcomes)
    # mailed: 2000 / 200 = 10.00 a recipient; held out: 50 / 20 = 2.50; lift 7.50
    assert got.holdout == 20 and got.lift == Decimal("7.50")
    assert got.lift_low is not None and got.lift_high is not None
    assert got.lift_low < got.lift < got.lift_high
    assert got.opens == 80 and got.recipients == 200  # Mailchimp's figures stay


def test_a_campaign_without_holdout_or_variants_keeps_empty_columns():
    [got] = with_lift([row("plain")], [outcome("other", "2026-11-02", "sent", 10, 1, 5)])
    assert got.holdout is None and got.lift is None and got.variant is None


def test_variants_get_a_row_each_beside_the_campaign_row():
    outcomes = [
        outcome("ab", "2026-11-02", "sent", 100, 10, 40, variant="a"),
        outcome("ab", "2026-11-02", "sent", 100, 30, 40, variant="b"),
        outcome("ab", "2026-11-02", "holdout", 20, 2, 40),
    ]
    # variant a's buckets went out as their own Mailchimp campaigns: their figures are a's; b's are not
    # in the period (yet): none
    own_a = dataclasses.replace(row("ab"), opens=30, proxy_opens=2, clicks=9, unsubscribes=1, bounces=1,
                                attributed_orders=4, attributed_revenue=Decimal("160.00"))  # fmt: skip
    rows = with_lift([row("ab")], outcomes, {("ab", "", "a"): own_a})
    assert [r.variant for r in rows] == [None, "a", "b"]
    a, b = rows[1], rows[2]
    assert (a.recipients, a.holdout, a.revenue_per_recipient) == (100, 20, Decimal("4.00"))
    assert b.revenue_per_recipient == Decimal("12.00")
    assert a.lift == Decimal("0.00") and b.lift == Decimal("8.00")  # held out: 80 / 20 = 4.00
    assert rows[0].opens == 80  # the campaign's row: every variant's Mailchimp campaigns together
    assert (a.opens, a.proxy_opens, a.clicks, a.unsubscribes, a.bounces) == (30, 2, 9, 1, 1)
    assert (a.attributed_orders, a.attributed_revenue) == (4, Decimal("160.00"))
    assert (b.opens, b.clicks, b.attributed_revenue) == (0, 0, Decimal(0))
