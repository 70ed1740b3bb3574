"""The workspace as an ASGI application: the pages of ui/nav.py, the login, the vendored static files.

Starlette (with uvicorn, ui/server.py) is the stack: a small, well-kept ASGI toolkit whose routing,
requests and static files are all the workspace needs, rendering the Jinja segmail already uses;
pages are built on the server and htmx (vendored, 0BSD licence beside it in static/) swaps in the
few live parts (the rule check as you type, the preview, the member search). No front-end build.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from segmail.ui import security
from segmail.ui.nav import PAGES
from segmail.ui.views import Form, Guard, page, render, session
from segmail.ui.workspace import Workspace

STATIC = Path(__file__).resolve().parent / "static"


def _safe_next(target: str) -> str:
    """Only a path of this site after a login: never `//other.example` or a full URL."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def login(request: Request, form: Form) -> Response:
    token: str | None = request.app.state.token
    target = _safe_next(form.get("next") or request.query_params.get("next", "/"))
    if token is None or session(request).authed:
        return RedirectResponse(target, status_code=303)
    throttle: security.LoginThrottle = request.app.state.throttle
    error = None
    if request.method == "POST":
        if throttle.blocked():
            error = "Too many wrong tokens: wait a minute, then try again."
        elif security.same(form.get("token", ""), token):
            sessions: security.Sessions = request.state.sessions
            request.state.session = sessions.login(session(request))
            return RedirectResponse(target, status_code=303)
        else:
            throttle.failed()
            error = "That is not the token."
    return render(
        request, "login.html", status=401 if error else 200, title="Log in", error=error, next=target
    )


def logout(request: Request, form: Form) -> Response:
    sessions: security.Sessions = request.state.sessions
    sessions.drop(session(request))
    request.state.session = sessions.new(authed=request.app.state.token is None)
    return RedirectResponse("/login" if request.app.state.token else "/", status_code=303)


def build_app(
    workspace: Workspace, *, host: str, port: int, token: str | None, https: bool = False
) -> Starlette:
    """The application for one address; `check_exposure` must have passed for it (ui/server.py)."""
    routes: list[BaseRoute] = [
        Route("/login", page(login), methods=["GET", "POST"]),
        Route("/logout", page(logout), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    for p in PAGES:
        routes.extend(p.routes)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, hosts=security.allowed_hosts(host, port), token=token, https=https)],
    )
    app.state.workspace = workspace
    app.state.pages = PAGES
    app.state.token = token
    app.state.throttle = security.LoginThrottle()
    return app
