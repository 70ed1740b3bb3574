"""`segmail segments compute|export|explain|preview` (jobs/compute.py, jobs/segment_views.py)."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, TextIO

from rich.table import Table

from segmail.connector.fields import FieldError, email_key
from segmail.jobs import segment_views
from segmail.jobs.cli.context import AS_OF_HELP, Context, err, out, parse_as_of
from segmail.jobs.compute import compute
from segmail.jobs.config import AppConfig
from segmail.jobs.errors import EXIT_FAILED, EXIT_OK, UsageError
from segmail.segments import engine

if TYPE_CHECKING:
    from segmail.segments.predictive import Scored


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    seg = sub.add_parser("segments", help="compute, export, explain and preview segments").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = seg.add_parser("compute", help="store the memberships at --as-of and print counts and changes")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.add_argument(
        "--full",
        action="store_true",
        help="evaluate every contact, even when only the changed ones would do (the same result, slower)",
    )
    p.set_defaults(func=cmd_compute)
    p = seg.add_parser("export", help="write email,segment rows (the last compute, or evaluated at --as-of)")
    p.add_argument("--format", choices=["csv"], default="csv", help="output format (csv: email,segment)")
    p.add_argument(
        "--as-of", help="evaluate at this time instead of exporting the last compute (nothing stored)"
    )
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)
    p = seg.add_parser("explain", help="a contact's features and why it is in or out of each segment")
    p.add_argument("email", help="the contact's email address (any case)")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.set_defaults(func=cmd_explain)
    p = seg.add_parser("preview", help="who would enter or leave each segment against the last compute")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.add_argument(
        "--format", choices=["table", "csv"], default="table",
        help="table: the first --limit changes per segment; csv: every change with its reason",
    )  # fmt: skip
    p.add_argument(
        "--limit", type=int, default=20, help="rows shown per segment and direction (table format)"
    )
    p.set_defaults(func=cmd_preview)


def _changes_table(result_changes: dict[str, engine.SegmentChange], config: AppConfig, title: str) -> Table:
    table = Table(title=title)
    for col in ("segment", "tag", "members", "entered", "left"):
        table.add_column(col, justify="right" if col in ("members", "entered", "left") else "left")
    for name, change in result_changes.items():
        defn = config.segment_defs.get(name)
        tag = defn.tag if defn else "-"
        if defn and not defn.enabled:
            tag += " (disabled)"
        table.add_row(name, tag, str(change.size), f"+{change.entered}", f"-{change.left}")
    return table


def cmd_compute(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.config
    store = ctx.store
    as_of = parse_as_of(args.as_of)
    result = compute(store, config, as_of=as_of, now=datetime.now(UTC), full=args.full)
    title = f"segments as of {as_of.isoformat()} (run {result.run_id}; changes since the last run)"
    out.print(_changes_table(result.changes, config, title))
    err.print(f"evaluated: {result.path}", markup=False)
    if result.point_in_time:
        err.print("note: data after --as-of exists; computed on a point-in-time copy of the features")
    scored = result.predictions
    if scored is not None and scored.missing:
        err.print(f"warning: prediction features are missing for everyone: {scored.missing}", markup=False)
    elif scored is not None and scored.fit_as_of is not None:
        err.print(
            f"predictions: {scored.buyers} buyer(s) {_how_scored(scored)} with fit #{scored.fit_id}"
            f" (fitted as of {scored.fit_as_of.isoformat()})",
            markup=False,
        )
    return EXIT_OK


def _write_export(rows: Iterable[tuple[str, str]], stream: TextIO) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["email", "segment"])
    count, it = 0, iter(rows)
    while chunk := list(islice(it, 10_000)):  # writerows: the csv module's loop, not Python's
        writer.writerows(chunk)
        count += len(chunk)
    return count


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store
    stream: TextIO = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        as_of = None if args.as_of is None else parse_as_of(args.as_of)
        with segment_views.exported(store, ctx.config, as_of=as_of) as export:
            if export is None:
                raise UsageError("nothing computed yet: run `segmail segments compute` or pass --as-of")
            if export.run_id is not None:
                err.print(
                    f"exporting the memberships computed as of {export.as_of.isoformat()} (run {export.run_id})"
                )
            count = _write_export(export.rows, stream)
    finally:
        if stream is not sys.stdout:
            stream.close()
    err.print(f"{count} membership row(s) exported")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, ctx: Context) -> int:
    try:
        key = email_key(args.email)
    except FieldError as exc:
        raise UsageError(str(exc)) from None
    store = ctx.store
    seen = segment_views.explain(store, ctx.config, key, as_of=parse_as_of(args.as_of))
    ex, median = seen.explanation, seen.median_repurchase_days
    out.print(f"[bold]{ex.email_key}[/] — status {ex.status or 'unknown'} — as of {seen.as_of.isoformat()}")
    if ex.features:
        table = Table(title="features")
        table.add_column("feature")
        table.add_column("value")
        for name, value in ex.features.items():
            table.add_row(name, value)
        out.print(table)
    shown = "none (no repeat purchases yet)" if median is None else f"{float(median):.2f} days"
    out.print(f"shop median repurchase interval: {shown}", highlight=False)
    scored = seen.predictions
    if scored is not None:
        rests = (
            scored.missing
            if scored.fit_id is None or scored.fit_as_of is None
            else f"fit #{scored.fit_id} as of {scored.fit_as_of.isoformat()}, scored at T"
        )
        out.print(f"predictions: {rests}", highlight=False, markup=False)
    verdicts = Table(title="segments")
    verdicts.add_column("segment")
    verdicts.add_column("member")
    verdicts.add_column("why")
    for v in ex.verdicts:
        verdicts.add_row(v.segment, "yes" if v.member else "no", v.reason)
    out.print(verdicts)
    return EXIT_OK if ex.status is not None else EXIT_FAILED


def cmd_preview(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store
    totals: dict[tuple[str, str], int] = {}
    with segment_views.previewed(store, ctx.config, as_of=parse_as_of(args.as_of)) as preview:
        writer = csv.writer(sys.stdout, lineterminator="\n") if args.format == "csv" else None
        if writer:
            writer.writerow(["segment", "email", "action", "reason"])
        for change in preview.changes:
            n = totals.get((change.segment, change.action), 0)
            totals[(change.segment, change.action)] = n + 1
            if writer:
                writer.writerow([change.segment, change.email_key, change.action, change.reason])
            elif n < args.limit:
                sign = "+" if change.action == "enter" else "-"
                out.print(
                    f"{sign} {change.segment:<14} {change.email_key}  {change.reason}",
                    markup=False,
                    highlight=False,
                )
    summary = ", ".join(
        f"{seg} +{totals.get((seg, 'enter'), 0)}/-{totals.get((seg, 'leave'), 0)}" for seg in preview.segments
    )
    err.print(f"would change: {summary} (nothing written)")
    return EXIT_OK


def _how_scored(scored: Scored) -> str:
    if scored.reused:
        return "as scored before"
    if scored.rescored < scored.buyers:
        return f"kept, {scored.rescored} rescored for orders of T's day,"
    return "scored"
