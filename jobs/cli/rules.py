"""`segmail rules check`: the whole config, and every campaign's template and subject (jobs/config_check.py)."""

from __future__ import annotations

import argparse

from rich.table import Table

from segmail.jobs.cli import mail
from segmail.jobs.cli.context import Context, err, out
from segmail.jobs.errors import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="validate the config and every segment rule").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = rules.add_parser(
        "check",
        help="validate the whole config: keys, segment rules, campaigns (segment, template, subject)",
    )
    p.set_defaults(func=cmd_rules_check)


def cmd_rules_check(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.config_check import check_campaigns, retention_warnings
    from segmail.jobs.predict import rules_check_warnings

    config = ctx.config  # loading it checked every key, rule and segment reference
    checked = check_campaigns(config, mail.renderer(ctx) if config.campaigns else None)
    table = Table(title=f"segments in {config.origin}")
    for col in ("segment", "tag", "enabled", "rule", "parameters"):
        table.add_column(col)
    for d in config.segment_defs.values():
        params = ", ".join(f"{k}={v}" for k, v in d.params.items())
        table.add_row(d.name, d.tag, "yes" if d.enabled else "no", d.rule, params)
    out.print(table)
    if config.campaigns:
        campaigns = Table(title="campaigns")
        for col in ("campaign", "enabled", "segment", "template", "trigger"):
            campaigns.add_column(col)
        for c in config.campaigns.values():
            campaigns.add_row(c.name, "yes" if c.enabled else "no", c.segment, c.template, c.trigger)
        out.print(campaigns)
    predictions = rules_check_warnings(config, lambda: ctx.store)
    for message in (*config.warnings, *checked.warnings, *retention_warnings(config), *predictions):
        err.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)
    for message in checked.errors:
        err.print(message, markup=False, highlight=False, soft_wrap=True)
    where = (
        f"templates checked in {checked.templates_dir}"
        if checked.templates_dir
        else "no campaigns, so no templates checked"
    )
    if checked.errors:
        err.print(
            f"{len(checked.errors)} problem(s) in {config.origin}; {where}", markup=False, soft_wrap=True
        )
        return EXIT_USAGE
    out.print(f"{config.origin}: all valid; {where}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK
