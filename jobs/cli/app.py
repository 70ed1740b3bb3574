"""The top of `segmail`: global options, one subcommand module per command group, and the one place
a failure becomes a line on stderr and an exit status (jobs/errors.py)."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from segmail.jobs import errors
from segmail.jobs.cli import (
    demo,
    imports,
    predict,
    privacy,
    report,
    rules,
    sandbox,
    segments,
    send,
    service,
    shop,
    sync,
    templates,
    ui,
)
from segmail.jobs.cli.context import Context, err
from segmail.jobs.config import load_config

# in the order `segmail --help` lists them
COMMAND_GROUPS = (
    imports,
    segments,
    rules,
    predict,
    report,
    sync,
    shop,
    sandbox,
    templates,
    send,
    service,
    privacy,
    ui,
    demo,
)


def _version() -> str:
    try:
        return metadata.version("segmail")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segmail", description="Lifecycle segments for shops, synced to Mailchimp."
    )
    parser.add_argument(
        "--config", type=Path, help="config TOML (default: $SEGMAIL_CONFIG, else built-in defaults)"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on a failure, also print the Python traceback (for a bug report)",
    )
    parser.add_argument("--version", action="version", version=f"segmail {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Like `parse_args`, but --debug is taken anywhere on the line (a user appends it to the failed
    command), and an unknown option names the subcommand whose --help lists the right ones."""
    args, extra = parser.parse_known_args(argv)
    if "--debug" in extra:
        extra.remove("--debug")
        args.debug = True
    if extra:
        command = " ".join(str(w) for w in (args.command, getattr(args, "action", None)) if w)
        parser.error(f"unrecognized arguments: {' '.join(extra)} (see `segmail {command} --help`)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends as one line on stderr and an exit status (jobs/errors.py)."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # a closed pipe (`| head`) fails here, not in the interpreter's exit
    except BrokenPipeError:
        return errors.stdout_closed()


def _run(argv: Sequence[str] | None) -> int:
    debug = False
    ctx: Context | None = None
    try:
        args = _parse(build_parser(), argv)
        debug = args.debug
        ctx = Context(load_config(args.config))
        return int(args.func(args, ctx))
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        err.print(errors.INTERRUPTED, markup=False, highlight=False)
        return errors.EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        failed = errors.failure(exc)
        err.print(failed.message, markup=False, highlight=False, soft_wrap=True)
        return failed.exit_code
    finally:
        if ctx is not None:
            ctx.close()
