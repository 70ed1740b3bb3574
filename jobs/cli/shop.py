"""`segmail shop pull --once`: new and changed orders since the last pull (jobs/shop_pull.py)."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from segmail.jobs.cli.context import Context, err, out
from segmail.jobs.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shop = sub.add_parser("shop", help="pull orders from the shop ([shop] kind)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = shop.add_parser("pull", help="pull new and changed orders since the last pull")
    p.add_argument("--once", action="store_true", help="one pull, then exit")
    p.set_defaults(func=cmd_shop_pull)


def cmd_shop_pull(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.cycle import shop_pull_once
    from segmail.jobs.logs import command_log_lines, secrets_from
    from segmail.jobs.wiring import open_shop

    if not args.once:
        raise UsageError("pass --once (the long-running service is `segmail run`)")
    source = open_shop(ctx.config)
    try:  # one log line per stored page and per wait; a failure goes to jobs/errors.py like any command's
        with command_log_lines(secrets=secrets_from(os.environ)):
            summary = shop_pull_once(ctx.store, ctx.config, source, now=lambda: datetime.now(UTC))
    finally:
        source.close()
    for problem in summary.problems[:20]:
        err.print(problem, markup=False, highlight=False, soft_wrap=True)
    out.print(
        f"{summary.source}: {summary.orders} orders stored from {summary.pages} page(s), {summary.skipped} skipped; "
        f"cursor {summary.cursor or '(none)'}",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    return EXIT_OK
