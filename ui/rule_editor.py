"""Rule editor: a segment's rule, parameters and `enabled`, checked as you type (the errors of `rules
check`, pointing at the column), previewed (who enters and leaves and why, as `segments preview`;
which campaigns that changes) and only then saved to the config file (jobs/config_edit.py).

Saving needs the preview of exactly the text being saved: the preview hands out an HMAC of the file
version and the edit, and the save refuses any other. The file is written only if it is still the
version the editor opened (else nothing is written and the editor says so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections import Counter
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from segmail.jobs import config_edit, segment_views
from segmail.jobs.config import AppConfig
from segmail.segments.config import SegmentDef
from segmail.segments.engine import Change
from segmail.store.runs import last_run
from segmail.ui.views import Form, Page, message, page, render, workspace

_KEY = secrets.token_bytes(32)  # signs previews; a restart only means previewing again
_COLUMN = re.compile(r"^segments\.([a-z0-9_]+)\.rule: column (\d+): (.*)$", re.S)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
SHOWN_CHANGES = 50


@dataclass(frozen=True, slots=True)
class Problem:
    text: str
    column: int | None  # 1-based column in the rule, when the problem points at one


def _edit(name: str, form: Form) -> config_edit.SegmentEdit:
    return config_edit.SegmentEdit(
        segment=name,
        rule=form.get("rule", "").replace("\r\n", "\n"),
        params_text=form.get("params", "").replace("\r\n", "\n"),  # a browser's form post sends CRLF
        enabled=form.get("enabled") == "on",
    )


def _digest(base: str, edit: config_edit.SegmentEdit) -> str:
    fields = [base, edit.segment, edit.normalised_rule(), edit.params_text.strip(), edit.enabled]
    return hmac.new(_KEY, json.dumps(fields).encode(), hashlib.sha256).hexdigest()


def _problems(name: str, texts: list[str]) -> list[Problem]:
    out = []
    for text in texts:
        m = _COLUMN.match(text)
        column = int(m.group(2)) if m and m.group(1) == name else None
        out.append(Problem(text, column))
    return out


def rules(request: Request, form: Form) -> Response:
    config = workspace(request).config()
    return render(request, "rules.html", title="Rules", defs=list(config.segment_defs.values()))


def new(request: Request, form: Form) -> Response:
    name = request.query_params.get("name", "").strip()
    if _NAME.fullmatch(name) is None:
        return message(
            request,
            "Not a segment name",
            "A segment name is lower case letters, digits and _, starting with a letter.",
            400,
        )
    return RedirectResponse(f"/rules/{name}", status_code=303)


def _current(config: AppConfig, name: str) -> SegmentDef | None:
    return config.segment_defs.get(name)


def editor(
    request: Request,
    form: Form,
    *,
    saved: config_edit.Saved | None = None,
    status: int = 200,
    refused: str | None = None,
) -> Response:
    ws = workspace(request)
    name = request.path_params["name"]
    if _NAME.fullmatch(name) is None:
        return message(
            request, "Not a segment name", "A segment name is lower case letters, digits and _.", 404
        )
    config = ws.config()
    defn = _current(config, name)
    version = ws.version()
    values = {
        "rule": form.get("rule", defn.rule if defn else ""),
        "params": form.get("params", config_edit.params_text(defn.params) if defn else ""),
        "enabled": (form.get("enabled") == "on") if form else (defn.enabled if defn else True),
    }
    return render(
        request,
        "rule_editor.html",
        status=status,
        title=f"Edit {name}",
        name=name,
        defn=defn,
        values=values,
        base=version.token() if version else "",
        editable=ws.path is not None,
        path=str(ws.path) if ws.path else None,
        saved=saved,
        refused=refused,
        sync_every=config.schedule.sync_every,
    )


def check(request: Request, form: Form) -> Response:
    ws = workspace(request)
    name = request.path_params["name"]
    if ws.path is None:
        return render(request, "_rule_check.html", problems=[], rule="", valid=False, no_file=True)
    edit = _edit(name, form)
    edited = config_edit.prepare(ws.path, edit, ws.env)
    return render(
        request,
        "_rule_check.html",
        problems=_problems(name, edited.problems),
        rule=edit.normalised_rule(),
        valid=not edited.problems,
        no_file=False,
    )


def preview(request: Request, form: Form) -> Response:
    ws = workspace(request)
    name = request.path_params["name"]
    if ws.path is None:
        return render(request, "_rule_check.html", problems=[], rule="", valid=False, no_file=True)
    edit = _edit(name, form)
    edited = config_edit.prepare(ws.path, edit, ws.env)
    if edited.problems or edited.config is None:
        return render(
            request,
            "_rule_check.html",
            problems=_problems(name, edited.problems),
            rule=edit.normalised_rule(),
            valid=False,
            no_file=False,
        )
    with ws.store.engine.connect() as conn:
        run = last_run(conn, "compute")
    at_last = form.get("at") != "now" and run is not None
    as_of = run["as_of"] if at_last and run is not None else ws.now()
    totals: Counter[tuple[str, str]] = Counter()
    shown: dict[str, list[Change]] = {"enter": [], "leave": []}
    with segment_views.previewed(ws.store, edited.config, as_of=as_of, base=ws.config()) as seen:
        for change in seen.changes:
            totals[(change.segment, change.action)] += 1
            if change.segment == name and len(shown[change.action]) < SHOWN_CHANGES:
                shown[change.action].append(change)
        segments = seen.segments
    campaigns = [c for c in edited.config.campaigns.values() if c.segment == name]
    return render(
        request,
        "_rule_preview.html",
        name=name,
        as_of=as_of,
        at_last=at_last,
        run=run,
        totals=totals,
        segments=segments,
        shown=shown,
        campaigns=campaigns,
        digest=_digest(form.get("base", ""), edit),
        can_save=not ws.read_only,
    )


def save(request: Request, form: Form) -> Response:
    ws = workspace(request)
    name = request.path_params["name"]
    if ws.path is None:
        return message(
            request, "No config file", "Start the workspace with --config FILE to edit rules.", 400
        )
    edit = _edit(name, form)
    base = form.get("base", "")
    if not hmac.compare_digest(form.get("previewed", ""), _digest(base, edit)):
        return editor(
            request,
            form,
            status=409,
            refused="Preview this version of the rule first: the save "
            "writes exactly what the last preview showed, and the text changed since (or was never previewed).",
        )
    try:
        saved = config_edit.save(ws.path, edit, expected=base, env=ws.env, now=ws.now())
    except config_edit.FileChanged as exc:
        return editor(request, form, status=409, refused=str(exc))
    except config_edit.EditRefused as exc:
        return editor(request, form, status=400, refused=str(exc))
    except OSError as exc:
        return editor(request, form, status=500, refused=f"not saved: {exc.strerror or exc}")
    return editor(request, {}, saved=saved)


PAGE = Page(
    "rules",
    "Rules",
    "/rules",
    [
        Route("/rules", page(rules)),
        Route("/rules/new", page(new)),
        Route("/rules/{name}", page(editor)),
        Route("/rules/{name}/check", page(check), methods=["POST"]),
        Route("/rules/{name}/preview", page(preview), methods=["POST"]),
        Route("/rules/{name}/save", page(save, writes=True), methods=["POST"]),
    ],
)
