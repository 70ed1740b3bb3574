"""`segmail ui`: the web workspace (segmail/ui) on this machine, until Ctrl-C."""

from __future__ import annotations

import argparse
import os

from segmail.jobs.cli.context import Context, err, parse_as_of
from segmail.jobs.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ui",
        help="the web workspace: overview, segments and member search, rule editor with preview, "
        "templates, sends, predictions",
        description="Serves the workspace until Ctrl-C. On 127.0.0.1 (the default) it needs no login "
        "unless SEGMAIL_UI_TOKEN is set; any other address needs SEGMAIL_UI_TOKEN (or "
        "SEGMAIL_UI_TOKEN_FILE) and [ui] tls_cert/tls_key.",
    )
    p.add_argument("--listen", metavar="HOST:PORT", help="default: [ui] listen, else 127.0.0.1:8765")
    p.add_argument("--read-only", action="store_true", help="pages only: no rule can be saved")
    p.add_argument(
        "--as-of",
        help="the workspace's clock, for every page (explain, previews, plans, predictions): "
        "ISO 8601 with offset, e.g. the demo's --as-of to look at its store at its time (default: now)",
    )
    p.set_defaults(func=cmd_ui)


def cmd_ui(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.config import check_listen
    from segmail.jobs.logs import secrets_from, setup_logging
    from segmail.ui.security import SetupError
    from segmail.ui.server import options_from, prepare

    if args.listen:
        try:
            check_listen(args.listen, "127.0.0.1:8765")
        except ValueError as exc:
            raise UsageError(f"--listen {args.listen!r}: {exc}") from None
    setup_logging("text", secrets=secrets_from(os.environ))
    pinned = None if args.as_of is None else parse_as_of(args.as_of)
    options = options_from(ctx.config, listen=args.listen, read_only=args.read_only)
    try:
        clock = {} if pinned is None else {"now": lambda: pinned}
        served = prepare(ctx.config, ctx.store, options, env=os.environ, **clock)
    except SetupError as exc:
        raise UsageError(str(exc)) from None
    mode = (
        "read-only" if args.read_only or ctx.config.ui.read_only else "editing rules in " + ctx.config.origin
    )
    err.print(
        f"segmail workspace on {served.url} ({mode}); Ctrl-C stops",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    served.run()
    return EXIT_OK
