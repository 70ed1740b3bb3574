"""`segmail templates check` and `segmail render`: the mail templates, checked or rendered as one
bucket of a campaign gets them (jobs/config_check.py, jobs/preview.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from segmail.connector.fields import FieldError
from segmail.jobs.cli import mail
from segmail.jobs.cli.context import Context, err, out, parse_as_of
from segmail.jobs.errors import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from segmail.jobs.preview import SampleContact


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    templates = sub.add_parser("templates", help="check the mail templates").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = templates.add_parser(
        "check", help="syntax, unknown variables, footer (unsubscribe + address), translations"
    )
    p.add_argument("template", nargs="*", help="template file names (default: every campaign template)")
    p.set_defaults(func=cmd_templates_check)

    p = sub.add_parser("render", help="write the exact HTML one bucket of a campaign would get")
    mail.add_variant_args(p)
    p.add_argument("--as-of", help="the send date (default: now)")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--text", help="also write the plain-text part here")
    p.add_argument(
        "--contact", metavar="EMAIL",
        help="fill the Mailchimp merge tags (*|FNAME|*, *|LNAME|*, *|EMAIL|*, *|IF:…|*) as this stored "
        "contact sees them, in their language and country; without it the tags stay as campaigns get them",
    )  # fmt: skip
    p.set_defaults(func=cmd_render)


def cmd_templates_check(args: argparse.Namespace, ctx: Context) -> int:
    renderer = mail.renderer(ctx)
    from segmail.jobs.config_check import check_templates

    result = check_templates(ctx.config, renderer, args.template)
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    for problem in result.problems:
        err.print(problem, markup=False, highlight=False, soft_wrap=True)
    languages = ", ".join(renderer.languages)
    if result.problems:
        err.print(f"{len(result.problems)} problem(s) in {result.checked} template(s)", markup=False)
        return EXIT_FAILED
    out.print(
        f"{result.checked} template(s) ok in every language ({languages})", markup=False, highlight=False
    )
    return EXIT_OK


def cmd_render(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.preview import preview
    from segmail.sending.render import TemplateError, normalize_language

    campaign = mail.campaign(ctx, args.campaign)
    renderer = mail.renderer(ctx)
    as_of = parse_as_of(args.as_of)
    if args.segment and args.segment not in ctx.config.segment_defs:
        from segmail.segments.suggest import did_you_mean

        known = ctx.config.segment_defs
        hint = did_you_mean(args.segment, known) or f" (known: {', '.join(known)})"
        raise UsageError(f"--segment {args.segment!r}: no such segment in {ctx.config.origin}{hint}")
    contact = _sample_contact(ctx, args.contact) if args.contact else None
    if contact is not None:  # the mail this person gets, unless the options say otherwise
        args.language = args.language or normalize_language(contact.language, renderer.languages)
        args.country = args.country or contact.country
    try:
        variant, local = mail.variant_for(args, ctx, campaign, renderer, as_of)
        shown = preview(renderer, campaign, variant, local, contact)
    except TemplateError as exc:
        err.print(f"error: {exc.problem}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILED
    for problem in shown.problems:
        err.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
    if shown.problems:
        err.print(
            f"not written: a send would refuse this mail ({len(shown.problems)} problem(s))", markup=False
        )
        return EXIT_FAILED
    for warning in shown.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    Path(args.out).write_text(shown.mail.html, encoding="utf-8")
    if args.text:
        Path(args.text).write_text(shown.mail.text, encoding="utf-8")
    err.print(f"subject: {shown.mail.subject}", markup=False, highlight=False)
    err.print(f"variant: {variant} — wrote {args.out}", markup=False, highlight=False, soft_wrap=True)
    if contact is not None:
        left = ", ".join(shown.left) or "none"
        err.print(
            f"merge tags filled for {contact.email}; left for Mailchimp: {left}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return EXIT_OK


def _sample_contact(ctx: Context, email: str) -> SampleContact:
    from segmail.jobs.preview import sample_contact

    try:
        contact = sample_contact(ctx.store, email)
    except FieldError as exc:
        raise UsageError(f"--contact: {exc}") from None
    if contact is None:
        raise UsageError(
            f"--contact {email!r}: no such contact in the store; import contacts or run `segmail sync` first"
        )
    return contact
