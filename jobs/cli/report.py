"""`segmail report campaigns|segments|movements`: what the mail did, per campaign and per segment (jobs/report.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from segmail.jobs import report
from segmail.jobs.cli.context import Context, err, out
from segmail.jobs.errors import EXIT_OK, UsageError
from segmail.jobs.report_csv import Rows, campaign_rows, movement_rows, segment_rows, text, write_csv
from segmail.reports.periods import DEFAULT_DAYS, Period, day, period

PERIOD_HELP = (
    "UTC dates (YYYY-MM-DD): --since inclusive, --until exclusive; default: until tomorrow (today included), "
    f"since {DEFAULT_DAYS} days before until"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser(
        "report", help="what the mail did: campaign results, attributed revenue, segment sizes and movements"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    kinds = (
        ("campaigns", "one row per campaign sent in the period: recipients, opens, clicks, unsubscribes, "
         "bounces, attributed orders and revenue", cmd_campaigns),
        ("segments", "per segment: members at the start and end, entered, left, and revenue three ways "
         "(members at the end, while a member, attributed to its campaigns)", cmd_segments),
        ("movements", "how many contacts moved from one segment to another over the period", cmd_movements),
    )  # fmt: skip
    for name, help_, func in kinds:
        p = group.add_parser(name, help=help_, description=f"{help_}. Periods: {PERIOD_HELP}.")
        p.add_argument("--since", metavar="DATE", help="first UTC day of the period (inclusive)")
        p.add_argument("--until", metavar="DATE", help="UTC day the period ends before (exclusive)")
        p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                       help="table (default), csv (a header row; money as plain decimals, empty where not "
                       "applicable) or json ({since, until, currency, rows})")  # fmt: skip
        p.add_argument(
            "--plot", type=Path, metavar="FILE.png|.svg", help="also draw the figures to this file"
        )
        p.set_defaults(func=func)


def _period(args: argparse.Namespace) -> Period:
    try:
        since, until = day(args.since, "--since"), day(args.until, "--until")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot {args.plot}: the file must end in .png or .svg")
    try:
        return period(since, until, today=datetime.now(UTC).date())
    except ValueError as exc:
        raise UsageError(f"--since/--until: {exc}") from None


# the tables' columns under short headings (the CSV and JSON keep every column under its full name)
CAMPAIGN_SHOWN = {
    "campaign_id": "campaign", "sent_at": "sent", "segment": "segment", "recipients": "recipients",
    "opens": "opens", "proxy_opens": "machine opens", "clicks": "clicks", "unsubscribes": "unsubs",
    "bounces": "bounces", "attributed_orders": "orders", "attributed_revenue": "revenue",
    "revenue_per_recipient": "per recipient",
}  # fmt: skip
SEGMENT_SHOWN = {
    "segment": "segment", "members_start": "start", "members_end": "end", "entered": "entered", "left": "left",
    "orders": "orders", "revenue": "revenue", "revenue_while_member": "while member",
    "attributed_revenue": "attributed", "revenue_per_member": "per member",
}  # fmt: skip
MOVEMENT_SHOWN = {"from": "from", "to": "to", "members": "members"}
LEFT = ("campaign_id", "segment", "from", "to")
WIDE = 250  # a table printed to a file or pipe is as wide as it needs, not cut to 80 columns


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d}"
    return text(value)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal | datetime):
        return text(value)  # money stays exact: a string of the decimal
    return value


def _write(
    args: argparse.Namespace, p: Period, currency: str | None, found: Rows, *, title: str, shown: Mapping[str, str],
) -> None:  # fmt: skip
    rows = found.rows
    if args.format == "csv":
        write_csv(sys.stdout, found)
    elif args.format == "json":
        doc = {"since": p.since.date().isoformat(), "until": p.until.date().isoformat(), "currency": currency,
               "rows": [{c: _json(r[c]) for c in found.columns} for r in rows]}  # fmt: skip
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        table = Table(title=f"{title}, {p.since:%Y-%m-%d} to {p.until:%Y-%m-%d} (exclusive)"
                      + (f", money in {currency}" if currency else ""))  # fmt: skip
        for c, heading in shown.items():
            table.add_column(heading, justify="left" if c in LEFT else "right")
        for r in rows:
            table.add_row(*(_cell(r[c]) for c in shown))
        (out if out.is_terminal else Console(width=WIDE)).print(table)


def _plotted(path: Path | None) -> None:
    if path is not None:
        err.print(f"plot written to {path}", markup=False, highlight=False, soft_wrap=True)


def cmd_campaigns(args: argparse.Namespace, ctx: Context) -> int:
    p = _period(args)
    result = report.campaign_report(ctx.store, ctx.config, p)
    if args.plot is not None:
        from segmail.jobs.report_plot import write_campaigns

        write_campaigns(result, args.plot)
    _write(args, p, result.currency, campaign_rows(result), title="campaigns", shown=CAMPAIGN_SHOWN)
    _plotted(args.plot)
    return EXIT_OK


def cmd_segments(args: argparse.Namespace, ctx: Context) -> int:
    p = _period(args)
    result = report.segment_report(ctx.store, ctx.config, p, movements=args.plot is not None)
    if args.plot is not None:
        from segmail.jobs.report_plot import write_segments

        write_segments(result, report.daily_sizes(result), args.plot)
    _write(args, p, result.currency, segment_rows(result), title="segments", shown=SEGMENT_SHOWN)
    _plotted(args.plot)
    return EXIT_OK


def cmd_movements(args: argparse.Namespace, ctx: Context) -> int:
    p = _period(args)
    result = report.movement_report(ctx.store, p)
    if args.plot is not None:
        from segmail.jobs.report_plot import write_movements

        write_movements(result, args.plot)
    _write(args, p, None, movement_rows(result.movements), title="movements between segments",
           shown=MOVEMENT_SHOWN)  # fmt: skip
    _plotted(args.plot)
    return EXIT_OK
