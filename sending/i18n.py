"""Gettext catalogs for the templates: read from .po at start, extracted from the templates, checked, updated.

The .po files under `templates/locale/<lang>/LC_MESSAGES/messages.po` are the only form committed:
Babel compiles them in memory, so a marketer's edit can never be shadowed by a stale .mo file.

    python -m segmail.sending.i18n check             # every text in the templates translated in every language?
    python -m segmail.sending.i18n update            # add new texts (empty) to every catalog, drop removed ones
    python -m segmail.sending.i18n update --add fr   # start a catalog for a new language
"""

from __future__ import annotations

import argparse
import gettext
import re
import sys
from collections.abc import Collection, Sequence
from importlib.resources import files
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po, write_po

from segmail.sending.template_env import EXTRACT_KEYWORDS, EXTRACT_OPTIONS
from segmail.sending.template_errors import SUBJECT_FILE, TemplateError, TemplateProblem, display_name

# The shipped templates are package data of `segmail.templates`; an installed wheel and a source
# checkout (editable install) both resolve to a real folder, which Jinja's FileSystemLoader needs.
DEFAULT_TEMPLATES_DIR = Path(str(files("segmail.templates")))
SOURCE_LANGUAGE = "en"
DOMAIN = "messages"
_HEADER = (
    "# Translations of the segmail templates. Translate msgstr only; keep %(name)s placeholders\n"
    "# and *|MERGE|* tags exactly. Update with: python -m segmail.sending.i18n update\n#"
)
# Placeholders and merge tags a translation must keep: a lost `%(shop)s` drops the shop's name, an
# unknown one fails the render, a lost `*|FNAME|*` silently drops the personal greeting; a literal
# percent sign is `%%` in msgid and msgstr alike (the text is %-formatted at render time).
_TOKEN = re.compile(r"%\(\w+\)[sd]|%%|\*\|[^|*]+\|\*")


def catalog_path(templates_dir: Path, language: str) -> Path:
    return templates_dir / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def discover_languages(templates_dir: Path) -> tuple[str, ...]:
    """English (the source language, no catalog) first, then every language that has a catalog."""
    locale_dir = templates_dir / "locale"
    found = (
        sorted(p.name for p in locale_dir.iterdir() if catalog_path(templates_dir, p.name).is_file())
        if locale_dir.is_dir()
        else []
    )
    return (SOURCE_LANGUAGE, *(lang for lang in found if lang != SOURCE_LANGUAGE))


def read_catalog(templates_dir: Path, language: str) -> Catalog:
    path = catalog_path(templates_dir, language)
    shown = display_name(templates_dir, path.relative_to(templates_dir).as_posix())
    try:
        with path.open("rb") as fileobj:
            return read_po(fileobj, locale=language, domain=DOMAIN, abort_invalid=True)
    except PoFileError as exc:
        line = exc.lineno + 1  # Babel counts lines from 0
        raise TemplateError(TemplateProblem(shown, line, f"invalid catalog: {exc}")) from exc
    except (UnknownLocaleError, ValueError) as exc:
        raise TemplateError(TemplateProblem(shown, None, f"invalid catalog: {exc}")) from exc


def load_translations(templates_dir: Path) -> dict[str, gettext.NullTranslations]:
    """Untranslated and fuzzy entries are left out, so gettext falls back to the English msgid."""
    result: dict[str, gettext.NullTranslations] = {SOURCE_LANGUAGE: gettext.NullTranslations()}
    for language in discover_languages(templates_dir)[1:]:
        buffer = BytesIO()
        write_mo(buffer, read_catalog(templates_dir, language), use_fuzzy=False)
        buffer.seek(0)
        result[language] = gettext.GNUTranslations(buffer)
    return result


def extract_messages(templates_dir: Path) -> Catalog:
    """Every text the templates pass through gettext or `{% trans %}`, with file and line."""
    template = Catalog(project="segmail", fuzzy=False)
    found = extract_from_dir(
        templates_dir,
        [("**.html", "jinja2")],
        {"**.html": EXTRACT_OPTIONS},
        keywords=EXTRACT_KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        template.add(
            message, None, [(Path(filename).as_posix(), lineno)], auto_comments=comments, context=context
        )
    return template


def extract_subject_messages(subject: str) -> Catalog:
    """A subject's texts, so a subject in the campaign config is held to the same standard as a template."""
    catalog = Catalog(project="segmail", fuzzy=False)
    found = extract("jinja2", BytesIO(subject.encode()), EXTRACT_KEYWORDS, ("Translators:",), EXTRACT_OPTIONS)
    for lineno, message, comments, context in found:
        catalog.add(message, None, [(SUBJECT_FILE, lineno)], auto_comments=comments, context=context)
    return catalog


def translation_problems(
    templates_dir: Path,
    files: Collection[str] | None = None,
    *,
    messages: Catalog | None = None,
    languages: Collection[str] | None = None,
) -> list[TemplateProblem]:
    """Untranslated texts, at their place in the templates; placeholder mistakes, at their place in the .po.

    `files` limits the check to texts used in those templates (names relative to templates_dir);
    `messages` checks those texts instead of the templates' (see `extract_subject_messages`);
    `languages` limits it to those catalogs (a preview of one language).
    """
    problems: list[TemplateProblem] = []
    source = extract_messages(templates_dir) if messages is None else messages
    wanted = [m for m in source if m.id and (files is None or any(f in files for f, _ in m.locations))]
    for language in discover_languages(templates_dir)[1:]:
        if languages is not None and language not in languages:
            continue
        catalog = read_catalog(templates_dir, language)
        po_file = display_name(
            templates_dir, catalog_path(templates_dir, language).relative_to(templates_dir).as_posix()
        )
        for message in wanted:
            translated = catalog.get(message.id, message.context)
            if translated is None or translated.fuzzy or not all(_strings(translated.string)):
                file, line = message.locations[0]
                what = "fuzzy" if translated is not None and translated.fuzzy else "missing"
                text = f"{what} {language!r} translation of {_first(message.id)!r} (in {po_file})"
                problems.append(TemplateProblem(display_name(templates_dir, file), line, text))
                continue
            expected = set().union(*(_TOKEN.findall(s) for s in _strings(message.id)))
            for form in _strings(translated.string):
                tokens = set(_TOKEN.findall(form))
                plural = isinstance(message.id, tuple)
                if tokens - expected or (not plural and tokens != expected):
                    text = f"{language!r} translation of {_first(message.id)!r} must keep exactly {sorted(expected)}, has {sorted(tokens)}"
                    problems.append(TemplateProblem(po_file, translated.lineno, text))
    return problems


def update_catalogs(templates_dir: Path, add: Sequence[str] = ()) -> list[Path]:
    """Bring every catalog in line with the templates; returns the files that changed."""
    template = extract_messages(templates_dir)
    changed = []
    for language in dict.fromkeys((*discover_languages(templates_dir)[1:], *add)):
        Locale.parse(language)  # a typo like "ge" fails here, not at the next start
        path = catalog_path(templates_dir, language)
        if path.is_file():
            catalog = read_catalog(templates_dir, language)
        else:
            catalog = Catalog(
                locale=language, domain=DOMAIN, project="segmail", fuzzy=False, header_comment=_HEADER
            )
        catalog.update(template, update_creation_date=False)
        buffer = BytesIO()
        write_po(buffer, catalog, width=100, ignore_obsolete=True)
        if not path.is_file() or path.read_bytes() != buffer.getvalue():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(buffer.getvalue())
            changed.append(path)
    return changed


def _strings(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def _first(msgid: str | tuple[str, ...] | list[str]) -> str:
    return _strings(msgid)[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segmail.sending.i18n", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("command", choices=("check", "update"))
    parser.add_argument("--templates", type=Path, default=DEFAULT_TEMPLATES_DIR, help="templates directory")
    parser.add_argument(
        "--add", action="append", default=[], metavar="LANG", help="start a catalog (update only)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "update":
            for path in update_catalogs(args.templates, args.add):
                print(f"updated {path}")
        problems = translation_problems(args.templates)
    except TemplateError as exc:
        problems = [exc.problem]
    except (UnknownLocaleError, ValueError) as exc:  # `--add` with a code Babel does not know
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
