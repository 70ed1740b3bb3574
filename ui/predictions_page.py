"""Predictions: the stored fit's parameters, `predict check`'s figure (drawn by jobs/predict_plot.py with
matplotlib's Agg, served as PNG or SVG), and the buyers with the highest and lowest predicted CLV.

Nothing here fits or stores: the fit is `segmail predict fit`'s or the service's refit; the ranking
scores with the fit a compute would use now (jobs/predict.py `ranked`), and the check fits on the
calibration period in memory. Both read every paid order, so each is kept a while per fit and day.
"""

from __future__ import annotations

import io
import threading
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmail.jobs import predict
from segmail.jobs.predict_plot import write_plot
from segmail.segments.clv import PredictionRefused
from segmail.segments.clv_check import CheckResult
from segmail.store.codec import from_us
from segmail.store.predict_fits import latest_fit
from segmail.ui.views import Form, Page, page, render, workspace

HOLDOUT_DAYS = 91  # `predict check`'s default: 13 weeks
HEAVY_SECONDS = 600.0
TOP = 10
_PYPLOT = threading.Lock()  # pyplot keeps global state: one figure at a time


def _holdout(request: Request) -> int:
    try:
        days = int(request.query_params.get("holdout", HOLDOUT_DAYS))
    except ValueError:
        return HOLDOUT_DAYS
    return min(max(days, 7), 730)


def _check(request: Request, holdout: int) -> CheckResult | str:
    """The check's result, or why the data refused a fit."""
    ws = workspace(request)
    now = ws.now()

    def run() -> CheckResult | str:
        try:
            return predict.check(ws.store, ws.config(), as_of=now, holdout_days=holdout)
        except PredictionRefused as exc:
            return str(exc)

    return ws.memo(("check", now.date(), holdout), run, seconds=HEAVY_SECONDS)


def predictions(request: Request, form: Form) -> Response:
    """The fit at once; the check and the ranking (each reads every paid order) load into the page after."""
    ws = workspace(request)
    with ws.store.engine.connect() as conn:
        fit = latest_fit(conn)
    return render(
        request,
        "predictions.html",
        title="Predictions",
        fit=fit,
        fit_as_of=from_us(fit.as_of) if fit else None,
        fitted_at=from_us(fit.fitted_at) if fit else None,
        holdout=_holdout(request),
        rate=ws.config().predict.annual_discount_rate,
    )


def check_part(request: Request, form: Form) -> Response:
    holdout = _holdout(request)
    checked = _check(request, holdout)
    return render(
        request,
        "_predict_check.html",
        holdout=holdout,
        checked=checked if isinstance(checked, CheckResult) else None,
        refused=checked if isinstance(checked, str) else None,
    )


def ranked_part(request: Request, form: Form) -> Response:
    ws = workspace(request)
    now = ws.now()
    with ws.store.engine.connect() as conn:
        fit = latest_fit(conn)
    key = ("ranked", now.date(), fit.fitted_at if fit else None)
    ranked = ws.memo(
        key, lambda: predict.ranked(ws.store, ws.config(), as_of=now, n=TOP), seconds=HEAVY_SECONDS
    )
    return render(request, "_predict_ranked.html", ranked=ranked, fit=fit, now=now)


def plot(request: Request, form: Form) -> Response:
    fmt: Literal["png", "svg"] = "svg" if request.path_params["fmt"] == "svg" else "png"
    checked = _check(request, _holdout(request))
    if isinstance(checked, str):
        return Response(f"no check: {checked}\n", status_code=409, media_type="text/plain")
    buffer = io.BytesIO()
    with _PYPLOT:
        write_plot(checked, buffer, fmt=fmt)
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    # an SVG opened on its own is a document: it gets the strictest policy (no script, no load)
    return Response(
        buffer.getvalue(),
        media_type=media,
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


PAGE = Page(
    "predictions",
    "Predictions",
    "/predictions",
    [
        Route("/predictions", page(predictions)),
        Route("/predictions/check", page(check_part)),
        Route("/predictions/ranked", page(ranked_part)),
        Route("/predictions/check.{fmt:str}", page(plot)),
    ],
)
