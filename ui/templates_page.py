"""Templates: every campaign's mail rendered per variant (segment, language, country, season) as a given
contact, at desktop and mobile widths, its plain-text part, and the `templates check` findings beside it.

The mail is what `segmail render` writes (jobs/preview.py): the same renderer, variant and merge-tag
filling. It is served on its own URL into a sandboxed frame whose policy forbids scripts and any
network load, so a template's own HTML can neither run code in the workspace nor call out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from segmail.connector.fields import FieldError
from segmail.jobs.config_check import check_templates
from segmail.jobs.preview import Preview, SampleContact, chosen_variant, preview, sample_contact
from segmail.sending.campaigns import CampaignDef
from segmail.sending.render import TemplateError, Variant, normalize_language
from segmail.store import contacts, memberships
from segmail.ui.views import Form, Page, message, page, render, workspace

# the mail's own page: inline styles (mail CSS is inlined) and nothing else, not even images from afar
MAIL_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
_COUNTRY = re.compile(r"[A-Z]{2}")
CHECK_SECONDS = 30.0  # the check renders every template in every language: kept a moment per config version
SAMPLE_ROWS = 20
SEASON_DATES = (("January", "01-15"), ("April", "04-15"), ("July", "07-15"), ("October", "10-15"))


@dataclass(frozen=True, slots=True)
class Shown:
    variant: Variant | None
    send_date: date | None
    contact: SampleContact | None
    contact_note: str
    result: Preview | None
    error: str | None
    choice: dict[str, str]  # the query that picks this rendering, for links


def index(request: Request, form: Form) -> Response:
    ws = workspace(request)
    config = ws.config()
    try:
        renderer = ws.renderer()
    except (OSError, ValueError) as exc:
        return message(request, "Templates cannot be loaded", f"send.templates_dir: {exc}", 500)
    checked = ws.memo(("templates check",), lambda: check_templates(config, renderer), seconds=CHECK_SECONDS)
    return render(
        request,
        "templates.html",
        title="Templates",
        campaigns=list(config.campaigns.values()),
        checked=checked,
        templates_dir=str(renderer.templates_dir),
        languages=renderer.languages,
    )


def _contact(request: Request, campaign: CampaignDef, chosen: str) -> tuple[SampleContact | None, str]:
    ws = workspace(request)
    if chosen == "none":
        return None, "no contact: merge tags stay as Mailchimp gets them"
    if not chosen:
        chosen = _sample(request, campaign.segment)
        if not chosen:
            return None, "no contact in the store yet: merge tags stay as Mailchimp gets them"
        note = "a sample member of the store"
    else:
        note = "the chosen contact"
    try:
        found = sample_contact(ws.store, chosen)
    except FieldError as exc:
        return None, f"not an email address ({exc}): merge tags stay"
    if found is None:
        return None, f"no contact {chosen!r} in the store: merge tags stay"
    return found, note


def _sample(request: Request, segment: str) -> str:
    """A subscribed member of the segment, read through the membership key (a few rows, not a sort of
    every contact), else any contact."""
    with workspace(request).store.engine.connect() as conn:
        keys = [key for key, _ in memberships.members(conn, segment, limit=SAMPLE_ROWS)]
        found = [contacts.find(conn, key) for key in keys]
        subscribed = [row.email for row in found if row is not None and row.status == "subscribed"]
        if subscribed or keys:
            return (subscribed or keys)[0]
        anyone = contacts.search(conn, "", limit=1)
    return anyone[0].email if anyone else ""


def _shown(request: Request, campaign: CampaignDef) -> Shown:
    ws = workspace(request)
    config = ws.config()
    q = request.query_params
    choice = {k: q.get(k, "").strip() for k in ("segment", "language", "country", "date", "contact")}
    renderer = ws.renderer()
    contact, note = _contact(request, campaign, choice["contact"])
    language = choice["language"] or (contact.language if contact else "")
    if language and language not in renderer.languages:
        language = normalize_language(language, renderer.languages)
    country = (choice["country"] or (contact.country if contact else "")).upper()
    if country and not _COUNTRY.fullmatch(country):
        country = ""
    try:
        day = date.fromisoformat(choice["date"]) if choice["date"] else None
    except ValueError:
        day = None
    as_of = datetime.combine(day, time(12), UTC) if day else ws.now()
    segment = choice["segment"] if choice["segment"] in config.segment_defs else None
    try:
        variant, local = chosen_variant(
            renderer,
            campaign,
            segment=segment,
            language=language or None,
            country=country,
            as_of=as_of,
            zone=config.send.default_timezone,
        )
        result = preview(renderer, campaign, variant, local, contact)
    except TemplateError as exc:
        return Shown(None, None, contact, note, None, str(exc.problem), choice)
    return Shown(variant, local, contact, note, result, None, choice)


def _campaign(request: Request) -> CampaignDef | None:
    return workspace(request).config().campaigns.get(request.path_params["name"])


def campaign_view(request: Request, form: Form) -> Response:
    ws = workspace(request)
    campaign = _campaign(request)
    if campaign is None:
        return message(request, "No such campaign", "There is no such [campaigns.NAME] in the config.", 404)
    try:
        renderer = ws.renderer()
    except (OSError, ValueError) as exc:
        return message(request, "Templates cannot be loaded", f"send.templates_dir: {exc}", 500)
    shown = _shown(request, campaign)
    config = ws.config()
    checked = ws.memo(
        ("templates check", campaign.template),
        lambda: check_templates(config, renderer, [campaign.template]),
        seconds=CHECK_SECONDS,
    )
    dims = renderer.dimensions(campaign.template, campaign.subject) if not checked.problems else frozenset()
    year = (shown.send_date or ws.now().date()).year
    return render(
        request,
        "template.html",
        title=f"Template of {campaign.name}",
        campaign=campaign,
        shown=shown,
        checked=checked,
        dims=sorted(dims),
        languages=renderer.languages,
        segments=list(ws.config().segment_defs),
        season_dates=[(label, f"{year}-{md}") for label, md in SEASON_DATES],
        mail_url=f"/templates/{campaign.name}/mail",
    )


def mail(request: Request, form: Form) -> Response:
    campaign = _campaign(request)
    if campaign is None:
        return HTMLResponse("no such campaign", status_code=404)
    shown = _shown(request, campaign)
    if shown.result is None:
        return HTMLResponse(
            "<p>This variant cannot be rendered; the page beside says why.</p>",
            status_code=422,
            headers={"Content-Security-Policy": MAIL_POLICY},
        )
    return HTMLResponse(shown.result.mail.html, headers={"Content-Security-Policy": MAIL_POLICY})


PAGE = Page(
    "templates",
    "Templates",
    "/templates",
    [
        Route("/templates", page(index)),
        Route("/templates/{name}", page(campaign_view)),
        Route("/templates/{name}/mail", page(mail)),
    ],
)
