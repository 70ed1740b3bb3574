"""Renders one mail per variant from the marketers' templates, and checks the templates before anything is sent.

Per-recipient details are left to Mailchimp merge tags (`*|FNAME|*`, `*|UNSUB|*`), so a mail
depends only on the variant's dimensions and a campaign sends one rendering per variant.

Every template failure raises `TemplateError` (with `.problem.file` and `.problem.line`);
`Renderer.check` returns the same problems as a list, so all of them can be shown at once.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import css_inline
from jinja2 import Template, TemplateAssertionError

from segmail.sending.i18n import (
    DEFAULT_TEMPLATES_DIR,
    SOURCE_LANGUAGE,
    discover_languages,
    extract_subject_messages,
    load_translations,
    translation_problems,
)
from segmail.sending.plaintext import html_to_text
from segmail.sending.season import SEASONS
from segmail.sending.template_check import (
    DynamicReference,
    parse,
    unknown_filters_and_tests,
    unknown_variables,
    used_names,
    uses_gettext,
    with_references,
)
from segmail.sending.template_env import build_environment
from segmail.sending.template_errors import (
    SUBJECT_FILE,
    KnownNames,
    TemplateError,
    TemplateProblem,
    display_name,
    problem_from_exception,
)

__all__ = [
    "DIMENSIONS",
    "LANGUAGES",
    "RenderedMail",
    "Renderer",
    "ShopIdentity",
    "TemplateError",
    "TemplateProblem",
    "Variant",
    "normalize_language",
]

DIMENSIONS = ("segment", "language", "country", "season")
LANGUAGES: tuple[str, ...] = discover_languages(DEFAULT_TEMPLATES_DIR)
LAYOUT = "base.html"
REQUIRED_MERGE_TAG = "*|UNSUB|*"
_ADDRESS_MARKER = "__SHOP_ADDRESS__"
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
# (segment, country, season) the check renders in every language: every season, known and unknown
# country and segment, so a branch that fails only for one of them is found before a send.
_CHECK_VARIANTS = (
    ("", "", "winter"),
    ("vip", "DE", "spring"),
    ("repeat_buyer", "US", "summer"),
    ("lapsed", "AU", "autumn"),
    ("unengaged", "SG", "tropical"),
    ("welcome", "AT", "winter"),
)
_CHECK_DATE = date(2026, 1, 15)


def normalize_language(code: str | None, available: Sequence[str]) -> str:
    """Shops and Mailchimp report `de-DE`, `de_AT` or `DE`; the catalogs are per language only."""
    tag = (code or "").strip().replace("_", "-").lower()
    by_lower = {lang.lower(): lang for lang in available}
    if tag in by_lower:
        return by_lower[tag]
    return by_lower.get(tag.split("-")[0], SOURCE_LANGUAGE)


@dataclass(frozen=True, slots=True)
class ShopIdentity:
    name: str
    address: str
    url: str
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name must not be empty")
        if not self.address.strip():
            raise ValueError("address must not be empty: CAN-SPAM requires the sender's postal address")
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"url must start with https:// or http://, got: {self.url!r}")
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code like 'EUR', got: {self.currency!r}")


@dataclass(frozen=True, slots=True)
class Variant:
    """Dimensions a template does not use are "", so recipients differing only there share a mail."""

    segment: str
    language: str
    country: str
    season: str

    def __post_init__(self) -> None:
        if self.country and not _COUNTRY.fullmatch(self.country):
            raise ValueError(
                f"country must be an ISO 3166 alpha-2 code like 'DE' or '', got: {self.country!r}"
            )
        if self.season and self.season not in SEASONS:
            raise ValueError(f"season must be one of {', '.join(SEASONS)} or '', got: {self.season!r}")

    def __str__(self) -> str:
        """`segment=vip language=de country=AU season=winter`: the dimensions this mail is split by."""
        shown = " ".join(f"{name}={getattr(self, name)}" for name in DIMENSIONS if getattr(self, name))
        return shown or "one mail for every recipient"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    html: str
    text: str


class Renderer:
    """Catalogs are read and one environment per language is built here, once; rendering is then thread-safe."""

    def __init__(self, templates_dir: Path, *, shop: ShopIdentity) -> None:
        if not templates_dir.is_dir():
            raise ValueError(f"templates_dir is not a directory: {templates_dir}")
        self.templates_dir = templates_dir
        self.shop = shop
        translations = load_translations(templates_dir)
        self.languages: tuple[str, ...] = tuple(translations)
        self._envs = {lang: build_environment(templates_dir, lang, t) for lang, t in translations.items()}
        source_env = self._envs[SOURCE_LANGUAGE]
        self._known: KnownNames = {
            "filter": frozenset(source_env.filters),
            "test": frozenset(source_env.tests),
        }
        # keep_at_rules leaves @media rules in a <style>: mobile layouts cannot be inlined;
        # remote stylesheets are never fetched while rendering
        self._inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
        self._subject_template = functools.lru_cache(maxsize=256)(self._compile_subject)
        self._cached_dimensions = functools.lru_cache(maxsize=256)(self._dimensions)

    def dimensions(self, template: str, subject: str) -> frozenset[str]:
        """What the planner must split recipients by for this mail; fewer dimensions, fewer campaigns."""
        return self._cached_dimensions(template, subject)

    def render(
        self, template: str, subject: str, variant: Variant, *, campaign: str, send_date: date
    ) -> RenderedMail:
        return self._render(
            template, subject, variant, campaign=campaign, send_date=send_date, shop=self.shop
        )

    def check(self, templates: Sequence[str] | None = None) -> list[TemplateProblem]:
        """Everything that would fail or break the law at send time, for each campaign template."""
        names = list(templates) if templates is not None else self.campaign_templates()
        problems: dict[TemplateProblem, None] = {}
        for name in names:
            problems.update(dict.fromkeys(self._check_template(name)))
        try:
            problems.update(
                dict.fromkeys(translation_problems(self.templates_dir, None if templates is None else names))
            )
        except TemplateError as exc:
            problems[exc.problem] = None
        return list(problems)

    def check_subject(self, subject: str) -> list[TemplateProblem]:
        """Subjects live in the campaign config, not in a template file: checked on their own."""
        problems = self.subject_problems(subject)
        if problems:
            return problems
        return translation_problems(self.templates_dir, messages=extract_subject_messages(subject))

    def subject_problems(self, subject: str) -> list[TemplateProblem]:
        """Whether the subject compiles and reads only known names; translations are `check_subject`'s."""
        env = self._envs[SOURCE_LANGUAGE]
        try:
            tree = env.parse(subject, SUBJECT_FILE)
        except Exception as exc:
            return [self._problem(exc, SUBJECT_FILE)]
        unknown = [
            TemplateProblem(SUBJECT_FILE, line, text) for text, line in unknown_filters_and_tests(env, tree)
        ]
        if unknown:  # Jinja's analysis of the names cannot run on a tree with an unknown filter
            return unknown
        try:
            self._subject_template(SOURCE_LANGUAGE, subject)
        except TemplateError as exc:
            return [exc.problem]
        return [
            TemplateProblem(SUBJECT_FILE, line, f"unknown variable '{name}'")
            for name, line in unknown_variables(tree)
        ]

    def footer_problems(
        self, template: str, variant: Variant, *, campaign: str, send_date: date
    ) -> list[TemplateProblem]:
        """What the law requires of every mail (CAN-SPAM, GDPR): the unsubscribe link and the postal address.

        Rendered with a marker for the address, so an address the template reformats is still found.
        """
        marked = replace(self.shop, address=_ADDRESS_MARKER)
        mail = self._render(template, "", variant, campaign=campaign, send_date=send_date, shop=marked)
        shown = display_name(self.templates_dir, template)
        problems = []
        if REQUIRED_MERGE_TAG not in mail.html:
            problems.append(
                TemplateProblem(
                    shown,
                    None,
                    f"no unsubscribe link: the mail must contain {REQUIRED_MERGE_TAG} (CAN-SPAM, GDPR)",
                )
            )
        if _ADDRESS_MARKER not in mail.html:
            problems.append(
                TemplateProblem(
                    shown, None, "no postal address: the mail must show {{ shop.address }} (CAN-SPAM)"
                )
            )
        return problems

    def translation_warnings(self, template: str, subject: str, language: str) -> list[TemplateProblem]:
        """Texts of one mail not translated into `language`: they fall back to English, so a preview
        warns where `check` refuses."""
        language = normalize_language(language, self.languages)
        if language == SOURCE_LANGUAGE:
            return []
        env = self._envs[SOURCE_LANGUAGE]
        try:
            files: list[str] | None = [name for name, _ in with_references(env, template)]
        except DynamicReference:
            files = None  # which files the mail uses is unknowable: every text counts
        except Exception as exc:
            raise TemplateError(self._problem(exc, template)) from exc
        in_subject = extract_subject_messages(subject)
        return translation_problems(self.templates_dir, files, languages=[language]) + translation_problems(
            self.templates_dir, languages=[language], messages=in_subject
        )

    def campaign_templates(self) -> list[str]:
        """Templates that are mails of their own: not the layout, not partials (`_name.html`)."""
        paths = (p.relative_to(self.templates_dir) for p in self.templates_dir.rglob("*.html"))
        return sorted(
            p.as_posix()
            for p in paths
            if p.name != LAYOUT and not p.name.startswith("_") and p.parts[0] != "locale"
        )

    def _render(
        self,
        template: str,
        subject: str,
        variant: Variant,
        *,
        campaign: str,
        send_date: date,
        shop: ShopIdentity,
    ) -> RenderedMail:
        language = normalize_language(variant.language, self.languages)
        context = {
            "segment": variant.segment,
            "language": language,
            "country": variant.country,
            "season": variant.season,
            "campaign": campaign,
            "send_date": send_date,
            "shop": {"name": shop.name, "address": shop.address, "url": shop.url, "currency": shop.currency},
        }
        try:
            html = self._envs[language].get_template(template).render(context)
        except Exception as exc:
            raise TemplateError(self._problem(exc, template)) from exc
        subject_template = self._subject_template(language, subject)
        try:
            rendered_subject = subject_template.render(context)
        except Exception as exc:
            raise TemplateError(self._problem(exc, SUBJECT_FILE)) from exc
        try:
            inlined = self._inliner.inline(html)
        except ValueError as exc:  # css_inline's errors (bad CSS) are ValueErrors
            shown = display_name(self.templates_dir, template)
            raise TemplateError(TemplateProblem(shown, None, f"CSS could not be inlined: {exc}")) from exc
        return RenderedMail(
            subject=" ".join(rendered_subject.split()), html=inlined, text=html_to_text(inlined)
        )

    def _compile_subject(self, language: str, subject: str) -> Template:
        try:
            return self._envs[language].from_string(subject)
        except Exception as exc:
            raise TemplateError(self._problem(exc, SUBJECT_FILE)) from exc

    def _problem(self, exc: BaseException, current: str) -> TemplateProblem:
        return problem_from_exception(exc, self.templates_dir, current, self._known)

    def _dimensions(self, template: str, subject: str) -> frozenset[str]:
        env = self._envs[SOURCE_LANGUAGE]
        try:
            files = [(SUBJECT_FILE, env.parse(subject, SUBJECT_FILE)), *with_references(env, template)]
        except DynamicReference:
            return frozenset(DIMENSIONS)
        except Exception as exc:
            raise TemplateError(self._problem(exc, template)) from exc
        names: set[str] = set()
        for name, tree in files:
            try:
                names |= used_names(tree)
            except TemplateAssertionError as exc:  # an unknown filter: Jinja's analysis compiles the tree
                raise TemplateError(self._problem(exc, name)) from exc
            if uses_gettext(tree):
                names.add("language")
        return frozenset(names & set(DIMENSIONS))

    def _unknown_calls(self, name: str) -> list[TemplateProblem]:
        """Unknown filters and tests in the template and every file it pulls in."""
        env = self._envs[SOURCE_LANGUAGE]
        try:
            files = list(with_references(env, name))
        except DynamicReference:
            files = [(name, parse(env, name))]
        return [
            TemplateProblem(display_name(self.templates_dir, file), line, text)
            for file, tree in files
            for text, line in unknown_filters_and_tests(env, tree)
        ]

    def _check_template(self, name: str) -> Iterable[TemplateProblem]:
        shown = display_name(self.templates_dir, name)
        try:
            tree = parse(self._envs[SOURCE_LANGUAGE], name)
            unknown_calls = self._unknown_calls(name)
        except Exception as exc:
            yield self._problem(exc, name)
            return
        if unknown_calls:  # every render would fail the same way; Jinja's name analysis cannot run
            yield from unknown_calls
            return
        for variable, line in unknown_variables(tree):
            yield TemplateProblem(shown, line, f"unknown variable '{variable}'")
        for language in self.languages:
            for segment, country, season in _CHECK_VARIANTS:
                variant = Variant(segment=segment, language=language, country=country, season=season)
                try:
                    yield from self.footer_problems(
                        name, variant, campaign=Path(name).stem, send_date=_CHECK_DATE
                    )
                except TemplateError as exc:
                    yield exc.problem


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m segmail.sending.render [templates_dir]`: the marketer's pre-flight check, no config needed."""
    parser = argparse.ArgumentParser(
        prog="python -m segmail.sending.render",
        description="Check every template (syntax, variables, footer, translations); no config needed.",
    )
    parser.add_argument(
        "templates_dir", nargs="?", type=Path, default=DEFAULT_TEMPLATES_DIR,
        help=f"the templates folder (default: {DEFAULT_TEMPLATES_DIR})",
    )  # fmt: skip
    templates_dir: Path = parser.parse_args(argv).templates_dir
    if not templates_dir.is_dir():
        print(f"error: {templates_dir} is not a directory; pass the templates folder", file=sys.stderr)
        return 2
    shop = ShopIdentity(
        name="Example Shop", address="1 Example Street, 10115 Berlin, Germany", url="https://shop.example"
    )
    try:
        problems = Renderer(templates_dir, shop=shop).check()
    except TemplateError as exc:
        problems = [exc.problem]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) in {templates_dir}" if problems else f"templates ok: {templates_dir}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
