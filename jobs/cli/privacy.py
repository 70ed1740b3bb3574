"""`segmail forget`, `segmail export-person` and `segmail retention`: privacy requests and retention (jobs/privacy.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from segmail.jobs.cli.context import Context, err, out
from segmail.jobs.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "forget",
        help="erase people from every table and suppress them, so no import or pull brings them back",
    )
    p.add_argument("emails", nargs="*", metavar="EMAIL", help="addresses to erase")
    p.add_argument("--from-file", type=Path, metavar="FILE", help="more addresses, one a line (# comments)")
    p.add_argument(
        "--shopify-redact",
        metavar="FILE",
        help="a Shopify customers/redact or shop/redact webhook body (- for stdin)",
    )
    p.add_argument(
        "--woocommerce-erasures",
        metavar="FILE",
        help="`wp user privacy-request list --action-type=remove_personal_data --format=json` (or csv; - for stdin)",
    )
    mc = p.add_mutually_exclusive_group()
    mc.add_argument(
        "--mailchimp",
        action="store_true",
        help="also delete the members permanently in Mailchimp (asks first)",
    )
    mc.add_argument(
        "--no-mailchimp",
        action="store_true",
        help="leave Mailchimp alone (default: take segmail's tags off them)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before deleting in Mailchimp")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser(
        "export-person", help="everything segmail holds about one person, as one JSON document"
    )
    p.add_argument("email", nargs="?", metavar="EMAIL", help="the address (optional with --shopify-request)")
    p.add_argument("--format", choices=["json"], default="json", help="json (the only format)")
    p.add_argument(
        "--shopify-request",
        metavar="FILE",
        help="a Shopify customers/data_request webhook body (- for stdin)",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write the document here instead of stdout")
    p.set_defaults(func=cmd_export_person)

    p = sub.add_parser(
        "retention", help="delete what [privacy] keep_* no longer keeps (the service does it daily)"
    )
    p.add_argument("--once", action="store_true", help="one full pass, then exit (for cron)")
    p.set_defaults(func=cmd_retention)


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None


def _addresses(args: argparse.Namespace) -> list[str]:
    from segmail.connector.fields import FieldError, email_key

    found: list[str] = []
    given = [(f"argument {n}", e) for n, e in enumerate(args.emails, 1)]
    if args.from_file is not None:
        lines = _read(str(args.from_file)).splitlines()
        given += [(f"{args.from_file}:{n}", line.split("#", 1)[0]) for n, line in enumerate(lines, 1)]
    for where, raw in given:
        if not raw.strip():
            continue
        try:
            found.append(email_key(raw))
        except FieldError as exc:
            raise UsageError(f"{where}: {exc}") from None
    return found


def _command(args: argparse.Namespace, name: str) -> str:
    """The command and its options, for the audit log; never the addresses or file names given."""
    flags = [f"--{k.replace('_', '-')}" for k, v in sorted(vars(args).items()) if v not in (None, False, [])]
    keep = {"--from-file", "--shopify-redact", "--woocommerce-erasures", "--mailchimp", "--no-mailchimp",
            "--yes", "--shopify-request", "--out", "--once"}  # fmt: skip
    return " ".join([f"segmail {name}", *(f for f in flags if f in keep)])


def _check_shop(ctx: Context, domain: str | None) -> None:
    shop = ctx.config.shop
    if domain is None or shop.kind != "shopify" or not shop.url:
        return
    ours = (urlsplit(shop.url).hostname or "").lower()
    if ours and ours != domain:
        raise UsageError(
            f"the request is for {domain}, but this store pulls from {ours} ([shop] url); nothing done"
        )


def cmd_forget(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.connector.privacy_requests import RequestError, shopify_request, wordpress_erasures
    from segmail.jobs.privacy import ErasureRequest, MailchimpMode, erase

    emails = _addresses(args)
    req = ErasureRequest(emails=tuple(emails))
    try:
        if args.shopify_redact is not None:
            shop = shopify_request(_read(args.shopify_redact))
            if shop.kind == "customers/data_request":
                raise UsageError(
                    "that is a customers/data_request: use `segmail export-person --shopify-request`"
                )
            _check_shop(ctx, shop.shop_domain)
            req = ErasureRequest(
                emails=tuple(emails) + shop.emails, order_ids=shop.order_ids, request=shop.describe(),
                whole_source="shopify" if shop.kind == "shop/redact" else None,
            )  # fmt: skip
        if args.woocommerce_erasures is not None:
            wp = wordpress_erasures(_read(args.woocommerce_erasures))
            if wp.not_taken:
                err.print(
                    f"{wp.not_taken} request(s) not taken: not a confirmed or completed erasure", markup=False
                )
            req = ErasureRequest(emails=req.emails + wp.emails, request=wp.describe(), order_ids=req.order_ids,
                                 whole_source=req.whole_source)  # fmt: skip
    except RequestError as exc:
        raise UsageError(f"{args.shopify_redact or args.woocommerce_erasures}: {exc}") from None
    if not req.emails and not req.order_ids and req.whole_source is None:
        raise UsageError(
            "nobody to forget: give addresses, --from-file, --shopify-redact or --woocommerce-erasures"
        )
    mode: MailchimpMode = "delete" if args.mailchimp else "skip" if args.no_mailchimp else "untag"
    api = None
    if mode != "skip" and not ctx.config.mailchimp.list_id:
        if mode == "delete":
            raise UsageError("--mailchimp: set [mailchimp] list_id, the audience to delete the members from")
        err.print("[mailchimp] list_id is not set: nothing done in Mailchimp", markup=False)
        mode = "skip"
    if mode == "delete" and not args.yes:
        _confirm(len(set(req.emails)), ctx.config.mailchimp.list_id)
    if mode != "skip":
        from segmail.jobs.wiring import open_mailchimp

        api = open_mailchimp(ctx.config)
    try:
        result = erase(
            ctx.store,
            ctx.config,
            req,
            now=datetime.now(UTC),
            command=_command(args, "forget"),
            api=api,
            mode=mode,
        )
    finally:
        if api is not None:
            api.close()
    rows = ", ".join(f"{table} {n}" for table, n in sorted(result.rows.items())) or "nothing held"
    out.print(
        f"erased {result.people} people ({result.found} held here): {rows}; "
        f"{result.newly_suppressed} newly suppressed",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    if result.mailchimp:
        done = ", ".join(f"{what} {n}" for what, n in sorted(result.mailchimp.items()))
        out.print(f"Mailchimp: {done}", markup=False, highlight=False)
    return EXIT_OK


def _confirm(people: int, list_id: str) -> None:
    question = (
        f"Delete {people} member(s) permanently from Mailchimp audience {list_id}? Mailchimp erases their data "
        "and they can never be imported again, only sign up themselves. [y/N] "
    )
    if not sys.stdin.isatty():
        raise UsageError("--mailchimp deletes permanently: add --yes to confirm when not asked at a terminal")
    err.print(question, end="", markup=False)
    if input().strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was erased")


def cmd_export_person(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.connector.privacy_requests import RequestError, shopify_request
    from segmail.jobs.privacy import export

    emails = _addresses(argparse.Namespace(emails=[args.email] if args.email else [], from_file=None))
    order_ids: tuple[str, ...] = ()
    extra = None
    request = "cli"
    if args.shopify_request is not None:
        try:
            shop = shopify_request(_read(args.shopify_request))
        except RequestError as exc:
            raise UsageError(f"{args.shopify_request}: {exc}") from None
        if shop.kind != "customers/data_request":
            raise UsageError(f"that is a {shop.kind} request: use `segmail forget --shopify-redact`")
        _check_shop(ctx, shop.shop_domain)
        emails = emails or list(shop.emails)
        order_ids, request = shop.order_ids, shop.describe()
        extra = {"kind": shop.kind, "shop_domain": shop.shop_domain, "data_request_id": shop.request_id,
                 "orders_requested": list(shop.order_ids)}  # fmt: skip
    if len(emails) != 1:
        raise UsageError("give one address (or a --shopify-request with the customer's email)")
    doc = export(
        ctx.store, ctx.config, emails[0], now=datetime.now(UTC), command=_command(args, "export-person"),
        request=request, order_ids=order_ids, extra=extra,
    )  # fmt: skip
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_retention(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs import retention

    if not args.once:
        raise UsageError("pass --once (the service `segmail run` does it daily)")
    result = retention.run(
        ctx.store, ctx.config, now=datetime.now(UTC), command="segmail retention --once", max_chunks=None
    )
    deleted = (
        ", ".join(f"{stream} {n}" for stream, n in sorted(result.rows.items())) or "nothing older than kept"
    )
    out.print(f"retention: deleted {deleted}", markup=False, highlight=False)
    return EXIT_OK
