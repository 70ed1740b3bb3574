"""reports/causal.py: lift against the holdout, A/B comparisons and winner decisions, and their plot."""

from __future__ import annotations

from decimal import Decimal

import pytest

from segmail.reports.causal import ArmFigures, ab_rows, decide_winner, lift_rows
from segmail.reports.interval_plot import write_interval_plot
from segmail.store.experiment_outcomes import GroupOutcome


def group(variant, grp, n, converters, revenue, sq, *, campaign="promo", occurrence="2026-12-01", phase=""):
    return GroupOutcome(campaign=campaign, occurrence=occurrence, ab_phase=phase, variant=variant, group=grp,
                        recipients=n, converters=converters, revenue=Decimal(revenue), revenue_sq=sq)  # fmt: skip


def test_lift_pools_the_holdouts_of_an_occurrence_for_every_variant():
    # sent a: revenues 0, 0, 10, 20 (sum 30, squares 500); held out (a 0, 0 and b 0, 10): sum 10, squares 100
    # the worked Welch example of test_experiment_intervals: lift 7.5 - 2.5 = 5, interval (-9.3348, 19.3348)
    rows = lift_rows([
        group("a", "holdout", 2, 0, "0", 0.0), group("a", "sent", 4, 2, "30", 500.0),
        group("b", "holdout", 2, 1, "10", 100.0),
    ])  # fmt: skip
    (row,) = rows
    assert (row.variant, row.recipients, row.holdout, row.converters, row.holdout_converters) == (
        "a",
        4,
        4,
        2,
        1,
    )
    assert (row.revenue_per_recipient, row.holdout_revenue_per_recipient, row.lift) == (7.5, 2.5, 5.0)
    assert (row.lift_low, row.lift_high) == (
        pytest.approx(-9.3348, abs=1e-3),
        pytest.approx(19.3348, abs=1e-3),
    )
    # needed per group: (1.959964 + 0.841621)² · (91.6667 + 25) / 5² = 7.848879 · 4.666667 = 36.63 → 37
    assert row.needed_per_group == 37
    assert row.decision.startswith("not significant: the interval of the lift +5.00 per recipient contains 0")
    assert "about 37 recipients in each group" in row.decision
    assert row.conversion_diff is not None and row.conversion_diff.estimate == pytest.approx(0.5 - 0.25)


def test_lift_is_significant_or_missing_plainly():
    big = lift_rows(
        [
            group("", "sent", 1000, 200, "20000", 1_000_000.0),
            group("", "holdout", 1000, 100, "5000", 250_000.0),
        ]
    )
    # sent: mean 20, s² = (1e6 - 20000²/1000)/999 = 600.6; held out: mean 5, s² = (250000 - 25000)/999 = 225.2
    # lift 15, SE = sqrt(0.6006 + 0.2252) = 0.90873, df ≈ 1704 → t 1.96134 → (13.2177, 16.7823)
    (row,) = big
    assert (row.lift_low, row.lift_high) == (
        pytest.approx(13.2177, abs=1e-3),
        pytest.approx(16.7823, abs=1e-3),
    )
    assert row.decision.startswith("significant: the mail added 15.00 per recipient")
    (alone,) = lift_rows([group("", "sent", 10, 1, "5", 25.0)])
    assert (alone.holdout, alone.lift, alone.lift_low) == (0, None, None)
    assert alone.decision.startswith("no holdout")
    (tiny,) = lift_rows([group("", "sent", 10, 1, "5", 25.0), group("", "holdout", 1, 0, "0", 0.0)])
    assert tiny.lift is None and tiny.decision.startswith("too few recipients")


def test_ab_rows_compare_each_variant_with_the_first_in_config_order():
    outcomes = [group("a", "sent", 4, 2, "30", 500.0), group("b", "sent", 4, 1, "10", 100.0),
                group("c", "sent", 4, 0, "0", 0.0), group("a", "holdout", 3, 0, "0", 0.0)]  # fmt: skip
    rows = ab_rows(outcomes, variant_order={"promo": ["b", "a", "c"]})
    assert [(r.variant, r.reference) for r in rows] == [("a", "b"), ("c", "b")]
    a = rows[0]
    assert a.revenue_diff is not None and a.revenue_diff.estimate == 5.0
    assert (a.revenue_diff.low, a.revenue_diff.high) == (
        pytest.approx(-9.3348, abs=1e-3),
        pytest.approx(19.3348, abs=1e-3),
    )
    assert a.decision.startswith("a vs b: revenue per recipient +5.00 (-9.33 to +19.33): not significant")


def test_the_winner_needs_every_interval_above_zero_else_the_first_variant():
    # click rates: a 50/1000, b 90/1000: d = 0.04, clear of 0
    clear = decide_winner([ArmFigures(variant="a", recipients=1000, total=50, total_sq=50),
                           ArmFigures(variant="b", recipients=1000, total=90, total_sq=90)], "click_rate")  # fmt: skip
    assert (clear.winner, clear.clear) == ("b", True)
    (cmp,) = clear.figures["comparisons"]
    assert (cmp["variant"], cmp["vs"]) == ("b", "a") and cmp["low"] > 0
    # SE = sqrt(0.05·0.95/1000 + 0.09·0.91/1000) = sqrt(0.0000475 + 0.0000819) = 0.0113754; half = 0.0222954
    assert (cmp["low"], cmp["high"]) == (
        pytest.approx(0.0177046, abs=1e-6),
        pytest.approx(0.0622954, abs=1e-6),
    )
    close = decide_winner([ArmFigures(variant="a", recipients=100, total=5, total_sq=5),
                           ArmFigures(variant="b", recipients=100, total=7, total_sq=7)], "click_rate")  # fmt: skip
    assert (close.winner, close.clear) == ("a", False)
    assert close.decision.startswith("no clear winner on click_rate")
    empty = decide_winner([ArmFigures(variant="x", recipients=0, total=0, total_sq=0),
                           ArmFigures(variant="y", recipients=0, total=0, total_sq=0)], "revenue_per_recipient")  # fmt: skip
    assert (empty.winner, empty.clear) == ("x", False)


def test_the_interval_plot_is_written_and_shows_something(tmp_path):
    outcomes = [
        group("", "sent", 1000, 200, "20000", 1_000_000.0), group("", "holdout", 1000, 100, "5000", 250_000.0),
        group("a", "sent", 400, 40, "4000", 200_000.0, campaign="vip", phase="test"),
        group("b", "sent", 400, 30, "2400", 100_000.0, campaign="vip", phase="test"),
        group("", "holdout", 100, 5, "600", 30_000.0, campaign="vip", phase="test"),
    ]  # fmt: skip
    path = tmp_path / "experiments.png"
    write_interval_plot(lift_rows(outcomes), ab_rows(outcomes), path, currency="EUR")
    assert path.stat().st_size > 10_000
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[0] > 300 and pixels.std() > 0.05  # not a blank canvas
    svg = tmp_path / "experiments.svg"
    write_interval_plot([], [], svg)
    assert svg.read_text().lstrip().startswith("<?xml") and "nothing to show" in svg.read_text()
