"""The one Jinja environment setup (per language), shared by rendering, checking and message extraction."""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency
from jinja2 import FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

# Both the environment and Babel's extractor must read templates the same way, or the msgids
# extracted for the catalogs differ from the ones looked up at render time (whitespace, `%%`).
TRIM_BLOCKS = True
LSTRIP_BLOCKS = True
EXTRACT_OPTIONS = {
    "extensions": "jinja2.ext.i18n",
    "trimmed": "true",  # a paragraph wrapped over lines is one msgid with single spaces
    "newstyle_gettext": "true",
    "trim_blocks": str(TRIM_BLOCKS).lower(),
    "lstrip_blocks": str(LSTRIP_BLOCKS).lower(),
}
GETTEXT_NAMES = frozenset({"gettext", "ngettext", "pgettext", "npgettext", "_"})
EXTRACT_KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}


def build_environment(
    templates_dir: Path, language: str, translations: gettext.NullTranslations
) -> SandboxedEnvironment:
    """Sandboxed because marketers edit the templates; one per language, with gettext and the Babel
    filters bound once, because installing translations per render would race between threads."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader(templates_dir),
        # .html escapes context values; subjects (from_string) are plain text and must not get `&amp;`
        autoescape=select_autoescape(["html", "htm"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=TRIM_BLOCKS,
        lstrip_blocks=LSTRIP_BLOCKS,
        # templates and catalogs are loaded at start; a long-running process renders one consistent set
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["format_date"] = _date_filter(language)
    env.filters["money"] = _money_filter(language)
    return env


def _date_filter(language: str) -> Callable[..., str]:
    def format_date(value: date, format: str = "long") -> str:
        return babel_format_date(value, format=format, locale=language)

    return format_date


def _money_filter(language: str) -> Callable[..., str]:
    @pass_context
    def money(context: Context, amount: int | str | Decimal, currency: str | None = None) -> str:
        shop = context.get("shop")
        code = currency or (shop.get("currency") if isinstance(shop, Mapping) else None) or "EUR"
        return format_currency(Decimal(str(amount)), code, locale=language)

    return money
