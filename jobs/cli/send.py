"""`segmail send plan|unsent|test`: a campaign's sends, planned, left unsent or tried on an address
(jobs/send.py, jobs/plan_notes.py, jobs/unsent.py)."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from segmail.connector.fields import FieldError, email_key
from segmail.jobs.cli import mail
from segmail.jobs.cli.context import Context, err, out, parse_as_of
from segmail.jobs.errors import EXIT_FAILED, EXIT_OK, UsageError
from segmail.jobs.textfmt import pairs

if TYPE_CHECKING:
    from segmail.sending.plan import PlannedSend


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = sub.add_parser("send", help="plan or test a campaign's sends").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = send.add_parser("plan", help="every recipient of the next occurrence with zone, send time and bucket")
    p.add_argument("--campaign", required=True, help="a [campaigns.NAME] of the config")
    p.add_argument(
        "--as-of",
        help="the plan's clock (default: now): the next occurrence after it, frequency caps and the late "
        "policy; the members are the last compute's (run `segments compute --as-of` to plan other members)",
    )
    p.add_argument(
        "--format", choices=["csv"], default="csv", help="output format (csv: one row per recipient)"
    )
    p.set_defaults(func=cmd_send_plan)
    p = send.add_parser("unsent", help="planned recipients left without the mail by an error (CSV)")
    p.add_argument("--campaign", help="only this campaign (it may be gone from the config)")
    p.add_argument(
        "--clear", action="store_true", help="acknowledge them: status and /healthz stop reporting them"
    )
    p.set_defaults(func=cmd_send_unsent)
    p = send.add_parser("test", help="send a Mailchimp test email of a campaign")
    mail.add_variant_args(p)
    p.add_argument("--to", required=True, action="append", help="address (repeat for several)")
    p.set_defaults(func=cmd_send_test)


_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _csv_cell(value: str) -> str:
    """RFC 4180 quoting, done by hand: `send plan` writes a million rows and csv.writer is the slow part."""
    return '"' + value.replace('"', '""') + '"' if _CSV_SPECIAL.search(value) else value


class _Written(NamedTuple):
    recipients: int
    buckets: int
    skipped: Counter[str]  # per skip reason


def _write_plan(plans: Iterable[PlannedSend]) -> _Written:
    """One CSV row per recipient on standard output, written 10,000 rows at a time."""
    lines = ["email,timezone,tz_source,send_at_utc,bucket\n"]
    buckets: set[str] = set()
    stamps: dict[datetime, str] = {}
    skipped: Counter[str] = Counter()
    n = 0
    for p in plans:
        n += 1
        email = _csv_cell(p.email)  # zones, sources, instants and bucket keys never need quoting
        if p.send_at is None:
            skipped[p.reason] += 1
            lines.append(f"{email},{p.zone},{p.tz_source},,skip:{p.reason}\n")
        else:
            buckets.add(p.bucket_key)
            shown = stamps.get(p.send_at)
            if shown is None:  # a million recipients share a few hundred instants: format each once
                shown = stamps[p.send_at] = p.send_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"{email},{p.zone},{p.tz_source},{shown},{p.bucket_key}\n")
        if len(lines) >= 10_000:
            sys.stdout.write("".join(lines))
            lines.clear()
    sys.stdout.write("".join(lines))
    return _Written(n, len(buckets), skipped)


def cmd_send_plan(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.plan_notes import plan_source, why_nobody
    from segmail.jobs.send import Sender

    campaign = mail.campaign(ctx, args.campaign)
    as_of = parse_as_of(args.as_of)
    sender = Sender(ctx.store, ctx.config, None, mail.renderer(ctx), now=lambda: as_of)
    since_us = sender.since(campaign, write=False)
    n, buckets, skipped = _write_plan(sender.plan(campaign, now=as_of, since_us=since_us))
    source = plan_source(ctx.store, campaign, since_us=since_us)
    by_rule = f" ({pairs(dict(skipped.most_common()))})" if skipped else ""
    err.print(
        f"planned as of {as_of.isoformat()} (--as-of: the plan's clock for the next occurrence, caps and "
        f"the late policy) from {source.describe()}: {n} recipient(s), {buckets} bucket(s) "
        f"(= Mailchimp campaigns), {skipped.total()} skipped{by_rule}; nothing written",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    waiting = False
    if campaign.ab_test is not None and campaign.date is not None:
        from segmail.jobs.experiments import stored_winner
        from segmail.sending.experiments import decide_at

        winner = stored_winner(ctx.store, campaign)
        when = decide_at(campaign.date, ctx.config.send.lead).strftime("%Y-%m-%dT%H:%MZ")
        waiting = winner is None
        note = (
            f"test-then-winner: only the test group ({campaign.ab_test.percent:g} %) is planned; the others "
            f"get the winner, picked at {when}"
            if waiting
            else f"test-then-winner: the winner is {winner}"
        )
        err.print(note, markup=False, highlight=False, soft_wrap=True)
    if n == skipped.total() and not waiting:
        why = why_nobody(source, campaign, since_us=since_us, skipped=skipped)
        err.print(f"nobody to send to: {why}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_send_unsent(args: argparse.Namespace, ctx: Context) -> int:
    """Unsent errors one CSV row per recipient; `--clear` then acknowledges the rows it printed."""
    from segmail.jobs.unsent import list_unsent
    from segmail.store.codec import from_us

    def cell(value: Any) -> str:  # the two instants are the row's only integers
        at = from_us(value) if isinstance(value, int) else None
        return _csv_cell(at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else str(value or ""))

    def write(row: tuple[Any, ...]) -> None:
        sys.stdout.write(",".join(cell(v) for v in row) + "\n")

    now, store = datetime.now(UTC), ctx.store
    sys.stdout.write("email,campaign,occurrence,reason,slot_utc,recorded_utc,detail\n")
    done = list_unsent(store, args.campaign, clear=args.clear, now=now, on_row=write)
    cleared = f"; {done.cleared} acknowledged and cleared" if args.clear else ""
    err.print(f"{done.listed} unsent recipient(s)" + cleared)
    return EXIT_OK


def cmd_send_test(args: argparse.Namespace, ctx: Context) -> int:
    from segmail.jobs.send import Sender
    from segmail.jobs.wiring import open_mailchimp
    from segmail.sending.render import TemplateError

    campaign = mail.campaign(ctx, args.campaign)
    try:
        to = [email_key(a) for a in args.to]
    except FieldError as exc:
        raise UsageError(f"--to: {exc}") from None
    renderer = mail.renderer(ctx)
    api = open_mailchimp(ctx.config)
    try:
        as_of = parse_as_of(None)
        variant, local = mail.variant_for(args, ctx, campaign, renderer, as_of)
        Sender(ctx.store, ctx.config, api, renderer, now=lambda: as_of).send_test(
            campaign, to, variant, local
        )
    except TemplateError as exc:
        err.print(f"error: {exc.problem}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILED
    finally:
        api.close()
    out.print(
        f"test email of {campaign.name} ({variant}) sent to {', '.join(to)}", markup=False, highlight=False
    )
    return EXIT_OK
