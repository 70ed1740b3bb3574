"""BG/NBD, Gamma-Gamma, RFM and CLV against the published CDNOW results and hand-worked formulas.

Papers: Fader, Hardie & Lee (2005) "'Counting Your Customers' the Easy Way" (BG/NBD, Marketing Science
24(2)) with Hardie's note http://brucehardie.com/notes/004/; Fader, Hardie & Lee (2005) "RFM and CLV:
Using Iso-Value Curves for Customer Base Analysis" (JMR 42(4)) with http://brucehardie.com/notes/025/.
Data: tests/data/CDNOW_sample.txt (see tests/data/CDNOW.md).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from segmail.segments import bgnbd, clv, day_reference, gamma_gamma, rfm
from segmail.segments.clv_data import CustomerSummary, PaidOrder, summarise
from segmail.segments.mle import FitFailed

CDNOW = Path(__file__).parent / "data" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)  # 39 weeks from 1997-01-01; T = 272 days = 38.86 weeks on day one
PUBLISHED = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # FHL 2005, weeks


def cdnow_orders() -> list[PaidOrder]:
    orders = []
    for line in CDNOW.read_text().splitlines():
        _, sample_id, day, _, dollars = line.split()
        placed = datetime.strptime(day, "%Y%m%d").replace(hour=12, tzinfo=UTC)
        orders.append(PaidOrder(customer=sample_id, placed_at=placed, amount=Decimal(dollars)))
    return orders


def day_relative(models: clv.Models, orders: list[PaidOrder], day: date) -> day_reference.Relative:
    """The relative scores at `day` by the documented rule, from the pure models: each buyer (of
    `summarise(orders, day)`, in its order) ranked against the buyers of the orders before `day`."""
    everyone = summarise(orders, day)
    before = summarise([o for o in orders if o.placed_at.astimezone(UTC).date() < day], day)
    reference = day_reference.DayReference.of(before, clv.predict(models, before))
    return day_reference.relative(everyone, clv.predict(models, everyone), reference)


@pytest.fixture(scope="module")
def summary() -> CustomerSummary:
    return summarise(cdnow_orders(), CALIBRATION_END)


@pytest.fixture(scope="module")
def fit_days(summary: CustomerSummary) -> bgnbd.BgNbdFit:
    return bgnbd.fit(summary.frequency, summary.recency, summary.T)


def test_cdnow_summary_matches_the_papers_calibration_data(summary: CustomerSummary) -> None:
    # 2,357 customers, 946 with a repeat purchase in the 39 weeks (Hardie note 025, 946 customers)
    assert len(summary) == 2357
    assert summary.repeat_customers == 946
    first = summary.customers.index("0001")  # Hardie's ID 1: x = 2, t_x = 30.43, T = 38.86 weeks, z̄ = 22.35
    assert summary.frequency[first] == 2
    assert summary.recency[first] == 213 and summary.T[first] == 272
    assert summary.repeat_mean[first] == pytest.approx((29.73 + 14.96) / 2)


def test_bgnbd_reproduces_published_fit_in_days_and_weeks(summary: CustomerSummary, fit_days) -> None:
    p = fit_days.params
    assert p.r == pytest.approx(0.243, rel=0.01)
    assert p.alpha == pytest.approx(4.414 * 7, rel=0.01)  # 30.90 days
    assert p.alpha == pytest.approx(30.90, rel=0.01)
    assert p.a == pytest.approx(0.793, rel=0.01)
    assert p.b == pytest.approx(2.426, rel=0.01)
    weeks = bgnbd.fit(summary.frequency, summary.recency / 7, summary.T / 7)
    assert weeks.params.r == pytest.approx(0.243, rel=0.01)
    assert weeks.params.alpha == pytest.approx(4.414, rel=0.01)
    assert weeks.params.a == pytest.approx(0.793, rel=0.01)
    assert weeks.params.b == pytest.approx(2.426, rel=0.01)
    assert weeks.log_likelihood == pytest.approx(-9582.4, abs=0.1)  # FHL 2005 reports LL = -9582.4


def test_bgnbd_fit_is_stable_across_starts(fit_days) -> None:
    assert len(fit_days.optima) == len(bgnbd.STARTS)  # every start converged
    for optimum in fit_days.optima:
        for name in ("r", "alpha", "a", "b"):
            assert getattr(optimum, name) == pytest.approx(getattr(fit_days.params, name), rel=1e-4)


def test_gamma_gamma_reproduces_published_fit(summary: CustomerSummary) -> None:
    # p = 6.25, q = 3.74, v = 15.44 are the estimates on the 946 repeat customers of this 2,357-customer
    # sample (Hardie note 025, and lifetimes' docs on the same file); the sample reproduces them to 0.1 %.
    # Not checked here: whether the JMR paper's tables use the same sample or the full 23,570 cohort.
    fitted = gamma_gamma.fit(summary.frequency, summary.repeat_mean)
    assert fitted.customers == 946
    assert fitted.params.p == pytest.approx(6.25, rel=0.01)
    assert fitted.params.q == pytest.approx(3.74, rel=0.01)
    assert fitted.params.v == pytest.approx(15.44, rel=0.01)


def series_2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss's series, summed term by term: an independent check of the Euler-transformed hyp2f1."""
    total, term = 1.0, 1.0
    for k in range(2000):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
    return total


def test_p_alive_and_conditional_expectation_by_hand() -> None:
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x = np.array([2.0, 1.0, 0.0])
    t_x = np.array([30.43, 1.71, 0.0])
    T = np.array([38.86, 38.86, 38.86])
    # ID 1 (x=2, t_x=30.43, T=38.86): a/(b+x-1) = 0.793/3.426 = 0.23147;
    # (alpha+T)/(alpha+t_x) = 43.274/34.844 = 1.24194, ^(r+x = 2.243) = 1.6258; odds 0.37631 → P(alive) = 0.72658
    # ID 2 (x=1, t_x=1.71): 0.793/2.426 = 0.32688; (43.274/6.124)^1.243 = 11.364; odds 3.7147 → 0.21210
    # x = 0: the model lets customers drop out only after a purchase → 1
    assert bgnbd.p_alive(PUBLISHED, x, t_x, T) == pytest.approx([0.72658, 0.21210, 1.0], abs=1e-5)
    # E[Y(39) | x, t_x, T] (FHL 2005 eq. 10): z = 39/(alpha+T+39) = 39/82.274 = 0.47403;
    # ID 1: (a+b+x-1)/(a-1) = 4.219/-0.207 = -20.382; (alpha+T)/(alpha+T+39) = 0.52597, ^2.243 = 0.23679;
    # 2F1(2.243, 4.426; 4.219; 0.47403) by its series ≈ 4.4043; 1 - 0.23679·4.4043 = -0.04290;
    # -20.382 · -0.04290 · 0.72658 = 1.226 — the 1.226 the paper reports for this customer
    expected = [
        p * (a + b + xi - 1) / (a - 1)
        * (1 - ((alpha + Ti) / (alpha + Ti + 39)) ** (r + xi)
           * series_2f1(r + xi, b + xi, a + b + xi - 1, 39 / (alpha + Ti + 39)))
        for p, xi, Ti in zip([0.72657857, 0.21210099, 1.0], x, T, strict=True)
    ]  # fmt: skip
    got = bgnbd.expected_purchases(PUBLISHED, 39.0, x, t_x, T)
    assert got == pytest.approx(expected, rel=1e-6)
    assert got[0] == pytest.approx(1.226, abs=5e-4)
    assert math.isclose(expected[2], 0.195098, rel_tol=1e-5)


def test_expected_purchases_stays_finite_for_large_frequency_and_age() -> None:
    x = np.array([400.0, 2000.0, 0.0])
    t_x = np.array([3000.0, 9000.0, 0.0])
    T = np.array([3650.0, 9125.0, 9125.0])
    params = bgnbd.BgNbdParams(r=0.243, alpha=30.9, a=0.793, b=2.426)
    got = bgnbd.expected_purchases(params, 90.0, x, t_x, T)
    assert np.all(np.isfinite(got)) and np.all(got >= 0)
    # a customer alive and buying every ~8 days expects about 90/8 more purchases, times P(alive)
    rate = (params.r + x[0]) / (params.alpha + T[0])
    assert got[0] == pytest.approx(bgnbd.p_alive(params, x, t_x, T)[0] * 90 * rate, rel=0.05)


def test_gradient_matches_finite_differences(summary: CustomerSummary) -> None:
    w = np.ones(len(summary))
    point = np.log([0.3, 25.0, 0.9, 2.0])
    # the fit's rows evaluate each special function on distinct values; the value must still be
    # exactly the reference formula's (log_likelihood, via _terms), checked below
    rows = bgnbd._Rows.of(summary.frequency, summary.recency, summary.T, w)
    value, grad = bgnbd._neg_ll_and_grad(point, rows)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6
        up = bgnbd._neg_ll_and_grad(point + step, rows)[0]
        down = bgnbd._neg_ll_and_grad(point - step, rows)[0]
        assert grad[i] == pytest.approx((up - down) / 2e-6, rel=1e-4)
    assert value == pytest.approx(
        -bgnbd.log_likelihood(
            bgnbd.BgNbdParams(r=0.3, alpha=25.0, a=0.9, b=2.0), summary.frequency, summary.recency, summary.T
        )
    )


def test_gamma_gamma_expected_value_by_hand() -> None:
    params = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, v=15.44)
    # x = 2, z̄ = 22.35: 6.25·(15.44 + 44.70)/(12.5 + 2.74) = 375.875/15.24 = 24.664
    # x = 0: the population mean p·v/(q-1) = 96.5/2.74 = 35.219
    got = gamma_gamma.expected_average_value(params, np.array([2.0, 0.0]), np.array([22.35, np.nan]))
    assert got == pytest.approx([24.664, 35.219], abs=1e-3)


def test_summary_merges_same_day_orders_and_counts_zero_amounts() -> None:
    def order(who: str, when: datetime, amount: str) -> PaidOrder:
        return PaidOrder(customer=who, placed_at=when, amount=Decimal(amount))

    orders = [
        order("a", datetime(2024, 1, 1, 9, tzinfo=UTC), "10.00"),
        order("a", datetime(2024, 1, 1, 23, tzinfo=UTC), "5.00"),  # same UTC day: merges, amounts add
        order("a", datetime(2024, 1, 11, tzinfo=UTC), "0.00"),  # a 0.00 order is still a purchase
        order("a", datetime(2024, 1, 21, tzinfo=UTC), "30.00"),
        order("a", datetime(2024, 3, 1, tzinfo=UTC), "99.00"),  # after the as-of: left out
        order("b", datetime(2024, 1, 31, 23, 30, tzinfo=UTC), "7.00"),
    ]
    s = summarise(orders, date(2024, 1, 31))
    assert s.customers == ("a", "b")
    assert s.frequency.tolist() == [2.0, 0.0]
    assert s.recency.tolist() == [20.0, 0.0]
    assert s.T.tolist() == [30.0, 0.0]
    assert s.repeat_mean[0] == 15.0 and math.isnan(s.repeat_mean[1])
    assert s.purchase_mean.tolist() == [15.0, 7.0]
    with pytest.raises(ValueError, match="placed_at must be timezone-aware"):
        PaidOrder(customer="a", placed_at=datetime(2024, 1, 1), amount=Decimal(1))


def test_refuses_too_little_data(summary: CustomerSummary) -> None:
    early = summarise(cdnow_orders(), date(1997, 1, 20))  # three weeks of history
    with pytest.raises(
        clv.PredictionRefused, match=r"50 customers with a repeat purchase needed, found \d+"
    ) as e:
        clv.fit_models(early)
    assert any("90 days of order history needed, found 19" in m for m in e.value.missing)


def test_fit_fails_cleanly_without_customers() -> None:
    with pytest.raises(FitFailed):
        gamma_gamma.fit(np.zeros(3), np.full(3, np.nan))


def test_predictions_on_cdnow(summary: CustomerSummary) -> None:
    models = clv.fit_models(summary)
    pred = clv.predict(models, summary)
    first = summary.customers.index("0001")
    # 90 days ahead for ID 1 in days, by the same formula as the 39-week hand check
    assert pred.p_alive[first] == pytest.approx(0.7266, abs=2e-3)
    assert pred.predicted_clv_365d[first] == pytest.approx(
        clv.expected_orders(models, summary, 365.0)[first] * pred.expected_order_value[first]
    )
    assert np.all(pred.predicted_clv_365d >= 0)
    discounted = clv.predict(models, summary, annual_discount_rate=0.1).predicted_clv_365d
    assert np.all(discounted <= pred.predicted_clv_365d + 1e-12)
    assert np.all(discounted >= pred.predicted_clv_365d / 1.1 - 1e-12)
    # a customer with no repeat purchase: (alpha+T)/r days ahead
    lone = int(np.flatnonzero(summary.frequency == 0)[0])
    wait = (models.bg_nbd.params.alpha + summary.T[lone]) / models.bg_nbd.params.r
    assert pred.expected_next_order_at[lone] == CALIBRATION_END.toordinal() + math.ceil(wait)
    assert set(pred.rfm.group) <= set(rfm.GROUPS)


def test_rfm_scores_and_groups() -> None:
    # ties take their lowest rank: the many equal values share score 1
    assert rfm.quintile_scores(np.array([1.0] * 6 + [2.0, 3.0, 4.0, 5.0])).tolist() == [1] * 6 + [4, 4, 5, 5]
    assert rfm.quintile_scores(np.arange(10.0)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    r, f, m = (
        np.array([5, 5, 4, 3, 3, 2, 2, 1]),
        np.array([1, 5, 2, 4, 2, 5, 1, 1]),
        np.array([5, 4, 2, 3, 1, 4, 2, 1]),
    )
    assert rfm.group_of(r, f, m) == (
        "new", "champions", "promising", "loyal", "needs attention", "at risk", "hibernating", "lost"
    )  # fmt: skip
    every = np.array([(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)])
    assert len(rfm.group_of(every[:, 0], every[:, 1], every[:, 2])) == 125


def test_bgnbd_fit_fails_cleanly_without_customers() -> None:
    with pytest.raises(FitFailed, match="no customers"):
        bgnbd.fit(np.zeros(0), np.zeros(0), np.zeros(0))


def test_bench_simulation_is_recovered_by_the_fit() -> None:
    from bench.predict_bench import AS_OF, simulate
    from segmail.segments.clv_data import summarise_days

    codes, days, amounts = simulate(50_000, 140, seed=13)
    summary = summarise_days(tuple(map(str, range(50_000))), codes, days, amounts, AS_OF)
    fitted = bgnbd.fit(summary.frequency, summary.recency, summary.T).params
    # whole-day recency and same-day merging bias the estimates a little (alpha ~10 % at 1M customers)
    assert fitted.r == pytest.approx(0.243, rel=0.15)
    assert fitted.alpha == pytest.approx(30.9, rel=0.25)
