"""`segmail run` and `segmail status`: the long-running service and what it last did (jobs/start.py,
jobs/status.py)."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from segmail.jobs.cli.context import Context, out
from segmail.jobs.errors import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from segmail.ui.server import Served


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="the service: pull the shop and Mailchimp, compute, push tags and send campaigns on schedule; "
        "serve /healthz and /metrics",
    )
    p.add_argument(
        "--once", action="store_true", help="one full cycle, then exit (for cron or a first check)"
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text for a terminal, json lines for log shippers",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="the service's last runs, instances, segment sizes and next jobs")
    p.add_argument(
        "--format", choices=["table", "json"], default="table", help="table for people, json for scripts"
    )
    p.set_defaults(func=cmd_status)


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.logs import secrets_from, setup_logging
    from segmail.jobs.start import open_service

    setup_logging(args.log_format, secrets=secrets_from(os.environ))
    service = open_service(ctx.config, ctx.store)
    workspace = None if args.once or not ctx.config.ui.listen else _workspace(ctx)
    try:
        return service.run(once=args.once)
    finally:
        if workspace is not None:
            workspace.stop()
        service.api.close()
        if service.source is not None:
            service.source.close()


def _workspace(ctx: Context) -> Served:
    """`[ui] listen`: the workspace in a thread beside the service, on the same store and config file."""
    import logging

    from segmail.ui.security import SetupError
    from segmail.ui.server import options_from, prepare

    try:
        served = prepare(ctx.config, ctx.store, options_from(ctx.config), env=os.environ).start()
    except SetupError as exc:
        raise UsageError(f"ui.listen: {exc}") from None
    logging.getLogger("segmail.ui").info("workspace on %s", served.url)
    return served


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.status import status_report

    report = status_report(ctx.store, ctx.config, now=datetime.now(UTC))
    if args.format == "json":
        import json

        print(json.dumps(report, indent=2, sort_keys=True, default=str))
    else:
        from segmail.jobs.status import print_status

        print_status(report, out)
    return EXIT_OK if report["health"]["status"] == "ok" else EXIT_FAILED
