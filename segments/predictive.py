"""Prediction features for rules: the stored fit, scored at the evaluation's T, written where rules read them.

A compute does not fit (that is `predict fit` and the service's refit, every `[predict] refit_every`);
it takes the latest fit made as of T or before (store.predict_fits.fit_for) and scores every buyer with
it at T from the paid orders up to T. Scoring at T, not reusing scores from the fit's day, matters: a
customer who ordered this morning must not still read `p_alive` 0.2 from last night's scores and get
the "we miss you" mail. Scores are relative to the buyers at T too (RFM quintiles, `clv_percentile`).

Missing values, by the rule language's one rule (every comparison with a missing value is false):
contacts without a paid order have no scores, and nobody has any while no fit is stored at or before T.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from segmail.segments import clv
from segmail.segments.bgnbd import BgNbdParams
from segmail.segments.clv_data import CustomerSummary, as_of_end, summarise_days
from segmail.segments.gamma_gamma import GammaGammaParams
from segmail.store import predict_scores
from segmail.store.codec import from_us, to_us
from segmail.store.paid_orders import paid_order_arrays
from segmail.store.predict_fits import FitRow, fit_for

if TYPE_CHECKING:
    from sqlalchemy import Connection

NO_FIT = "no prediction fit stored as of T or before: run `segmail predict fit` (the service refits itself)"


@dataclass(frozen=True, kw_only=True)
class Scored:
    """What the rules' prediction features rest on in one evaluation."""

    fit_id: int | None  # None: no fit at or before T, every prediction feature is missing
    fit_as_of: datetime | None
    buyers: int  # contacts with scores
    reused: bool  # the stored scores already rested on this fit, day and orders: nothing rescored
    missing: str | None = None  # why every value is missing, when they are


def score(
    conn: Connection,
    *,
    as_of: datetime,
    paid_statuses: Sequence[str],
    currency: str | None,
    annual_discount_rate: float,
) -> Scored:
    """Make the scores table (store.predict_scores) hold the buyers at `as_of` scored with the fit in
    force then; kept as it is when it already does."""
    as_of_us = to_us(as_of)
    found = fit_for(conn, as_of_us)
    settings = {
        "fit": None if found is None else found[0],
        "day": as_of_end(as_of).isoformat(),
        "rate": annual_discount_rate,
        "currency": currency,
    }
    wanted = predict_scores.fingerprint(conn, settings, as_of_us=as_of_us, paid=list(paid_statuses))
    reused = predict_scores.up_to_date(conn, wanted)
    if found is None:
        if not reused:
            predict_scores.replace(conn, [], wanted)  # scores of a later fit must not show through
        return Scored(fit_id=None, fit_as_of=None, buyers=0, reused=reused, missing=NO_FIT)
    fit_id, fit = found
    fit_as_of = from_us(fit.as_of)
    if reused:
        return Scored(fit_id=fit_id, fit_as_of=fit_as_of, buyers=predict_scores.count(conn), reused=True)
    summary = buyer_summary(conn, as_of=as_of, paid_statuses=paid_statuses, currency=currency)
    pred = clv.predict_with(_bg(fit), _gg(fit), summary, annual_discount_rate)
    percentile = clv.percentile_rank(pred.predicted_clv_365d)
    predict_scores.replace(
        conn,
        _rows(
            summary.customers,
            [pred.p_alive, pred.expected_orders_90d, pred.predicted_clv_365d, percentile],
            [pred.rfm.r, pred.rfm.f, pred.rfm.m],
            pred.rfm.group,
        ),
        wanted,
    )
    return Scored(fit_id=fit_id, fit_as_of=fit_as_of, buyers=len(summary), reused=False)


def buyer_summary(
    conn: Connection, *, as_of: datetime, paid_statuses: Sequence[str], currency: str | None
) -> CustomerSummary:
    """Every buyer's frequency, recency, T and spend from the paid orders up to `as_of` (what a fit and a
    score read)."""
    arrays = paid_order_arrays(conn, as_of_us=to_us(as_of), paid_statuses=paid_statuses, currency=currency)
    return summarise_days(arrays.customers, arrays.codes, arrays.days, arrays.amounts, as_of_end(as_of))


def _bg(fit: FitRow) -> BgNbdParams:
    return BgNbdParams(r=fit.r, alpha=fit.alpha, a=fit.a, b=fit.b)


def _gg(fit: FitRow) -> GammaGammaParams:
    return GammaGammaParams(p=fit.p, q=fit.q, v=fit.v)


def _rows(
    keys: tuple[str, ...],
    floats: list[np.ndarray[Any, np.dtype[np.float64]]],
    ints: list[np.ndarray[Any, np.dtype[np.int64]]],
    groups: tuple[str, ...],
) -> Iterator[tuple[Any, ...]]:
    """Plain Python values for the driver; a non-finite number (never expected) is stored as missing."""
    columns: list[list[Any]] = []
    for values in floats:
        listed: list[Any] = values.tolist()
        if not np.isfinite(values).all():
            listed = [v if np.isfinite(v) else None for v in listed]
        columns.append(listed)
    columns += [values.tolist() for values in ints]
    return zip(keys, *columns, groups, strict=True)
