"""`segmail demo`: one service cycle against local sandboxes serving a generated shop (jobs/demo.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from segmail.jobs.cli.context import AS_OF_HELP, Context, out, parse_as_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="one service cycle against local Shopify and Mailchimp sandboxes serving a generated shop; "
        "prints what it did and commands to explore the result",
    )
    p.add_argument("--contacts", type=int, default=5_000, help="customers in the generated shop")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated shop: same seed, same data")
    p.add_argument(
        "--dir", default="segmail-demo", help="work folder for the generated files and the SQLite store"
    )
    p.add_argument("--as-of", help=AS_OF_HELP)
    p.add_argument("--serve", action="store_true", help="keep the service running against the sandboxes")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.demo import run_demo

    return run_demo(
        contacts=args.contacts,
        seed=args.seed,
        workdir=Path(args.dir),
        as_of=parse_as_of(args.as_of),
        console=out,
        serve=args.serve,
        frozen=args.as_of is not None,
    )
