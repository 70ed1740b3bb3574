"""Template failures as one error type with file and line, so marketers see where to fix, not a Jinja trace."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from jinja2 import TemplateNotFound, TemplateRuntimeError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from segmail.segments.suggest import did_you_mean

SUBJECT_FILE = "<subject>"
_UNDEFINED_NAME = re.compile(r"^'(\w+)' is undefined$")
# Jinja's wording: "No filter named 'x'." when compiling, "No test named 'x' found." when a test
# inside `{% if %}` is only looked up as the branch runs
_NO_SUCH = re.compile(r"^No (filter|test) named '([^']*)'")
# the template name Jinja's static analysis (jinja2.meta) compiles under: not a file anyone can open
_INTROSPECTION = "<introspection>"
KnownNames = Mapping[str, Collection[str]]  # "filter" and "test" -> the names the environment has


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class TemplateError(Exception):
    """Raised for every template failure (syntax, unknown variable, sandbox, missing file, bad CSS).

    Callers catch this one type; the Jinja exception that caused it is kept as `__cause__`.
    """

    def __init__(self, problem: TemplateProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def display_name(templates_dir: Path, name: str) -> str:
    """Names are shown as `templates/welcome.html`, the path a marketer opens in the repository."""
    return name if name == SUBJECT_FILE else f"{templates_dir.name}/{name}"


def unknown_name_message(kind: str, name: str, known: Collection[str]) -> str:
    """`unknown filter 'x' (did you mean 'y'?)`: the one wording of the static check and of a render."""
    return f"unknown {kind} '{name}'{did_you_mean(name, known)}"


def problem_from_exception(
    exc: BaseException, templates_dir: Path, current: str, known: KnownNames | None = None
) -> TemplateProblem:
    """`current` is the file being rendered: used when the failure cannot be traced into a template.

    `known` (the environment's filters and tests) lets an unknown one be answered with a suggestion.
    """
    no_such = _NO_SUCH.match(getattr(exc, "message", None) or "")
    if isinstance(exc, TemplateSyntaxError):
        named = exc.name if exc.name != _INTROSPECTION else None
        source = named or _name_in(templates_dir, exc.filename) or current
        message = f"syntax error: {exc.message}"
        if no_such:
            message = unknown_name_message(no_such[1], no_such[2], (known or {}).get(no_such[1], ()))
        return TemplateProblem(display_name(templates_dir, source), exc.lineno, message)
    traced, line = _innermost_template_frame(exc.__traceback__, templates_dir)
    file = display_name(templates_dir, traced or current)
    if isinstance(exc, TemplateRuntimeError) and no_such:
        kind, name = no_such[1], no_such[2]
        return TemplateProblem(file, line, unknown_name_message(kind, name, (known or {}).get(kind, ())))
    if isinstance(exc, TemplateNotFound):
        return TemplateProblem(file, line, f"template not found: {exc.name}")
    if isinstance(exc, SecurityError):
        return TemplateProblem(file, line, f"not allowed in templates: {exc.message}")
    if isinstance(exc, UndefinedError):
        message = exc.message or "undefined value"
        match = _UNDEFINED_NAME.match(message)
        return TemplateProblem(file, line, f"unknown variable '{match[1]}'" if match else message)
    return TemplateProblem(file, line, f"{type(exc).__name__}: {exc}")


def _name_in(templates_dir: Path, filename: str | None) -> str | None:
    if filename is None:
        return None
    if filename == "<template>":
        return SUBJECT_FILE
    try:
        return Path(filename).resolve().relative_to(templates_dir.resolve()).as_posix()
    except ValueError:
        return None


def _innermost_template_frame(tb: TracebackType | None, templates_dir: Path) -> tuple[str | None, int | None]:
    # Jinja rewrites tracebacks so that frames of compiled templates carry the template's file
    # name and source line; the innermost such frame is where the marketer has to look.
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        name = _name_in(templates_dir, tb.tb_frame.f_code.co_filename)
        if name is not None:
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    return found
