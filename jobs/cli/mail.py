"""What the mail commands share (`rules check`, `templates check`, `render`, `send`): the templates,
a campaign named by `--campaign`, and the variant options `render` and `send test` both take."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import TYPE_CHECKING

from segmail.jobs.cli.context import Context
from segmail.jobs.errors import UsageError

if TYPE_CHECKING:  # imported when a command needs them: `segmail --help` stays quick
    from segmail.sending.campaigns import CampaignDef
    from segmail.sending.render import Renderer, Variant


def renderer(ctx: Context) -> Renderer:
    from segmail.jobs.send import make_renderer

    try:
        return make_renderer(ctx.config)
    except (OSError, ValueError) as exc:
        raise UsageError(f"send.templates_dir: cannot load the templates: {exc}") from None


def campaign(ctx: Context, name: str) -> CampaignDef:
    found = ctx.config.campaigns.get(name)
    if found is None:
        known = ", ".join(sorted(ctx.config.campaigns)) or "none configured"
        raise UsageError(
            f"--campaign {name!r}: no [campaigns.{name}] in {ctx.config.origin} (known: {known})"
        )
    return found


def add_variant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--campaign", required=True, help="a [campaigns.NAME] of the config")
    p.add_argument("--segment", help="default: the campaign's segment")
    p.add_argument("--language", help="en, de, uz ... (default en)")
    p.add_argument("--country", help="ISO 3166 alpha-2, e.g. AU (drives country blocks and the season)")


def variant_for(
    args: argparse.Namespace, ctx: Context, chosen: CampaignDef, templates: Renderer, as_of: datetime
) -> tuple[Variant, date]:
    """The variant `--segment`, `--language` and `--country` pick, and the send's local date."""
    from segmail.jobs.preview import chosen_variant

    if args.language and args.language not in templates.languages:
        raise UsageError(
            f"--language {args.language!r}: shipped languages are {', '.join(templates.languages)}"
        )
    country = (args.country or "").upper()
    if country and (len(country) != 2 or not country.isalpha()):
        raise UsageError(f"--country {args.country!r}: expected an ISO 3166 alpha-2 code such as DE")
    return chosen_variant(
        templates, chosen, segment=args.segment, language=args.language, country=country, as_of=as_of,
        zone=ctx.config.send.default_timezone,
    )  # fmt: skip
