"""The Predictions page's ranking (jobs/predict.py `ranked`) reads the scores the rules read: it must give
the numbers a scoring of every buyer from the orders gives, on SQLite and PostgreSQL, before and after
the day's new orders, and leave nothing behind (it rolls its scoring back)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select

from segmail.connector.records import Order
from segmail.jobs import predict, predict_checks
from segmail.segments import clv, day_reference, predictive
from segmail.segments.bgnbd import BgNbdParams
from segmail.segments.clv_check import CheckResult
from segmail.segments.gamma_gamma import GammaGammaParams
from segmail.segments.predictive import day_summaries
from segmail.store.codec import to_us
from segmail.store.db import get_meta
from segmail.store.erasure import ERASED_PREFIX, erase_people
from segmail.store.predict_fits import fit_for
from segmail.store.predict_scores import FINGERPRINT_KEY
from segmail.store.schema import predict_scores
from segmail.store.writer import write_records
from tests.test_predict_day_scores import CONFIG, DAY_START, cdnow, email  # noqa: F401  (cdnow: fixture)


def _from_orders(store, at, n):
    """The ranking as a scoring of every buyer from the paid orders makes it (the former implementation)."""
    with store.engine.connect() as conn:
        _, row = fit_for(conn, to_us(at))
        summary, before = day_summaries(conn, as_of=at, paid_statuses=["paid"], currency=None)
    bg = BgNbdParams(r=row.r, alpha=row.alpha, a=row.a, b=row.b)
    gg = GammaGammaParams(p=row.p, q=row.q, v=row.v)
    pred = clv.predict_with(bg, gg, summary, 0.0)
    reference = day_reference.DayReference.of(before, clv.predict_with(bg, gg, before, 0.0))
    groups = day_reference.relative(summary, pred, reference).rfm.group
    order = [int(i) for i in np.argsort(pred.predicted_clv_365d, kind="stable")]

    def entry(i):
        return (summary.customers[i], int(summary.frequency[i]), float(pred.p_alive[i]),
                float(pred.expected_orders_90d[i]), float(pred.predicted_clv_365d[i]), groups[i])  # fmt: skip

    return len(summary), [entry(i) for i in reversed(order[-n:])], [entry(i) for i in order[:n]]


def _rows(entries):
    return [(e["email"], e["frequency"], e["p_alive"], e["expected_orders_90d"], e["predicted_clv_365d"],
             e["rfm_group"]) for e in entries]  # fmt: skip


def _same(got, want):
    assert [(r[0], r[1], r[5]) for r in got] == [(r[0], r[1], r[5]) for r in want]
    for a, b in zip(got, want, strict=True):
        assert a[2:5] == pytest.approx(b[2:5], rel=1e-12, abs=1e-12)


def test_the_ranking_read_from_the_scores_equals_scoring_everyone_from_the_orders(cdnow):  # noqa: F811
    store, n = cdnow
    at = DAY_START + timedelta(hours=10)
    ranked = predict.ranked(store, CONFIG, as_of=at, n=10)
    assert ranked is not None
    buyers, top, bottom = _from_orders(store, at, 10)
    assert ranked.buyers == buyers == 2357
    _same(_rows(ranked.top), top)
    _same(_rows(ranked.bottom), bottom)
    with store.engine.connect() as conn:  # rolled back: no scores kept, the compute's to make
        assert get_meta(conn, FINGERPRINT_KEY) is None
        assert conn.execute(select(predict_scores)).first() is None

    with store.engine.begin() as conn:  # the scores a compute keeps: the ranking reads them from here on
        predictive.score(conn, as_of=at, paid_statuses=["paid"], currency=None, annual_discount_rate=0.0)
    kept = _stored(store)
    # a big order of the day makes a new top buyer (rescored alone, in the ranking's rolled-back scoring)
    whale = Order(order_id=f"o{n}", email_key=email("0007"), created_at=DAY_START + timedelta(hours=9),
                  total=Decimal("9000.00"), currency="USD", status="paid")  # fmt: skip
    with store.engine.begin() as conn:
        write_records(conn, [whale], source="test", now_us=to_us(DAY_START + timedelta(hours=9)))
    again = predict.ranked(store, CONFIG, as_of=at, n=10)
    assert again is not None and again.top[0]["email"] == email("0007")
    buyers, top, bottom = _from_orders(store, at, 10)
    _same(_rows(again.top), top)
    _same(_rows(again.bottom), bottom)
    assert _stored(store) == kept  # the compute's scores as they were

    with store.engine.begin() as conn:  # an erased buyer's anonymous orders are nobody's row
        erase_people(conn, [email("0007")], now_us=to_us(at))
    erased = predict.ranked(store, CONFIG, as_of=at, n=10)
    assert erased is not None and erased.buyers == buyers - 1
    assert all(not e["email"].startswith(ERASED_PREFIX) for e in (*erased.top, *erased.bottom))
    assert email("0007") not in {e["email"] for e in erased.top}


def _stored(store):
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(predict_scores)))


def test_no_ranking_without_a_fit(store):
    assert predict.ranked(store, CONFIG, as_of=DAY_START, n=10) is None


def test_the_refit_keeps_the_days_model_check_for_the_workspace(cdnow):  # noqa: F811
    store, _ = cdnow
    at = DAY_START + timedelta(hours=10)
    holdout = predict_checks.DEFAULT_HOLDOUT_DAYS
    assert predict_checks.stored(store, day=at.date(), holdout_days=holdout) is None
    refit = predict.refit(store, CONFIG, as_of=at, now=at)
    assert refit.fitted is not None
    kept = predict_checks.stored(store, day=at.date(), holdout_days=holdout)
    made = predict.check(store, CONFIG, as_of=at, holdout_days=holdout)
    assert isinstance(kept, CheckResult) and predict_checks.document(kept) == predict_checks.document(made)
    assert predict_checks.stored(store, day=at.date(), holdout_days=holdout + 1) is None  # another holdout
    assert predict_checks.stored(store, day=(at + timedelta(days=1)).date(), holdout_days=holdout) is None

    # a workspace check for another holdout is made once, then kept; a refusal is kept as its text
    other = predict.keep_check(store, CONFIG, as_of=at, holdout_days=28)
    again = predict_checks.stored(store, day=at.date(), holdout_days=28)
    assert isinstance(other, CheckResult) and isinstance(again, CheckResult)
    assert predict_checks.document(again) == predict_checks.document(other)
    refused = predict.keep_check(store, CONFIG, as_of=at, holdout_days=700)  # calibration before any order
    assert isinstance(refused, str)
    assert predict_checks.stored(store, day=at.date(), holdout_days=700) == refused
