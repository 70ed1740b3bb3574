"""Overview: the last cycle and its steps, errors, next sends, segment sizes with their trend, and what
Mailchimp confirmed against what is still to push (jobs/status.py, store/esp.py, store/runs.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmail.jobs.status import status_report
from segmail.sending.unsent import UNSENT_REASONS
from segmail.store.codec import from_us
from segmail.store.db import Store
from segmail.store.esp import SegmentCounts, segment_counts
from segmail.store.runs import recent_runs
from segmail.ui import charts
from segmail.ui.views import Form, Page, page, render, workspace

TREND_RUNS = 30
# whole-table counts (3.5 s at a million contacts) are read again after every run, else every 5 minutes
FIGURES_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class SegmentLine:
    name: str
    enabled: bool
    members: int
    tagged: int  # Mailchimp confirmed
    to_add: int
    to_remove: int
    not_in_audience: int


def _latest_run_id(request: Request) -> int | None:
    with workspace(request).store.engine.connect() as conn:
        runs = recent_runs(conn, "compute", limit=1) + recent_runs(conn, "cycle", limit=1)
    return max((int(r["id"]) for r in runs), default=None)


def _segment_counts(store: Store) -> dict[str, SegmentCounts]:
    with store.engine.connect() as conn:
        return segment_counts(conn)


def _figures(request: Request) -> dict[str, Any]:
    ws = workspace(request)
    config = ws.config()
    # the two whole-table reads (contacts by status; memberships against Mailchimp's) run side by side,
    # each on its own connection: SQLite lets go of the GIL while it reads
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segmail-overview") as pool:
        counted = pool.submit(_segment_counts, ws.store)
        report = status_report(ws.store, config, now=ws.now(), segments=False)
        counts = counted.result()
    lines = []
    with ws.store.engine.connect() as conn:
        for name, defn in config.segment_defs.items():
            found = counts.get(name)
            lines.append(
                SegmentLine(
                    name=name,
                    enabled=defn.enabled,
                    members=found.members if found else 0,
                    tagged=found.tagged if found else 0,
                    to_add=found.pending.to_add if found else 0,
                    to_remove=found.pending.to_remove if found else 0,
                    not_in_audience=found.pending.not_in_audience if found else 0,
                )
            )
        computes = list(reversed(recent_runs(conn, "compute", limit=TREND_RUNS)))
    computes = [r for r in computes if r["status"] == "ok"]
    labels = [(from_us(r["as_of"]) or from_us(r["started_at"])).strftime("%m-%d %H:%M") for r in computes]  # type: ignore[union-attr]
    series = {
        name: [r["stats"].get(name, {}).get("size") for r in computes]
        for name, defn in config.segment_defs.items()
        if defn.enabled
    }
    trend = charts.line_chart(labels, series, title="Segment sizes at each compute") if computes else None
    return {"report": report, "lines": lines, "trend": trend}


def overview(request: Request, form: Form) -> Response:
    ws = workspace(request)
    key = ("overview", _latest_run_id(request))
    figures = ws.memo(key, lambda: _figures(request), seconds=FIGURES_SECONDS)
    report = figures["report"]
    sends = [j for j in report["next_jobs"] if j["id"].startswith("send:")]
    return render(
        request,
        "overview.html",
        title="Overview",
        report=report,
        health=report["health"],
        last=report["last_run"],
        lines=figures["lines"],
        trend=figures["trend"],
        next_sends=[{**j, "campaign": j["id"].split(":", 2)[1]} for j in sends[:10]],
        next_cycle=next((j for j in report["next_jobs"] if not j["id"].startswith("send:")), None),
        unsent=report["send_unsent"],
        unsent_meaning=UNSENT_REASONS,
        now=ws.now(),
    )


PAGE = Page("overview", "Overview", "/", [Route("/", page(overview))])
