"""Sends: a campaign's send plan (its recipients by local send time and by UTC instant, the skipped ones
and the rule that skipped them) as `segmail send plan` computes it, and the ledger's state per bucket.

The plan is the Sender's own (jobs/send.py) with no Mailchimp client and nothing written; the page only
counts its rows. Plans read every member of the segment, so one is kept a minute per campaign.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmail.jobs.plan_notes import plan_source, why_nobody
from segmail.jobs.send import Sender
from segmail.sending.campaigns import CampaignDef
from segmail.sending.render import TemplateError
from segmail.sending.unsent import FREQUENCY_CAP, LATE
from segmail.store import ledger_views
from segmail.ui import charts
from segmail.ui.views import Form, Page, message, page, render, workspace

PLAN_SECONDS = 60.0
MAX_INSTANTS = 48  # bars in the UTC chart; later instants are summed into the last


@dataclass(frozen=True, slots=True)
class PlanFigures:
    recipients: int
    buckets: int
    by_local: list[tuple[str, int]]  # HH:MM in the recipient's zone
    by_utc: list[tuple[datetime, int]]
    skipped: list[tuple[str, int, str]]  # reason, recipients, the rule
    zones: list[tuple[str, int]]
    source: str
    nobody: str | None


def rule_of(reason: str, campaign: CampaignDef, min_hours: float) -> str:
    """The documented rule behind a skip reason (README "Campaigns and templates")."""
    if reason == FREQUENCY_CAP:
        return f"frequency cap: another segmail mail within [send] min_hours_between ({min_hours:g} h)"
    if reason == LATE:
        return "late policy: the slot passed longer ago than [send] late_policy allows"
    if reason.startswith("status "):
        return "not subscribed in Mailchimp: campaigns reach subscribed members only"
    return "see `segmail send plan`"


def _plan(request: Request, campaign: CampaignDef) -> PlanFigures:
    ws = workspace(request)
    config = ws.config()
    now = ws.now()
    sender = Sender(ws.store, config, None, ws.renderer(), now=lambda: now)
    since_us = sender.since(campaign, write=False)
    # counted per (instant, zone) first: a million recipients share a few thousand of them, so the
    # local time is worked out once per pair, not once per recipient
    sends: Counter[tuple[datetime, str]] = Counter()
    zones: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    buckets: set[str] = set()
    n = 0
    for p in sender.plan(campaign, now=now, since_us=since_us):
        n += 1
        zones[p.zone] += 1
        if p.send_at is None:
            skipped[p.reason] += 1
            continue
        buckets.add(p.bucket_key)
        sends[(p.send_at, p.zone)] += 1
    local: Counter[str] = Counter()
    utc: Counter[datetime] = Counter()
    tz: dict[str, ZoneInfo] = {}
    for (at, name), count in sends.items():
        utc[at] += count
        zone = tz.get(name) or tz.setdefault(name, ZoneInfo(name))
        local[at.astimezone(zone).strftime("%H:%M")] += count
    source = plan_source(ws.store, campaign, since_us=since_us)
    nobody = (
        why_nobody(source, campaign, since_us=since_us, skipped=skipped) if n == skipped.total() else None
    )
    hours = config.send.min_hours_between
    return PlanFigures(
        recipients=n,
        buckets=len(buckets),
        by_local=sorted(local.items()),
        by_utc=sorted(utc.items()),
        skipped=[(r, c, rule_of(r, campaign, hours)) for r, c in skipped.most_common()],
        zones=zones.most_common(8),
        source=source.describe(),
        nobody=nobody,
    )


def _utc_bars(by_utc: list[tuple[datetime, int]]) -> list[tuple[str, int]]:
    bars = [(at.strftime("%m-%d %H:%M"), n) for at, n in by_utc[:MAX_INSTANTS]]
    rest = sum(n for _, n in by_utc[MAX_INSTANTS:])
    if rest:
        bars.append(("later", rest))
    return bars


def sends(request: Request, form: Form) -> Response:
    ws = workspace(request)
    config = ws.config()
    campaigns = list(config.campaigns.values())
    if not campaigns:
        return render(request, "sends.html", title="Sends", campaigns=[], campaign=None)
    name = request.query_params.get("campaign") or next(
        (c.name for c in campaigns if c.enabled), campaigns[0].name
    )
    campaign = config.campaigns.get(name)
    if campaign is None:
        return message(request, "No such campaign", "There is no such [campaigns.NAME] in the config.", 404)
    try:
        figures = ws.memo(
            ("plan", name, ws.now().replace(second=0, microsecond=0)),
            lambda: _plan(request, campaign),
            seconds=PLAN_SECONDS,
        )
        plan_error = None
    except (OSError, ValueError, TemplateError) as exc:  # templates that cannot be loaded or rendered
        figures, plan_error = None, str(exc)
    with ws.store.engine.connect() as conn:
        buckets = ledger_views.buckets(conn, name)
        ledger_skips = ledger_views.skips(conn, name)
    return render(
        request,
        "sends.html",
        title=f"Sends of {name}",
        campaigns=campaigns,
        campaign=campaign,
        figures=figures,
        plan_error=plan_error,
        local_chart=charts.bar_chart(figures.by_local, title="Recipients by local send time")
        if figures and figures.by_local
        else None,
        utc_chart=charts.bar_chart(
            _utc_bars(figures.by_utc), title="Recipients by UTC instant (one Mailchimp schedule each)"
        )
        if figures and figures.by_utc
        else None,
        buckets=buckets,
        ledger_skips=[
            (r, c, rule_of(r, campaign, config.send.min_hours_between)) for r, c in ledger_skips.items()
        ],
        now=ws.now(),
    )


PAGE = Page("sends", "Sends", "/sends", [Route("/sends", page(sends))])
