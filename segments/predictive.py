"""Prediction features for rules: the stored fit, scored at the evaluation's T, written where rules read them.

A compute does not fit (that is `predict fit` and the service's refit, every `[predict] refit_every`);
it takes the latest fit made as of T or before (store.predict_fits.fit_for) and scores every buyer with
it at T from the paid orders up to T. Scoring at T, not reusing scores from the fit's day, matters: a
customer who ordered this morning must not still read `p_alive` 0.2 from last night's scores and get
the "we miss you" mail. The relative scores (RFM quintiles, `clv_percentile`) rank each buyer against the
buyers as they stood at the start of T's UTC day (segments/day_reference.py), so a new order rescores
only its buyer.

Missing values, by the rule language's one rule (every comparison with a missing value is false):
contacts without a paid order have no scores, and nobody has any while no fit is stored at or before T.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import numpy as np

from segmail.segments import clv, day_reference
from segmail.segments.bgnbd import BgNbdParams
from segmail.segments.clv_data import CustomerSummary, as_of_end, summarise_days
from segmail.segments.gamma_gamma import GammaGammaParams
from segmail.store import predict_dirty, predict_scores
from segmail.store.codec import from_us, to_us
from segmail.store.paid_orders import PaidOrderArrays, paid_order_arrays
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
    rescored: int = 0  # buyers scored in this evaluation: all of them, the day's, or none
    missing: str | None = None  # why every value is missing, when they are
    # for an incremental compute (segments.incremental): the scores' fingerprint before and after this
    # evaluation, and whose scores it changed (None: anybody's may have)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    changed: frozenset[str] | None = None


def score(
    conn: Connection,
    *,
    as_of: datetime,
    paid_statuses: Sequence[str],
    currency: str | None,
    annual_discount_rate: float,
) -> Scored:
    """Make the scores table (store.predict_scores) hold the buyers at `as_of` scored with the fit in
    force then: every buyer when the fit, the day, a setting or an earlier order changed; only the
    buyers of the day's orders the writers logged (store.predict_dirty) when just those changed; nothing
    when nothing did. No order is read to find out which: the log says."""
    as_of_us = to_us(as_of)
    day = as_of_end(as_of)
    day_start_us = to_us(datetime.combine(day, time(), UTC))
    paid = list(paid_statuses)
    found = fit_for(conn, as_of_us)
    fit_id = None if found is None else found[0]
    basis: dict[str, Any] = {
        "fit": fit_id,
        "day": day.isoformat(),
        "rate": annual_discount_rate,
        "currency": currency,
        "paid": sorted(paid),
    }
    stored = predict_scores.stored_fingerprint(conn)
    made = predict_scores.made_at(conn)
    same_basis = stored is not None and made is not None and _basis(stored) == basis
    again = _rescore(conn, made, as_of_us, day_start_us) if same_basis else None
    if again is None and found is not None:
        predict_dirty.restart(conn, as_of_us)  # every buyer scored: the log holds what is after T
    else:
        predict_dirty.consume(conn, as_of_us)
    predict_scores.set_made_at(conn, as_of_us)
    fit_as_of = None if found is None else from_us(found[1].as_of)
    if again is not None and (found is None or not again):
        buyers = predict_scores.count(conn) if found is not None else 0
        return Scored(
            fit_id=fit_id, fit_as_of=fit_as_of, buyers=buyers, reused=True, missing=_missing(found),
            before=stored, after=stored, changed=frozenset(),
        )  # fmt: skip
    if found is None:
        after = predict_scores.replace(conn, [], basis)  # scores of a later fit must not show through
        return Scored(
            fit_id=None, fit_as_of=None, buyers=0, reused=False, missing=NO_FIT, before=stored, after=after
        )
    fit = found[1]
    model = _Model(_bg(fit), _gg(fit), annual_discount_rate)
    if again is not None:
        arrays = paid_order_arrays(conn, as_of_us=as_of_us, paid_statuses=paid, currency=currency, only=again)
        reference = day_reference.DayReference(**predict_scores.load_reference(conn))
        summary = _summary(arrays, day)
        after = predict_scores.replace_some(conn, again, model.rows(summary, reference), basis)
        return Scored(
            fit_id=fit_id, fit_as_of=fit_as_of, buyers=predict_scores.count(conn), reused=False,
            rescored=len(summary), before=stored, after=after, changed=frozenset(again),
        )  # fmt: skip
    arrays = paid_order_arrays(conn, as_of_us=as_of_us, paid_statuses=paid, currency=currency)
    before = day_reference.before_day(arrays.customers, arrays.codes, arrays.days, arrays.amounts, day)
    reference = day_reference.DayReference.of(before, model.predict(before))
    predict_scores.save_reference(conn, reference.columns())
    summary = _summary(arrays, day)
    after = predict_scores.replace(conn, model.rows(summary, reference), basis)
    n = len(summary)
    return Scored(
        fit_id=fit_id, fit_as_of=fit_as_of, buyers=n, reused=False, rescored=n, before=stored, after=after
    )


def _basis(fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fingerprint.items() if k != "token"}


def _rescore(conn: Connection, made_us: int | None, as_of_us: int, day_start_us: int) -> set[str] | None:
    """The buyers whose scores made at `made_us` (same fit, day and settings) must be made again for T;
    None: everyone's (back in time, an order placed before T's day changed, or owners not listed)."""
    if made_us is None or as_of_us < made_us:
        return None  # back in time: orders placed since were taken in
    keys: set[str] = set()
    for key, at in predict_dirty.due(conn, as_of_us):
        if at < day_start_us or key == predict_dirty.UNKNOWN:
            return None
        keys.add(key)
    return keys


def day_summaries(
    conn: Connection, *, as_of: datetime, paid_statuses: Sequence[str], currency: str | None
) -> tuple[CustomerSummary, CustomerSummary]:
    """Every buyer's summary at `as_of`, and the summary of the orders before its UTC day (the buyers the
    day's relative scores rank against), from one read of the paid orders."""
    arrays = paid_order_arrays(conn, as_of_us=to_us(as_of), paid_statuses=paid_statuses, currency=currency)
    day = as_of_end(as_of)
    before = day_reference.before_day(arrays.customers, arrays.codes, arrays.days, arrays.amounts, day)
    return _summary(arrays, day), before


def _missing(found: tuple[int, FitRow] | None) -> str | None:
    return NO_FIT if found is None else None


@dataclass(frozen=True)
class _Model:
    bg: BgNbdParams
    gg: GammaGammaParams
    rate: float

    def predict(self, summary: CustomerSummary) -> clv.Predictions:
        return clv.predict_with(self.bg, self.gg, summary, self.rate)

    def rows(
        self, summary: CustomerSummary, reference: day_reference.DayReference
    ) -> Iterator[tuple[Any, ...]]:
        """The score rows of these buyers, their relative scores read against the day's reference."""
        pred = self.predict(summary)
        rel = day_reference.relative(summary, pred, reference)
        return _rows(
            summary.customers,
            [pred.p_alive, pred.expected_orders_90d, pred.predicted_clv_365d, rel.clv_percentile],
            [rel.rfm.r, rel.rfm.f, rel.rfm.m],
            rel.rfm.group,
        )


def _summary(arrays: PaidOrderArrays, day: date) -> CustomerSummary:
    return summarise_days(arrays.customers, arrays.codes, arrays.days, arrays.amounts, day)


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
