"""What every page shares: the Jinja environment, the page wrapper (form, CSRF, read-only) and the guard.

One Jinja environment with autoescape on for every template and StrictUndefined: every value a page
shows (a rule, a template name, an email) is escaped, and a misspelt variable fails the page instead
of printing nothing. Handlers are plain functions run in a worker thread, so a slow query never
stalls the server's event loop.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from segmail.jobs.textfmt import pairs
from segmail.ui import security
from segmail.ui.workspace import Workspace

if TYPE_CHECKING:
    from starlette.types import ASGIApp

MAX_FORM_BYTES = 256 * 1024
Form = Mapping[str, str]
Handler = Callable[[Request, Form], Response]

# Content-Security-Policy of the workspace's pages: scripts and styles only from the workspace itself
# (the vendored htmx and the stylesheet), no inline script, no plugin, framed only by itself
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)


@dataclass(frozen=True)
class Page:
    """One entry of the navigation and the routes behind it (ui/nav.py lists them)."""

    key: str
    title: str
    path: str
    routes: Sequence[BaseRoute]


def _fmt_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _fmt_int(value: int | float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _fmt_money(value: Decimal | None, digits: int = 2) -> str:
    """Money as the reports compute it (an exact Decimal), grouped; "-" where not applicable."""
    return "-" if value is None else f"{value:,.{digits}f}"


def _url(path: str, **query: Any) -> str:
    """A link with its query string encoded (autoescape then escapes it for the attribute)."""
    params = {k: v for k, v in query.items() if v not in (None, "")}
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


ENV = Environment(
    loader=PackageLoader("segmail.ui", "pages"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["when"] = _fmt_time
ENV.filters["num"] = _fmt_int
ENV.filters["money"] = _fmt_money
ENV.filters["pairs"] = pairs
ENV.globals["url"] = _url


def compile_pages() -> None:
    """Compile every page template once. A page's first answer otherwise spends a few hundred
    milliseconds compiling its templates; server.prepare runs this in a thread while it starts."""
    for name in ENV.list_templates(extensions=["html"]):
        ENV.get_template(name)


def workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def session(request: Request) -> security.Session:
    s: security.Session = request.state.session
    return s


def render(request: Request, template: str, /, status: int = 200, **context: Any) -> HTMLResponse:
    ws = workspace(request)
    config = ws.config()
    html = ENV.get_template(template).render(
        pages=request.app.state.pages,
        here=request.url.path,
        csrf=session(request).csrf,
        read_only=ws.read_only,
        auth=request.app.state.token is not None,
        config_problems=ws.problems,
        config_origin=config.origin,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def message(request: Request, title: str, text: str, status: int) -> HTMLResponse:
    return render(request, "message.html", status=status, title=title, text=text)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form (the only kind the pages send); the last value of a repeated field wins."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def page(handler: Handler, *, writes: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: a POST must carry the session's CSRF token; `writes` are refused in read-only mode."""

    async def endpoint(request: Request) -> Response:
        form: dict[str, str] = {}
        if request.method == "POST":
            form = await read_form(request)
            if not security.same(form.get("csrf", ""), session(request).csrf):
                return message(
                    request,
                    "Form expired",
                    "This form did not come from this session (it expired, or another site sent it); "
                    "nothing was changed. Reload the page and try again.",
                    403,
                )
            if writes and workspace(request).read_only:
                return message(
                    request, "Read-only", "This workspace is read-only: nothing can be saved.", 403
                )
        return await run_in_threadpool(handler, request, form)

    return endpoint


OPEN_PATHS = ("/login", "/static/")


class Guard(BaseHTTPMiddleware):
    """Host check, session cookie, login and the security headers of every response."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None, token: str | None, https: bool) -> None:
        super().__init__(app)
        self.hosts = hosts
        self.token = token
        self.https = https
        self.sessions = security.Sessions()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = request.headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            return Response("unexpected Host header\n", status_code=400, media_type="text/plain")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            scheme = "https" if self.https else "http"
            if origin is not None and origin.lower() != f"{scheme}://{host}":
                return Response("cross-site request refused\n", status_code=403, media_type="text/plain")
        found = self.sessions.get(request.cookies.get(security.COOKIE))
        current = found or self.sessions.new(authed=self.token is None)
        request.state.session = current
        request.state.sessions = self.sessions
        if not current.authed and not request.url.path.startswith(OPEN_PATHS):
            if request.method == "GET" and "hx-request" not in request.headers:
                target = "/login?" + urllib.parse.urlencode({"next": request.url.path})
                response: Response = RedirectResponse(target, status_code=303)
            else:
                response = Response("log in first\n", status_code=401, media_type="text/plain")
        else:
            response = await call_next(request)
        final: security.Session = request.state.session  # a login replaces it
        if final is not found:
            response.set_cookie(
                security.COOKIE, final.sid, httponly=True, secure=True, samesite="strict", path="/"
            )
        headers = response.headers
        headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        # same-origin, not no-referrer: with no-referrer a browser's form post says `Origin: null`, which
        # the cross-site check refuses; other sites still never see a workspace URL (an email in a query)
        headers["Referrer-Policy"] = "same-origin"
        headers.setdefault("Cache-Control", "no-store")
        return response
