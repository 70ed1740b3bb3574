"""How well BG/NBD predicts: a calibration/holdout split, the way the papers validate the model.

The model is fitted to the orders up to the calibration end (T - N days); for every customer who bought
in the calibration period it predicts the repeat purchases in the N holdout days (FHL 2005 eq. 10,
E[Y(N) | x, t_x, T]), which are compared with the purchase days they actually made there:
- in total, and as the cumulative sum over the holdout days (tracking plot);
- by frequency class in calibration, 0, 1, ..., 7+ repeat purchases (FHL 2005 Fig. 4: the
  conditional expectations by calibration frequency), as class totals and means.
Customers whose first purchase falls in the holdout are not in the calibration summary and are left out
of both sides: the model says nothing about them. Purchases are distinct UTC days, as in clv_data.
Pure: arrays in, a CheckResult out (reading is store.paid_orders, printing and plotting jobs/).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from segmail.segments import bgnbd
from segmail.segments.clv_data import CustomerSummary, FloatArray, IntArray

TOP_CLASS = 7  # the last class is "7+", as in FHL 2005 Fig. 4


@dataclass(frozen=True, kw_only=True)
class FrequencyClass:
    label: str  # "0" ... "6", "7+"
    customers: int
    predicted: float  # the class's summed conditional expectations
    actual: int  # the class's holdout purchase days

    @property
    def predicted_mean(self) -> float:
        return self.predicted / self.customers if self.customers else float("nan")

    @property
    def actual_mean(self) -> float:
        return self.actual / self.customers if self.customers else float("nan")


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    calibration_end: date
    holdout_end: date
    customers: int  # calibration customers (who bought up to calibration_end)
    predicted: float
    actual: int
    classes: tuple[FrequencyClass, ...]
    cumulative_days: IntArray  # holdout day numbers 1..N (weekly steps and the last day)
    cumulative_predicted: FloatArray  # sum of E[Y(d)] over customers at each of those days
    cumulative_actual: IntArray  # holdout purchase days on or before each of those days

    @property
    def holdout_days(self) -> int:
        return (self.holdout_end - self.calibration_end).days

    @property
    def error(self) -> float:
        """(predicted - actual) / actual: the total's relative error (nan without a holdout purchase)."""
        return (self.predicted - self.actual) / self.actual if self.actual else float("nan")


def holdout_purchase_days(
    summary: CustomerSummary, codes: IntArray, days: IntArray, holdout_end: date
) -> tuple[IntArray, IntArray]:
    """Per calibration customer, the distinct purchase days in (summary.as_of, holdout_end], as day numbers
    1..N after the calibration end: (customer index into `summary`, day number), one row per purchase day.

    `codes` and `days` are the order arrays the summary was made from (clv_data.summarise_days): the
    summary lists its customers in ascending code order, so a code's rank among the calibration codes is
    its index in the summary."""
    start, end = summary.as_of.toordinal(), holdout_end.toordinal()
    calibration_codes = np.unique(codes[days <= start])
    if len(calibration_codes) != len(summary):
        raise ValueError("the order arrays are not the ones the summary was made from")
    held = (days > start) & (days <= end)
    pairs = np.unique(np.stack([codes[held], days[held]], axis=1), axis=0).reshape(-1, 2)
    known = np.isin(pairs[:, 0], calibration_codes)  # a first purchase in the holdout is left out
    pairs = pairs[known]
    return np.searchsorted(calibration_codes, pairs[:, 0]), pairs[:, 1] - start


def check(
    params: bgnbd.BgNbdParams,
    summary: CustomerSummary,
    customer_index: IntArray,
    holdout_day: IntArray,
    holdout_end: date,
) -> CheckResult:
    """Predicted against actual holdout purchases (holdout_purchase_days gives the last two arrays)."""
    n_days = (holdout_end - summary.as_of).days
    if n_days < 1:
        raise ValueError(f"the holdout must end after the calibration, got {summary.as_of} .. {holdout_end}")
    x, t_x, T = summary.frequency, summary.recency, summary.T
    expected = bgnbd.expected_purchases(params, float(n_days), x, t_x, T)
    actual = np.bincount(customer_index, minlength=len(summary))
    cls = np.minimum(x, TOP_CLASS).astype(np.int64)
    classes = tuple(
        FrequencyClass(
            label=f"{k}+" if k == TOP_CLASS else str(k),
            customers=int(np.count_nonzero(cls == k)),
            predicted=float(expected[cls == k].sum()),
            actual=int(actual[cls == k].sum()),
        )
        for k in range(TOP_CLASS + 1)
    )
    steps = np.unique(np.append(np.arange(7, n_days + 1, 7), n_days)).astype(np.int64)
    cumulative_predicted = np.array(
        [float(bgnbd.expected_purchases(params, float(d), x, t_x, T).sum()) for d in steps[:-1]]
        + [float(expected.sum())]
    )
    cumulative_actual = np.searchsorted(np.sort(holdout_day), steps, side="right").astype(np.int64)
    return CheckResult(
        calibration_end=summary.as_of,
        holdout_end=holdout_end,
        customers=len(summary),
        predicted=float(expected.sum()),
        actual=int(actual.sum()),
        classes=classes,
        cumulative_days=steps,
        cumulative_predicted=cumulative_predicted,
        cumulative_actual=cumulative_actual,
    )
