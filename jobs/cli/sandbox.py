"""`segmail sandbox serve`: local stand-ins for Mailchimp and the shops (sandbox/serve.py)."""

from __future__ import annotations

import argparse

from segmail.jobs.cli.context import Context, err, parse_as_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser(
        "sandbox", help="local stand-ins for Mailchimp, Shopify and WooCommerce, for trials and tests"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sandbox.add_parser(
        "serve", help="serve a Mailchimp sandbox with a generated audience (and --shop's orders) until Ctrl-C"
    )
    p.add_argument("--port", type=int, default=0, help="the Mailchimp sandbox's port (0 picks a free port)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated shop: same seed, same data")
    p.add_argument("--contacts", type=int, default=1000, help="members generated like `segmail demo`'s shop")
    p.add_argument("--as-of", help="generate the audience as of this time (default: now)")
    p.add_argument("--faults", help="fault injection, e.g. rate_429=0.1,rate_500=0.05,latency_ms=50")
    p.add_argument("--api-key", default="test-us6", help="the one key the sandbox accepts (default test-us6)")
    p.add_argument(
        "--shop", choices=["none", "woocommerce", "shopify"], default="none",
        help="also serve a fake shop with the same generated orders",
    )  # fmt: skip
    p.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.sandbox.serve import serve

    return serve(
        port=args.port,
        seed=args.seed,
        contacts=args.contacts,
        as_of=parse_as_of(args.as_of),
        faults=args.faults,
        api_key=args.api_key,
        shop=args.shop,
        note=lambda line: err.print(line, markup=False, soft_wrap=True),
    )
