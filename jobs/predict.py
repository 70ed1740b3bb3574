"""`predict fit` and `predict export`: the predictive models fitted to the store's paid orders as of T.

fit reads the paid orders (store.paid_orders), summarises them per customer (segments.clv_data), fits
BG/NBD and Gamma-Gamma (segments.clv) and stores the parameters with the as-of and data size
(store.predict_fits). Too little data raises segments.clv.PredictionRefused, which the CLI prints as one
line naming what is missing (exit 2: more orders or a later as-of, not a retry, fix it).

export fits afresh at its as-of rather than reusing a stored fit: a fit stored earlier may rest on
other orders or another as-of, and a per-customer export must be consistent with its own summary. It
stores that fit too, so what an exported prediction rested on stays on record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from segmail.jobs import predict_checks
from segmail.jobs.compute import predictive_segments
from segmail.jobs.config import AppConfig
from segmail.segments import clv, clv_check, day_reference, predictive
from segmail.segments.clv_data import CustomerSummary, as_of_end, summarise_days
from segmail.segments.predictive import buyer_summary, day_summaries
from segmail.store import feature_lock, predict_scores
from segmail.store.codec import from_us, to_us
from segmail.store.db import Store, StoreError
from segmail.store.erasure import ERASED_PREFIX, is_erased_key
from segmail.store.paid_orders import paid_order_arrays
from segmail.store.predict_fits import FitRow, fit_for, latest_fit, save_fit

# the export's columns, in order; numbers are written at full precision (repr), never rounded
EXPORT_COLUMNS = (
    "email",
    "frequency",
    "recency_days",
    "t_days",
    "p_alive",
    "expected_orders_90d",
    "expected_order_value",
    "predicted_clv_365d",
    "clv_percentile",
    "expected_next_order_at",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_group",
)
ExportValue = str | int | float


@dataclass(frozen=True, kw_only=True)
class Fitted:
    """A fit as stored, with the models and the summary it was fitted to."""

    fit_id: int
    as_of: datetime
    row: FitRow
    models: clv.Models
    summary: CustomerSummary


def summary_at(store: Store, config: AppConfig, as_of: datetime) -> CustomerSummary:
    """Every buyer's frequency, recency, T and spend from the paid orders up to `as_of`."""
    with store.engine.connect() as conn:
        return buyer_summary(
            conn, as_of=as_of, paid_statuses=config.segments.paid_statuses, currency=config.shop.currency
        )


def _summaries(store: Store, config: AppConfig, as_of: datetime) -> tuple[CustomerSummary, CustomerSummary]:
    with store.engine.connect() as conn:
        return day_summaries(
            conn, as_of=as_of, paid_statuses=config.segments.paid_statuses, currency=config.shop.currency
        )


def check(store: Store, config: AppConfig, *, as_of: datetime, holdout_days: int) -> clv_check.CheckResult:
    """`predict check`: fit BG/NBD to the paid orders up to `holdout_days` before `as_of`'s date and
    compare its predictions with the purchases of the last `holdout_days` days (segments.clv_check).

    One read of the paid orders up to `as_of`, split in memory at the calibration end. The calibration
    fit is not stored: it is a test of the model, not the fit the features use."""
    if holdout_days < 1:
        raise ValueError(f"--holdout-days must be at least 1, got {holdout_days}")
    with store.engine.connect() as conn:
        arrays = paid_order_arrays(
            conn,
            as_of_us=to_us(as_of),
            paid_statuses=config.segments.paid_statuses,
            currency=config.shop.currency,
        )
    holdout_end = as_of_end(as_of)
    calibration_end = holdout_end - timedelta(days=holdout_days)
    summary = summarise_days(arrays.customers, arrays.codes, arrays.days, arrays.amounts, calibration_end)
    models = clv.fit_models(summary)
    index, day = clv_check.holdout_purchase_days(summary, arrays.codes, arrays.days, holdout_end)
    return clv_check.check(models.bg_nbd.params, summary, index, day, holdout_end)


def fit(store: Store, config: AppConfig, *, as_of: datetime, now: datetime) -> Fitted:
    """Fit both models as of `as_of` and store them; PredictionRefused when the data is too thin."""
    summary = summary_at(store, config, as_of)
    models = clv.fit_models(summary)
    bg, gg = models.bg_nbd.params, models.gamma_gamma.params
    row = FitRow(
        as_of=to_us(as_of),
        fitted_at=to_us(now),
        customers=models.customers,
        repeat_customers=models.repeat_customers,
        log_likelihood=models.bg_nbd.log_likelihood,
        r=bg.r,
        alpha=bg.alpha,
        a=bg.a,
        b=bg.b,
        p=gg.p,
        q=gg.q,
        v=gg.v,
    )
    with store.engine.begin() as conn:
        fit_id = save_fit(conn, row)
    return Fitted(fit_id=fit_id, as_of=as_of, row=row, models=models, summary=summary)


def fit_document(fitted: Fitted) -> dict[str, object]:
    """The fit as `predict fit --format json` prints it (issue 13's shape)."""
    row = fitted.row
    return {
        "bg_nbd": {"r": row.r, "alpha": row.alpha, "a": row.a, "b": row.b, "time_unit": "day"},
        "gamma_gamma": {"p": row.p, "q": row.q, "v": row.v},
        "customers": row.customers,
        "repeat_customers": row.repeat_customers,
        "log_likelihood": row.log_likelihood,
        "as_of": fitted.as_of.isoformat().replace("+00:00", "Z"),
    }


def export_rows(
    store: Store, config: AppConfig, *, as_of: datetime, now: datetime
) -> Iterator[dict[str, ExportValue]]:
    """One row per buyer (EXPORT_COLUMNS), fitted afresh at `as_of`; the fit is stored like `predict fit`."""
    fitted = fit(store, config, as_of=as_of, now=now)
    summary = fitted.summary
    rate = config.predict.annual_discount_rate
    pred = clv.predict(fitted.models, summary, rate)
    before = _summaries(store, config, as_of)[1]  # relative scores against the day's yardstick, as in rules
    reference = day_reference.DayReference.of(before, clv.predict(fitted.models, before, rate))
    rel = day_reference.relative(summary, pred, reference)
    for i, email in enumerate(summary.customers):
        if is_erased_key(email):  # an erased person's anonymous orders count in the fit, but are nobody's row
            continue
        yield {
            "email": email,
            "frequency": int(summary.frequency[i]),
            "recency_days": int(summary.recency[i]),
            "t_days": int(summary.T[i]),
            "p_alive": float(pred.p_alive[i]),
            "expected_orders_90d": float(pred.expected_orders_90d[i]),
            "expected_order_value": float(pred.expected_order_value[i]),
            "predicted_clv_365d": float(pred.predicted_clv_365d[i]),
            "clv_percentile": float(rel.clv_percentile[i]),
            "expected_next_order_at": _iso_day(int(pred.expected_next_order_at[i])),
            "rfm_r": int(rel.rfm.r[i]),
            "rfm_f": int(rel.rfm.f[i]),
            "rfm_m": int(rel.rfm.m[i]),
            "rfm_group": rel.rfm.group[i],
        }


@dataclass(frozen=True, kw_only=True)
class Ranked:
    """Buyers ranked by predicted_clv_365d with the stored fit in force at T (the one rules use)."""

    fit_id: int
    fit: FitRow
    buyers: int
    top: list[dict[str, ExportValue]]  # highest CLV first
    bottom: list[dict[str, ExportValue]]  # lowest CLV first


def ranked(store: Store, config: AppConfig, *, as_of: datetime, n: int = 10) -> Ranked | None:
    """The `n` buyers with the highest and the lowest predicted CLV at `as_of`, scored with the stored fit
    a compute at `as_of` would use (store.predict_fits.fit_for); None while no fit is stored. Nothing is
    written: unlike `export`, this does not fit.

    Read from the scores the rules read (segments.predictive.score, in a transaction rolled back): while
    the last compute's scores are current, that only rescores the buyers of the day's new orders and the
    ranking is two top-n scans, a few hundred milliseconds at a million contacts instead of scoring
    every buyer (5 s); the same numbers, since the rules' scores are the export's. Without current
    scores (no rule reads predictions, or a fit newer than the last compute) it scores every buyer."""
    paid, currency = config.segments.paid_statuses, config.shop.currency
    with store.engine.begin() as conn:
        found = fit_for(conn, to_us(as_of))
        if found is None:
            return None
        fit_id, row = found
        # the scores are a cache a compute refreshes under this lock: take turns with it and the imports
        # (store.feature_lock), as `explain` does through the feature cache's refresh
        feature_lock.refreshing(conn)
        predictive.score(
            conn, as_of=as_of, paid_statuses=paid, currency=currency,
            annual_discount_rate=config.predict.annual_discount_rate,
        )  # fmt: skip
        top = predict_scores.extremes(conn, n, highest=True, skip_prefix=ERASED_PREFIX) if n else []
        bottom = predict_scores.extremes(conn, n, highest=False, skip_prefix=ERASED_PREFIX)
        buyers = predict_scores.count_people(conn, skip_prefix=ERASED_PREFIX)
        keys = {r["email_key"] for r in (*top, *bottom)}
        arrays = paid_order_arrays(
            conn, as_of_us=to_us(as_of), paid_statuses=paid, currency=currency, only=keys
        )
        conn.rollback()  # the scoring's writes were only the means
    summary = summarise_days(arrays.customers, arrays.codes, arrays.days, arrays.amounts, as_of_end(as_of))
    frequency = {k: int(f) for k, f in zip(summary.customers, summary.frequency, strict=True)}

    def entry(r: dict[str, Any]) -> dict[str, ExportValue]:
        return {
            "email": r["email_key"],
            "frequency": frequency[r["email_key"]],
            "p_alive": float(r["p_alive"]),
            "expected_orders_90d": float(r["expected_orders_90d"]),
            "predicted_clv_365d": float(r["predicted_clv_365d"]),
            "rfm_group": r["rfm_group"],
        }

    return Ranked(
        fit_id=fit_id, fit=row, buyers=buyers, top=[entry(r) for r in top], bottom=[entry(r) for r in bottom]
    )


def _iso_day(ordinal: int) -> str:
    """The date, or "" past the calendar's end (a rate so low the wait outlasts year 9999)."""
    return date.fromordinal(ordinal).isoformat() if ordinal <= date.max.toordinal() else ""


@dataclass(frozen=True, kw_only=True)
class Refit:
    """The service's refit: the stored fit, or why the data refused one (the step records it as failed)."""

    fitted: Fitted | None
    refused: str | None = None


def refit_skip_reason(store: Store, config: AppConfig, *, now: datetime) -> str | None:
    """Why the cycle need not refit now: no enabled rule reads a prediction, or the last fit is fresh."""
    if not predictive_segments(config):
        return "no enabled segment reads a prediction feature"
    with store.engine.connect() as conn:
        last = latest_fit(conn)
    if last is None:
        return None
    fitted_at = from_us(last.fitted_at)
    assert fitted_at is not None
    every = config.predict.refit_every
    if now - fitted_at < every:
        return f"the fit of {fitted_at.isoformat()} is younger than [predict] refit_every ({every})"
    return None


def refit(store: Store, config: AppConfig, *, as_of: datetime, now: datetime) -> Refit:
    """Fit and store (the cycle's "refit predictions" step), then keep the day's model check; too little
    data is a result, not a raise, so the cycle goes on and computes with the previous fit (or without
    predictions)."""
    try:
        fitted = fit(store, config, as_of=as_of, now=now)
    except clv.PredictionRefused as exc:
        return Refit(fitted=None, refused=str(exc))
    keep_check(store, config, as_of=as_of, holdout_days=predict_checks.DEFAULT_HOLDOUT_DAYS)
    return Refit(fitted=fitted)


def keep_check(
    store: Store, config: AppConfig, *, as_of: datetime, holdout_days: int
) -> clv_check.CheckResult | str:
    """Make the model check (or learn why the data refuses one) and keep it for the day
    (jobs/predict_checks.py): the workspace shows it without fitting while someone waits."""
    result: clv_check.CheckResult | str
    try:
        result = check(store, config, as_of=as_of, holdout_days=holdout_days)
    except clv.PredictionRefused as exc:
        result = str(exc)
    predict_checks.save(store, result, as_of=as_of, holdout_days=holdout_days)
    return result


def rules_check_warnings(config: AppConfig, store: Callable[[], Store]) -> list[str]:
    """`rules check`: a rule reading predictions while no fit is stored sees missing values everywhere."""
    readers = predictive_segments(config)
    if not readers:
        return []
    try:
        with store().engine.connect() as conn:
            last = latest_fit(conn)
    except StoreError as exc:
        return [f"cannot look for a prediction fit ({exc}); rules reading predictions need one"]
    if last is not None:
        return []
    return [
        f"segments.{name}.rule: reads {', '.join(names)}, but no prediction fit is stored, so these are"
        " missing for every contact and the segment stays empty; run `segmail predict fit` (the service"
        " refits every [predict] refit_every)"
        for name, names in readers.items()
    ]
