"""Reports: `segmail report campaigns|segments|movements` for a period, as tables, charts and CSV downloads.

The figures are the CLI's own (jobs/report.py reads the store, reports/ computes; nothing is queried
here), and each download is the CSV `--format csv` writes for the same period (jobs/report_csv.py).
The period is two UTC dates from a GET form, `since` inclusive and `until` exclusive as in the CLI,
by default the 30 days up to and including the workspace's today. A report reads every paid order of
its period, so each is kept two minutes per period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmail.jobs import report
from segmail.jobs.report_csv import Rows, campaign_rows, csv_text, movement_rows, segment_rows
from segmail.reports.periods import DEFAULT_DAYS, Period, day, period
from segmail.ui import charts
from segmail.ui.views import Form, Page, page, render, workspace

REPORT_SECONDS = 120.0
MAX_DAYS = 3660  # ten years a page (the CLI reads any period): the daily sizes stay a few thousand values
MAX_POINTS = 366  # points per line in the sizes chart; a longer period shows every k-th day
PRESETS = (7, 30, 90, 365)  # days ending at the default `until`, offered as links
REVENUE_WAYS = (
    ("revenue", "by the members at the end"),
    ("revenue_while_member", "while a member"),
    ("attributed_revenue", "attributed to its campaigns"),
)


@dataclass(frozen=True, slots=True)
class Chosen:
    """The period the query asks for, or why it cannot be one; the texts refill the form either way."""

    period: Period | None
    problem: str | None
    since: str
    until: str


def chosen(request: Request) -> Chosen:
    since_text = request.query_params.get("since", "").strip()[:40]
    until_text = request.query_params.get("until", "").strip()[:40]
    today = workspace(request).now().date()
    try:
        p = period(day(since_text or None, "since"), day(until_text or None, "until"), today=today)
    except ValueError as exc:
        return Chosen(None, str(exc), since_text, until_text)
    if (p.until - p.since).days > MAX_DAYS:
        problem = f"the period has {(p.until - p.since).days:,} days; the page shows at most {MAX_DAYS:,}"
        return Chosen(None, problem, since_text, until_text)
    return Chosen(p, None, p.since.date().isoformat(), p.until.date().isoformat())


def _campaigns(request: Request, p: Period) -> report.CampaignReport:
    ws = workspace(request)
    key = ("report-campaigns", p)
    return ws.memo(key, lambda: report.campaign_report(ws.store, ws.config(), p), seconds=REPORT_SECONDS)


def _segments(request: Request, p: Period) -> report.SegmentReport:
    ws = workspace(request)
    key = ("report-segments", p)
    return ws.memo(key, lambda: report.segment_report(ws.store, ws.config(), p), seconds=REPORT_SECONDS)


def size_chart(result: report.SegmentReport) -> charts.LineChart | None:
    """Each segment's members at the end of each day of the period (of every k-th day, the last one
    included, when the period is longer than MAX_POINTS days); None before any compute."""
    series = report.daily_sizes(result)
    if not series.sizes:
        return None
    step = math.ceil(len(series.days) / MAX_POINTS)
    shown = range(len(series.days) - 1, -1, -step)[::-1]
    year = "%Y-" if step > 1 else ""
    labels = [f"{series.days[i] - timedelta(days=1):{year}%m-%d}" for i in shown]
    order = [r.segment for r in result.rows] + sorted(series.sizes)
    named = {
        name: [series.sizes[name][i] for i in shown] for name in dict.fromkeys(order) if name in series.sizes
    }
    title = "Segment members at the end of each day" if step == 1 else f"Segment members, every {step} days"
    return charts.line_chart(labels, named, title=title, width=720, height=240)


def revenue_chart(result: report.SegmentReport) -> charts.GroupedBarChart | None:
    if not result.rows:
        return None
    money = f" ({result.currency})" if result.currency else ""
    return charts.grouped_bar_chart(
        [r.segment for r in result.rows],
        {label: [float(getattr(r, key)) for r in result.rows] for key, label in REVENUE_WAYS},
        title=f"Revenue per segment{money}, three ways",
    )


def _presets(request: Request) -> list[tuple[int, str, str]]:
    default = period(None, None, today=workspace(request).now().date())
    until = default.until.date()
    return [(days, (until - timedelta(days=days)).isoformat(), until.isoformat()) for days in PRESETS]


def reports(request: Request, form: Form) -> Response:
    c = chosen(request)
    common: dict[str, Any] = {
        "title": "Reports", "chosen": c, "presets": _presets(request), "default_days": DEFAULT_DAYS,
    }  # fmt: skip
    if c.period is None:
        return render(request, "reports.html", status=400, **common)
    campaigns = _campaigns(request, c.period)
    segments = _segments(request, c.period)
    return render(
        request,
        "reports.html",
        **common,
        campaigns=campaigns,
        segments=segments,
        sizes=size_chart(segments),
        revenue=revenue_chart(segments),
    )


def _rows(request: Request, kind: str, p: Period) -> Rows:
    if kind == "campaigns":
        return campaign_rows(_campaigns(request, p))
    if kind == "segments":
        return segment_rows(_segments(request, p))
    ws = workspace(request)
    return movement_rows(report.movement_report(ws.store, p).movements)


def download(request: Request, form: Form) -> Response:
    """The CSV `segmail report KIND --since … --until … --format csv` writes, as a file."""
    kind = request.path_params["kind"]
    if kind not in ("campaigns", "segments", "movements"):
        return Response("no such report: campaigns, segments or movements\n", 404, media_type="text/plain")
    c = chosen(request)
    if c.period is None:
        return Response(f"{c.problem}\n", 400, media_type="text/plain")
    name = f"segmail-{kind}-{c.since}-to-{c.until}.csv"  # both dates parsed: nothing else in the name
    return Response(
        csv_text(_rows(request, kind, c.period)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


PAGE = Page(
    "reports",
    "Reports",
    "/reports",
    [
        Route("/reports", page(reports)),
        Route("/reports/{kind:str}.csv", page(download)),
    ],
)
