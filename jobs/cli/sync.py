"""`segmail sync --once [--dry-run]`: pull from Mailchimp, compute, push tag changes (jobs/sync.py)."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime

from rich.table import Table

from segmail.jobs.cli.context import AS_OF_HELP, Context, err, out, parse_as_of
from segmail.jobs.config import AppConfig
from segmail.jobs.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sync", help="pull from Mailchimp, compute segments, push tag changes")
    p.add_argument("--once", action="store_true", help="run one sync and exit")
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.add_argument(
        "--dry-run", action="store_true", help="print the per-member tag changes a push would send"
    )
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs import cycle, sync
    from segmail.jobs.wiring import open_mailchimp

    if not args.once:
        raise UsageError("pass --once (the long-running service is `segmail run`)")
    config = ctx.config
    api = open_mailchimp(config)
    as_of = parse_as_of(args.as_of)
    try:
        if args.dry_run:
            return _sync_dry_run(ctx, api, as_of)
        with err.status("sync") as status:
            summary = cycle.sync_once(
                ctx.store,
                config,
                api,
                as_of=as_of,
                now=sync.utc_now,
                progress=lambda step: status.update(step),
            )
    finally:
        api.close()
    _print_sync(summary, config)
    return EXIT_OK


def _sync_dry_run(ctx: Context, api: object, as_of: datetime) -> int:
    from segmail.jobs.sync import dry_run

    shown = 0
    with dry_run(ctx.store, ctx.config, as_of=as_of) as pending:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["tag", "email", "action"])
        for tag in pending:
            for change in tag.changes:
                writer.writerow([change.tag, change.email_key, change.action])
                shown += 1
            if tag.not_in_audience:
                err.print(f"{tag.tag}: {tag.not_in_audience} member(s) not in the audience would be skipped")
    err.print(f"{shown} tag change(s) would be sent (dry run: nothing pulled, computed or pushed)")
    return EXIT_OK


def _print_sync(summary: object, config: AppConfig) -> None:
    from segmail.jobs.sync import SyncSummary

    assert isinstance(summary, SyncSummary)
    out.print(
        f"members pulled: {summary.members_pulled} ({summary.members_skipped} skipped), "
        f"campaigns read: {summary.campaigns_read}, events pulled: {summary.events_pulled}",
        highlight=False,
    )
    table = Table(title="tags pushed to Mailchimp")
    for col in ("tag", "added", "removed", "failed", "not in audience"):
        table.add_column(col, justify="left" if col == "tag" else "right")
    for tag in summary.tags.values():
        table.add_row(tag.tag, str(tag.added), str(tag.removed), str(tag.failed), str(tag.not_in_audience))
    out.print(table)
    for tag in summary.tags.values():
        for message in tag.errors:
            err.print(f"{tag.tag}: {message}", markup=False, soft_wrap=True)
    out.print(f"requests: {summary.requests}, retries: {summary.retries}", highlight=False)
