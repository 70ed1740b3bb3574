"""RFM: recency, frequency and monetary quintile scores (1-5) among buyers, and the named group of each.

Scores, 5 the best, by rank among the customers with at least one purchase:
- R: days since the last purchase (T - recency), fewer is better;
- F: purchase days (frequency + 1);
- M: mean value of a purchase day (every purchase day, so one-time buyers have one).
score = 1 + floor(5 · (rank - 1) / n) with ties given their lowest rank: a mass of equal values (the
many one-time buyers) shares one score instead of straddling two quintiles by position in a list.

Groups, first match wins (FM = (F + M) / 2):
| group           | rule                 | reading                                         |
|-----------------|----------------------|-------------------------------------------------|
| new             | R >= 4 and F = 1     | bought recently, for the first time or so       |
| champions       | R >= 4 and FM >= 4   | recent, frequent, big spenders                  |
| loyal           | R >= 3 and FM >= 3   | good buyers, recent enough                      |
| promising       | R >= 4               | recent, neither frequent nor big yet            |
| needs attention | R = 3                | middling recency, middling value                |
| at risk         | R <= 2 and FM >= 3   | were good buyers, not seen for a while          |
| hibernating     | R = 2                | low value, not seen for a while                 |
| lost            | R = 1                | the longest gone                                |
Every (R, F, M) falls in exactly one group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GROUPS = (
    "new",
    "champions",
    "loyal",
    "promising",
    "needs attention",
    "at risk",
    "hibernating",
    "lost",
)


@dataclass(frozen=True, kw_only=True)
class RfmScores:
    r: IntArray
    f: IntArray
    m: IntArray
    group: tuple[str, ...]


def quintile_scores(values: FloatArray, reference: FloatArray | None = None) -> IntArray:
    """1-5 by rank, higher values scoring higher; ties take the score of their lowest rank.

    The rank is among `reference` (sorted) when given, else among `values` themselves: a value ranks
    as 1 + how many reference values are smaller, so a reference member scores exactly as it would
    among the reference alone, and a value above every reference value scores 5."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    ranked_among = np.sort(values) if reference is None else reference
    if len(ranked_among) == 0:
        return np.ones(len(values), dtype=np.int64)
    # rank "min" (scipy.stats.rankdata's): 1 + how many values are smaller; numpy alone, because
    # importing scipy.stats costs every command about a second of start-up
    ranks = (np.searchsorted(ranked_among, values, side="left") + 1).astype(np.float64)
    scores = (1 + np.floor(5 * (ranks - 1) / len(ranked_among))).astype(np.int64)
    return np.minimum(scores, 5)


def rank_keys(
    frequency: FloatArray, recency: FloatArray, T: FloatArray, purchase_mean: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """What R, F and M rank by, higher is better: minus the days since the last purchase, purchase days,
    mean value of a purchase day."""
    return -(T - recency), frequency + 1, purchase_mean


def group_of(r: IntArray, f: IntArray, m: IntArray) -> tuple[str, ...]:
    """The named group of each (R, F, M), by the table of the module docstring."""
    fm = (f + m) / 2
    conditions = [
        (r >= 4) & (f == 1),
        (r >= 4) & (fm >= 4),
        (r >= 3) & (fm >= 3),
        r >= 4,
        r == 3,
        (r <= 2) & (fm >= 3),
        r == 2,
        r <= 1,
    ]
    index = np.select(conditions, np.arange(len(GROUPS)), default=len(GROUPS) - 1)
    return tuple(GROUPS[int(i)] for i in index)


def score(
    frequency: FloatArray,
    recency: FloatArray,
    T: FloatArray,
    purchase_mean: FloatArray,
    reference: tuple[FloatArray, FloatArray, FloatArray] | None = None,
) -> RfmScores:
    """Scores and groups for these buyers (the summary's arrays; every row has a purchase), ranked among
    themselves or, when given, among the sorted rank keys of a reference set of buyers."""
    keys = rank_keys(frequency, recency, T, purchase_mean)
    among = reference or (None, None, None)
    r, f, m = (quintile_scores(k, ref) for k, ref in zip(keys, among, strict=True))
    return RfmScores(r=r, f=f, m=m, group=group_of(r, f, m))
