"""`segmail import`: contacts, orders or events from a CSV file or an export zip (jobs/importer.py)."""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, datetime
from pathlib import Path

from segmail.connector.csv_files import FORMAT_NAMES, KINDS
from segmail.jobs.cli.context import Context, err, out
from segmail.jobs.errors import EXIT_FAILED, EXIT_OK, UsageError
from segmail.jobs.importer import ImportFailed, ImportSummary, import_csv, import_zone, summary_lines


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import contacts, orders or events from a CSV file or an export zip",
        description="Formats are detected from the header: segmail's own, a Mailchimp audience export "
        "(the zip or its CSVs), a Shopify orders export, a WooCommerce orders export (WebToffee). "
        "Comma-, semicolon- and tab-separated files are read.",
    )
    p.add_argument("kind", choices=list(KINDS), help="what the file holds")
    p.add_argument("file", help="a .csv file, or a .zip of them (a Mailchimp audience export)")
    p.add_argument(
        "--format",
        choices=["auto", *FORMAT_NAMES],
        default="auto",
        help="read the file as this format instead of detecting it from the header (default: auto)",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone of times written without a UTC offset, e.g. Europe/Berlin (WooCommerce exports "
        "need it: their order_date is the WordPress site's local time)",
    )
    p.add_argument(
        "--source",
        help="source name orders are keyed under (default: the format's: csv, shopify, woocommerce, "
        "mailchimp; the same as `shop pull` uses, so both update the same orders)",
    )
    p.add_argument("--show-problems", type=int, default=50, metavar="N", help="print at most N bad rows")
    p.add_argument("--problems-csv", metavar="FILE", help="write the bad rows' file, line and reason here")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    shown = 0

    def report(problem: object) -> None:
        nonlocal shown
        if shown < args.show_problems:
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        shown += 1

    shop = ctx.config.shop
    try:
        summary = import_csv(
            ctx.store,
            Path(args.file),
            args.kind,
            now=datetime.now(UTC),
            source=args.source,
            fmt=None if args.format == "auto" else args.format,
            timezone=import_zone(args.timezone),
            shop_currency=shop.currency,
            statuses=shop.statuses,
            on_problem=report,
            on_table=lambda line: out.print(f"reading {line}", markup=False, highlight=False, soft_wrap=True),
        )
    except ImportFailed as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILED
    if shown > args.show_problems:
        err.print(f"... and {shown - args.show_problems} more problem(s)", markup=False)
    if args.problems_csv:
        _write_problems(args.problems_csv, summary)
    for line in summary_lines(summary):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    if summary.accepted == 0:
        err.print(
            f"error: no row of {summary.file} was accepted ({summary.skipped} skipped); nothing was imported",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_FAILED
    return EXIT_OK


def _write_problems(path: str, summary: ImportSummary) -> None:
    """`--problems-csv`: every bad row's file, line, severity and reason."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "line", "severity", "reason"])
            writer.writerows((p.file, p.line, p.severity, p.reason) for p in summary.problems)
    except OSError as exc:
        raise UsageError(f"--problems-csv {path}: {exc.strerror or exc}") from None
