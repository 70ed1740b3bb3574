"""Segments: each segment's rule, parameters, size and changes at the last compute; a member search (an
indexed prefix range on the contact key) and `explain` (jobs/segment_views.py), as `segments explain` shows it."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmail.connector.fields import FieldError, email_key
from segmail.jobs import segment_views
from segmail.store import contacts, memberships
from segmail.store.codec import from_us
from segmail.store.runs import last_run
from segmail.ui.views import Form, Page, message, page, render, workspace

SEARCH_LIMIT = 20
MEMBERS_PAGE = 50


def _as_of(request: Request) -> datetime:
    """`?as_of=` (ISO 8601 with an offset), else the workspace's clock."""
    text = request.query_params.get("as_of", "").strip()
    if text:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
    return workspace(request).now()


def segments(request: Request, form: Form) -> Response:
    ws = workspace(request)
    config = ws.config()
    with ws.store.engine.connect() as conn:
        run = last_run(conn, "compute")
    stats = run["stats"] if run else {}
    used_by: dict[str, list[str]] = {}
    for c in config.campaigns.values():
        used_by.setdefault(c.segment, []).append(c.name)
    return render(
        request,
        "segments.html",
        title="Segments",
        defs=list(config.segment_defs.values()),
        stats=stats,
        run=run,
        used_by=used_by,
        q=request.query_params.get("q", ""),
        results=_search(request, request.query_params.get("q", "")),
    )


def _search(request: Request, text: str) -> list[tuple[contacts.Found, list[str]]] | None:
    if not text.strip():
        return None
    ws = workspace(request)
    names = list(ws.config().segment_defs)
    with ws.store.engine.connect() as conn:
        found = contacts.search(conn, text, limit=SEARCH_LIMIT)
        held = memberships.segments_of(conn, [f.email_key for f in found], names)
    return [(f, held[f.email_key]) for f in found]


def search(request: Request, form: Form) -> Response:
    """The member search's result list alone (htmx swaps it in as you type), or the whole page."""
    q = request.query_params.get("q", "")
    if "hx-request" not in request.headers:
        return segments(request, form)
    return render(request, "_search_results.html", q=q, results=_search(request, q))


def members(request: Request, form: Form) -> Response:
    ws = workspace(request)
    name = request.path_params["name"]
    if name not in ws.config().segment_defs:
        return message(request, "No such segment", f"There is no segment {name!r} in the config.", 404)
    after = request.query_params.get("after", "")
    with ws.store.engine.connect() as conn:
        rows = memberships.members(conn, name, after=after, limit=MEMBERS_PAGE)
    return render(
        request,
        "members.html",
        title=f"Members of {name}",
        name=name,
        rows=[(key, from_us(at)) for key, at in rows],
        after=after,
        more=len(rows) == MEMBERS_PAGE,
    )


def explain(request: Request, form: Form) -> Response:
    ws = workspace(request)
    text = request.query_params.get("email", "")
    try:
        key = email_key(text)
    except FieldError as exc:
        return message(request, "Not an email address", str(exc), 400)
    scored = request.query_params.get("predictions") == "1"
    seen = segment_views.explain(ws.store, ws.config(), key, as_of=_as_of(request), with_predictions=scored)
    return render(
        request,
        "explain.html",
        title=f"Explain {key}",
        seen=seen,
        ex=seen.explanation,
        median=None if seen.median_repurchase_days is None else float(seen.median_repurchase_days),
        scored=seen.predictions,
        email=text,
    )


PAGE = Page(
    "segments",
    "Segments",
    "/segments",
    [
        Route("/segments", page(segments)),
        Route("/segments/search", page(search)),
        Route("/segments/explain", page(explain)),
        Route("/segments/{name}/members", page(members)),
    ],
)
