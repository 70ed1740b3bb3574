"""Per-customer predictions from a summary: p_alive, expected orders, CLV, next order date, RFM.

predicted_clv_365d = E[orders in the next 365 days] (BG/NBD) * E[value of an order] (Gamma-Gamma),
the product of Fader, Hardie & Lee's "RFM and CLV" (2005), which assumes spend independent of the
purchase process. With an annual discount rate d > 0 the year is cut into 12 equal steps and each step's
expected orders are discounted by (1 + d)^(-end of step in years): a little conservative, and 12 hyp2f1
evaluations instead of an integral.

Minimum data: the models are fitted to this shop's own history, and below MIN_REPEAT_CUSTOMERS customers
with a repeat purchase or MIN_HISTORY_DAYS of history the estimates swing with a handful of customers
(Gamma-Gamma alone fits 3 parameters to the repeat customers). Below either, fit_models raises
PredictionRefused naming what is missing, instead of predicting nonsense.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from segmail.segments import bgnbd, gamma_gamma, rfm
from segmail.segments.clv_data import CustomerSummary

FloatArray = npt.NDArray[np.float64]
MIN_REPEAT_CUSTOMERS = 50
MIN_HISTORY_DAYS = 90
HORIZON_ORDERS_DAYS = 90.0
HORIZON_CLV_DAYS = 365.0
DISCOUNT_STEPS = 12


class PredictionRefused(ValueError):
    """Too little data for a fit worth using; the message names each shortfall."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = tuple(missing)
        super().__init__("not enough data to predict: " + "; ".join(missing))


@dataclass(frozen=True, kw_only=True)
class Models:
    """The fitted models and what they were fitted to (time unit: days)."""

    bg_nbd: bgnbd.BgNbdFit
    gamma_gamma: gamma_gamma.GammaGammaFit
    customers: int
    repeat_customers: int
    as_of: date


@dataclass(frozen=True, kw_only=True)
class Predictions:
    """One entry per customer of the summary, in its order."""

    customers: tuple[str, ...]
    p_alive: FloatArray
    expected_orders_90d: FloatArray
    expected_order_value: FloatArray
    predicted_clv_365d: FloatArray
    expected_next_order_at: npt.NDArray[np.int64]  # date.toordinal(): an array, not a million dates
    rfm: rfm.RfmScores


def check_enough(summary: CustomerSummary) -> None:
    """Raise PredictionRefused when the summary is below the documented minimum."""
    missing = []
    if summary.repeat_customers < MIN_REPEAT_CUSTOMERS:
        missing.append(
            f"{MIN_REPEAT_CUSTOMERS} customers with a repeat purchase needed, found {summary.repeat_customers}"
        )
    if summary.history_days < MIN_HISTORY_DAYS:
        missing.append(
            f"{MIN_HISTORY_DAYS} days of order history needed, found {summary.history_days:g}"
            f" (first purchase to {summary.as_of.isoformat()})"
        )
    if missing:
        raise PredictionRefused(missing)


def fit_models(summary: CustomerSummary) -> Models:
    """Fit BG/NBD and Gamma-Gamma to the summary, after the minimum-data check."""
    check_enough(summary)
    return Models(
        bg_nbd=bgnbd.fit(summary.frequency, summary.recency, summary.T),
        gamma_gamma=gamma_gamma.fit(summary.frequency, summary.repeat_mean),
        customers=len(summary),
        repeat_customers=summary.repeat_customers,
        as_of=summary.as_of,
    )


def expected_orders(models: Models, summary: CustomerSummary, days: float) -> FloatArray:
    """Expected orders (purchase days) of each customer in the next `days` days."""
    return bgnbd.expected_purchases(models.bg_nbd.params, days, summary.frequency, summary.recency, summary.T)


def discounted_orders(
    params: bgnbd.BgNbdParams, summary: CustomerSummary, days: float, annual_rate: float
) -> FloatArray:
    """Expected orders in the next `days`, each step's discounted at `annual_rate` (undiscounted at 0)."""
    if annual_rate < 0:
        raise ValueError(f"annual_discount_rate must be non-negative, got: {annual_rate}")
    x, t_x, T = summary.frequency, summary.recency, summary.T
    if annual_rate == 0:
        return bgnbd.expected_purchases(params, days, x, t_x, T)
    total = np.zeros(len(summary))
    before = np.zeros(len(summary))
    for step in range(1, DISCOUNT_STEPS + 1):
        end = days * step / DISCOUNT_STEPS
        upto = bgnbd.expected_purchases(params, end, x, t_x, T)
        total += (upto - before) / (1.0 + annual_rate) ** (end / 365.0)
        before = upto
    return total


def predict(models: Models, summary: CustomerSummary, annual_discount_rate: float = 0.0) -> Predictions:
    """Every customer's predictions from the fitted models, as of the summary's date."""
    return predict_with(models.bg_nbd.params, models.gamma_gamma.params, summary, annual_discount_rate)


def predict_with(
    params: bgnbd.BgNbdParams,
    spend: gamma_gamma.GammaGammaParams,
    summary: CustomerSummary,
    annual_discount_rate: float = 0.0,
) -> Predictions:
    """Every customer's predictions from model parameters (a stored fit), as of the summary's date."""
    x, t_x, T = summary.frequency, summary.recency, summary.T
    value = gamma_gamma.expected_average_value(spend, x, summary.repeat_mean)
    orders_year = discounted_orders(params, summary, HORIZON_CLV_DAYS, annual_discount_rate)
    wait = bgnbd.expected_days_to_next_order(params, x, T)
    base = summary.as_of.toordinal()
    return Predictions(
        customers=summary.customers,
        p_alive=bgnbd.p_alive(params, x, t_x, T),
        expected_orders_90d=bgnbd.expected_purchases(params, HORIZON_ORDERS_DAYS, x, t_x, T),
        expected_order_value=value,
        predicted_clv_365d=orders_year * value,
        expected_next_order_at=base + np.ceil(wait).astype(np.int64),
        rfm=rfm.score(x, t_x, T, summary.purchase_mean),
    )


def percentile_rank(
    values: npt.NDArray[np.float64], reference: npt.NDArray[np.float64] | None = None
) -> npt.NDArray[np.float64]:
    """0-100: the share of the others with a lower value (ties share the lowest), 100 for the top.

    Among `reference` (sorted) when given, else among `values` themselves; a reference member gets
    exactly its rank within the reference, a value above them all 100."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    ranked_among = np.sort(values) if reference is None else reference
    lower = np.searchsorted(ranked_among, values, side="left").astype(np.float64)
    return np.minimum(100.0 * lower / max(len(ranked_among) - 1, 1), 100.0)
