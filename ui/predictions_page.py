"""Predictions: the stored fit's parameters, `predict check`'s figure (drawn by jobs/predict_plot.py with
matplotlib's Agg, served as PNG or SVG), and the buyers with the highest and lowest predicted CLV.

Nothing here fits a model the rules use: the fit is `segmail predict fit`'s or the service's refit. The
ranking reads the scores a compute would read now (jobs/predict.py `ranked`). The check is the one the
service's refit kept for the day (jobs/predict_checks.py); without one (another holdout, or no refit
today) it is made here, on the calibration period in memory, and kept for the day in turn.
"""

from __future__ import annotations

import io
import threading
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmail.jobs import predict, predict_checks
from segmail.jobs.predict_plot import write_plot
from segmail.segments.clv_check import CheckResult
from segmail.store.codec import from_us
from segmail.store.predict_fits import latest_fit
from segmail.ui.views import Form, Page, page, render, workspace

HOLDOUT_DAYS = predict_checks.DEFAULT_HOLDOUT_DAYS  # `predict check`'s, and the one the service's refit keeps
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
        kept = predict_checks.stored(ws.store, day=now.date(), holdout_days=holdout)
        if kept is not None:  # the service's refit made it today (or this workspace did)
            return kept
        return predict.keep_check(ws.store, ws.config(), as_of=now, holdout_days=holdout)

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
