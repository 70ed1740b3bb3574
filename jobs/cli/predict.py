"""`segmail predict fit`, `predict export` and `predict check`: BG/NBD, Gamma-Gamma and RFM on the shop's paid orders
(jobs/predict.py)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from rich.table import Table

from segmail.jobs import predict_checks
from segmail.jobs.cli.context import AS_OF_HELP, Context, err, out, parse_as_of
from segmail.jobs.errors import EXIT_OK, UsageError
from segmail.jobs.predict_checks import DEFAULT_HOLDOUT_DAYS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser(
        "predict",
        help="fit BG/NBD and Gamma-Gamma to the paid orders; per-customer p_alive, expected orders, CLV, RFM",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = group.add_parser(
        "fit",
        help="fit the models to the paid orders as of T, store the parameters and print them",
        description="Paid orders ([segments] paid_statuses) in the reporting currency up to the as-of "
        "are summarised per customer and both models fitted by maximum likelihood; too little data "
        "is refused with what is missing.",
    )
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="table (default) or json: {bg_nbd, gamma_gamma, customers, repeat_customers, log_likelihood, as_of}",
    )
    p.set_defaults(func=cmd_predict_fit)
    p = group.add_parser(
        "export",
        help="fit as of T and write one row per buyer: p_alive, expected orders, CLV, RFM scores and group",
    )
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.add_argument(
        "--format",
        choices=["csv", "json"],
        required=True,
        help="csv (a header row) or json (a list of objects); numbers at full precision, never rounded",
    )
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=cmd_predict_export)
    p = group.add_parser(
        "check",
        help="fit on all but the last N days and compare predicted with actual repeat orders there",
        description="BG/NBD is fitted to the paid orders up to N days before the as-of (calibration) and "
        "its expected repeat purchases of every calibration customer in the last N days (holdout) are "
        "compared with the purchase days they made: in total, cumulatively, and by the number of repeat "
        "purchases in calibration (0..6, 7+), the way Fader, Hardie & Lee (2005) validate the model. "
        "Customers who first bought in the holdout are left out. The calibration fit is not stored.",
    )
    p.add_argument("--as-of", help=AS_OF_HELP + "; the holdout ends on its UTC date")
    p.add_argument(
        "--holdout-days",
        type=int,
        default=DEFAULT_HOLDOUT_DAYS,
        metavar="N",
        help=f"length of the holdout in days (default {DEFAULT_HOLDOUT_DAYS}, 13 weeks; the papers use 273)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also draw the cumulative and the per-frequency comparison to this PNG",
    )
    p.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="table (default) or json: {predicted, actual, error, by_frequency, cumulative, ...}",
    )
    p.set_defaults(func=cmd_predict_check)


def cmd_predict_fit(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs import predict  # NumPy and SciPy load only for the commands that use them

    as_of = parse_as_of(args.as_of)
    fitted = predict.fit(ctx.store, ctx.config, as_of=as_of, now=datetime.now(UTC))
    doc = predict.fit_document(fitted)
    if args.format == "json":
        out.file.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    row = fitted.row
    table = Table(title=f"predictive models as of {doc['as_of']} (fit {fitted.fit_id})")
    for col in ("model", "parameter", "value"):
        table.add_column(col)
    for name in ("r", "alpha", "a", "b"):
        table.add_row("BG/NBD (days)", name, repr(getattr(row, name)))
    for name in ("p", "q", "v"):
        table.add_row("Gamma-Gamma", name, repr(getattr(row, name)))
    out.print(table)
    out.print(
        f"{row.customers} customers, {row.repeat_customers} with a repeat purchase; "
        f"BG/NBD log-likelihood {row.log_likelihood!r}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_OK


def cmd_predict_export(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs import predict  # NumPy and SciPy load only for the commands that use them

    as_of = parse_as_of(args.as_of)
    rows = predict.export_rows(ctx.store, ctx.config, as_of=as_of, now=datetime.now(UTC))
    with _output(args.out) as f:
        if args.format == "json":
            items = list(rows)
            f.write(json.dumps(items, indent=1) + "\n")
            count = len(items)
        else:
            writer = csv.DictWriter(f, fieldnames=predict.EXPORT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            count = 0
            for row in rows:
                writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
                count += 1
    err.print(f"{count} customer row(s) exported as of {as_of.isoformat()}", markup=False, highlight=False)
    return EXIT_OK


def cmd_predict_check(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs import predict  # NumPy and SciPy load only for the commands that use them

    if args.holdout_days < 1:
        raise UsageError(f"--holdout-days must be at least 1, got {args.holdout_days}")
    as_of = parse_as_of(args.as_of)
    result = predict.check(ctx.store, ctx.config, as_of=as_of, holdout_days=args.holdout_days)
    # kept for the day: the workspace's Predictions page shows it without fitting again
    predict_checks.save(ctx.store, result, as_of=as_of, holdout_days=args.holdout_days)
    if args.plot is not None:
        from segmail.jobs.predict_plot import write_plot

        write_plot(result, args.plot)
    if args.format == "json":
        out.file.write(json.dumps(predict_checks.document(result), indent=2) + "\n")
    else:
        table = Table(
            title=f"BG/NBD holdout check: calibration to {result.calibration_end.isoformat()}, "
            f"holdout {result.holdout_days} days to {result.holdout_end.isoformat()}"
        )
        for col in ("calibration repeats", "customers", "predicted", "actual", "per customer"):
            table.add_column(col, justify="right")
        for c in result.classes:
            table.add_row(
                c.label,
                str(c.customers),
                f"{c.predicted:.1f}",
                str(c.actual),
                f"{c.predicted_mean:.3f} / {c.actual_mean:.3f}" if c.customers else "-",
            )
        table.add_row("total", str(result.customers), f"{result.predicted:.1f}", str(result.actual), "")
        out.print(table)
        out.print(
            f"predicted {result.predicted:.1f} repeat purchases in the holdout, actual {result.actual} "
            f"({result.error:+.1%})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if args.plot is not None:
        err.print(f"plot written to {args.plot}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", newline="", encoding="utf-8") as f:  # an unwritable path: exit 2 (jobs/errors.py)
        yield f
