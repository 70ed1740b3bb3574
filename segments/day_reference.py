"""Relative scores (RFM quintiles, `clv_percentile`) rank each buyer among the buyers as they stood at the
start of T's UTC day.

Why not among the buyers at T itself: ranks are relative, so one new order would move every buyer's
rank a hair and force a compute to rescore and rewrite every buyer's row — the service's 15-minute cycle
would pay a full scoring for each handful of new orders. Against a reference fixed for the day, a
buyer's scores change only when their own orders do (or the day, fit or settings change), so a cycle
rescores just the day's buyers. Each buyer's own figures (p_alive, expected orders, CLV) are still
computed from every paid order up to T; only the yardstick their rank is read against is the day's.

The reference is defined by the data alone (the paid orders placed before T's UTC day, summarised as of
T's date), never by which computes ran earlier that day, so any path to T gives the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from segmail.segments import rfm
from segmail.segments.clv import Predictions, percentile_rank
from segmail.segments.clv_data import CustomerSummary, summarise_days

FloatArray = rfm.FloatArray


@dataclass(frozen=True, kw_only=True)
class DayReference:
    """The sorted values relative scores rank against: predicted CLV and the three RFM rank keys."""

    clv: FloatArray
    r: FloatArray
    f: FloatArray
    m: FloatArray

    def __len__(self) -> int:
        return len(self.clv)

    def columns(self) -> dict[str, FloatArray]:
        """By field name: what store.predict_scores.save_reference keeps and DayReference(**...) takes."""
        return {"clv": self.clv, "r": self.r, "f": self.f, "m": self.m}

    @classmethod
    def of(cls, summary: CustomerSummary, predictions: Predictions) -> DayReference:
        """From the buyers before T's day (`summary` and its `predictions`)."""
        keys = rfm.rank_keys(summary.frequency, summary.recency, summary.T, summary.purchase_mean)
        r, f, m = (np.sort(k) for k in keys)
        return cls(clv=np.sort(predictions.predicted_clv_365d), r=r, f=f, m=m)


@dataclass(frozen=True, kw_only=True)
class Relative:
    """Each buyer's relative scores, in the order of the summary they were computed for."""

    clv_percentile: FloatArray
    rfm: rfm.RfmScores


def relative(summary: CustomerSummary, predictions: Predictions, reference: DayReference) -> Relative:
    """The relative scores of these buyers, read against the day's reference."""
    return Relative(
        clv_percentile=percentile_rank(predictions.predicted_clv_365d, reference.clv),
        rfm=rfm.score(
            summary.frequency,
            summary.recency,
            summary.T,
            summary.purchase_mean,
            (reference.r, reference.f, reference.m),
        ),
    )


def before_day(
    customers: tuple[str, ...], codes: rfm.IntArray, days: rfm.IntArray, amounts: FloatArray, as_of: date
) -> CustomerSummary:
    """The summary, as of `as_of`'s date, of the orders placed before that date: the reference's buyers."""
    earlier = days < as_of.toordinal()
    return summarise_days(customers, codes[earlier], days[earlier], amounts[earlier], as_of)
