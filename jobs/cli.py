"""The `segmail` command line: argument parsing and output only; work happens in jobs/ modules."""

from __future__ import annotations

import argparse
import csv
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from connector.csv_files import FORMAT_NAMES, KINDS
from connector.fields import FieldError, email_key
from jobs import errors
from jobs.compute import compute, evaluate
from jobs.config import AppConfig, load_config
from jobs.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from jobs.importer import ImportFailed, import_csv, import_zone, summary_lines
from jobs.textfmt import pairs
from segments import engine
from store.db import Store, open_store
from store.runs import last_run

out = Console()
err = Console(stderr=True)


def parse_as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise UsageError(f"--as-of {text!r} has no UTC offset; add Z or +HH:MM")
    return value.astimezone(UTC)


class Context:
    """What a command needs: the config, and the store opened on first use and always closed."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.store_url(), cache_mib=self.config.store.cache_mib)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    shown = 0

    def report(problem: object) -> None:
        nonlocal shown
        if shown < args.show_problems:
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        shown += 1

    shop = ctx.config.shop
    try:
        summary = import_csv(
            ctx.store,
            Path(args.file),
            args.kind,
            now=datetime.now(UTC),
            source=args.source,
            fmt=None if args.format == "auto" else args.format,
            timezone=import_zone(args.timezone),
            shop_currency=shop.currency,
            statuses=shop.statuses,
            on_problem=report,
            on_table=lambda line: out.print(f"reading {line}", markup=False, highlight=False, soft_wrap=True),
        )
    except ImportFailed as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILED
    if shown > args.show_problems:
        err.print(f"... and {shown - args.show_problems} more problem(s)", markup=False)
    if args.problems_csv:
        try:
            with open(args.problems_csv, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["file", "line", "severity", "reason"])
                writer.writerows((p.file, p.line, p.severity, p.reason) for p in summary.problems)
        except OSError as exc:
            raise UsageError(f"--problems-csv {args.problems_csv}: {exc.strerror or exc}") from None
    for line in summary_lines(summary):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    if summary.accepted == 0:
        err.print(
            f"error: no row of {summary.file} was accepted ({summary.skipped} skipped); nothing was imported",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_FAILED
    return EXIT_OK


def _changes_table(result_changes: dict[str, engine.SegmentChange], config: AppConfig, title: str) -> Table:
    table = Table(title=title)
    for col in ("segment", "tag", "members", "entered", "left"):
        table.add_column(col, justify="right" if col in ("members", "entered", "left") else "left")
    for name, change in result_changes.items():
        defn = config.segment_defs.get(name)
        tag = defn.tag if defn else "-"
        if defn and not defn.enabled:
            tag += " (disabled)"
        table.add_row(name, tag, str(change.size), f"+{change.entered}", f"-{change.left}")
    return table


def cmd_compute(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.config
    store = ctx.store
    as_of = parse_as_of(args.as_of)
    result = compute(store, config, as_of=as_of, now=datetime.now(UTC))
    title = f"segments as of {as_of.isoformat()} (run {result.run_id}; changes since the last run)"
    out.print(_changes_table(result.changes, config, title))
    if result.point_in_time:
        err.print("note: data after --as-of exists; computed on a point-in-time copy of the features")
    return EXIT_OK


def _write_export(rows: Iterable[tuple[str, str]], stream: TextIO) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["email", "segment"])
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.config
    store = ctx.store
    stream: TextIO = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        with store.engine.begin() as conn:
            if args.as_of is None:
                run = last_run(conn, "compute")
                if run is None:
                    raise UsageError("nothing computed yet: run `segmail segments compute` or pass --as-of")
                err.print(
                    f"exporting the memberships computed as of {run['as_of'].isoformat()} (run {run['id']})"
                )
                count = _write_export(engine.stored_rows(conn), stream)
            else:
                ev = evaluate(conn, config, as_of=parse_as_of(args.as_of))
                count = _write_export(engine.desired_rows(conn, ev), stream)
                conn.rollback()  # an export never writes
    finally:
        if stream is not sys.stdout:
            stream.close()
    err.print(f"{count} membership row(s) exported")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.config
    try:
        key = email_key(args.email)
    except FieldError as exc:
        raise UsageError(str(exc)) from None
    store = ctx.store
    with store.engine.begin() as conn:
        ev = evaluate(conn, config, as_of=parse_as_of(args.as_of))
        ex = engine.explain(conn, ev, key)
        median = ev.stats.median_repurchase_days()
        conn.rollback()
    out.print(f"[bold]{ex.email_key}[/] — status {ex.status or 'unknown'} — as of {ev.as_of.isoformat()}")
    if ex.features:
        table = Table(title="features")
        table.add_column("feature")
        table.add_column("value")
        for name, value in ex.features.items():
            table.add_row(name, value)
        out.print(table)
    shown = "none (no repeat purchases yet)" if median is None else f"{float(median):.2f} days"
    out.print(f"shop median repurchase interval: {shown}", highlight=False)
    verdicts = Table(title="segments")
    verdicts.add_column("segment")
    verdicts.add_column("member")
    verdicts.add_column("why")
    for v in ex.verdicts:
        verdicts.add_row(v.segment, "yes" if v.member else "no", v.reason)
    out.print(verdicts)
    return EXIT_OK if ex.status is not None else EXIT_FAILED


def cmd_preview(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.config
    store = ctx.store
    with store.engine.begin() as conn:
        ev = evaluate(conn, config, as_of=parse_as_of(args.as_of))
        totals: dict[tuple[str, str], int] = {}
        writer = csv.writer(sys.stdout, lineterminator="\n") if args.format == "csv" else None
        if writer:
            writer.writerow(["segment", "email", "action", "reason"])
        for change in engine.preview(conn, ev):
            n = totals.get((change.segment, change.action), 0)
            totals[(change.segment, change.action)] = n + 1
            if writer:
                writer.writerow([change.segment, change.email_key, change.action, change.reason])
            elif n < args.limit:
                sign = "+" if change.action == "enter" else "-"
                out.print(
                    f"{sign} {change.segment:<14} {change.email_key}  {change.reason}",
                    markup=False,
                    highlight=False,
                )
        conn.rollback()  # preview never writes
    summary = ", ".join(
        f"{seg} +{totals.get((seg, 'enter'), 0)}/-{totals.get((seg, 'leave'), 0)}" for seg in ev.defs
    )
    err.print(f"would change: {summary} (nothing written)")
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace, ctx: Context) -> int:
    from jobs.config_check import check_campaigns

    config = ctx.config  # loading it checked every key, rule and segment reference
    checked = check_campaigns(config, _renderer(ctx) if config.campaigns else None)
    table = Table(title=f"segments in {config.origin}")
    for col in ("segment", "tag", "enabled", "rule", "parameters"):
        table.add_column(col)
    for d in config.segment_defs.values():
        params = ", ".join(f"{k}={v}" for k, v in d.params.items())
        table.add_row(d.name, d.tag, "yes" if d.enabled else "no", d.rule, params)
    out.print(table)
    if config.campaigns:
        campaigns = Table(title="campaigns")
        for col in ("campaign", "enabled", "segment", "template", "trigger"):
            campaigns.add_column(col)
        for c in config.campaigns.values():
            campaigns.add_row(c.name, "yes" if c.enabled else "no", c.segment, c.template, c.trigger)
        out.print(campaigns)
    for message in (*config.warnings, *checked.warnings):
        err.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)
    for message in checked.errors:
        err.print(message, markup=False, highlight=False, soft_wrap=True)
    where = (
        f"templates checked in {checked.templates_dir}"
        if checked.templates_dir
        else "no campaigns, so no templates checked"
    )
    if checked.errors:
        err.print(
            f"{len(checked.errors)} problem(s) in {config.origin}; {where}", markup=False, soft_wrap=True
        )
        return EXIT_USAGE
    out.print(f"{config.origin}: all valid; {where}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    from jobs import sync

    if not args.once:
        raise UsageError("pass --once (the long-running service is `segmail run`)")
    config = ctx.config
    try:
        api = sync.open_api(config)
    except sync.SyncConfigError as exc:
        raise UsageError(str(exc)) from None
    as_of = parse_as_of(args.as_of)
    try:
        if args.dry_run:
            return _sync_dry_run(ctx, api, as_of)
        with err.status("sync") as status:
            summary = sync.sync_once(
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
    from jobs.sync import dry_run

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
    from jobs.sync import SyncSummary

    assert isinstance(summary, SyncSummary)
    out.print(
        f"members pulled: {summary.members_pulled} ({len(summary.member_problems)} skipped), "
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


def cmd_shop_pull(args: argparse.Namespace, ctx: Context) -> int:
    import os

    from jobs import shop_pull
    from jobs.logs import command_log_lines, secrets_from

    if not args.once:
        raise UsageError("pass --once (the long-running service is `segmail run`)")
    try:
        source = shop_pull.open_source(ctx.config)
    except shop_pull.ShopConfigError as exc:
        raise UsageError(str(exc)) from None
    try:  # one log line per stored page and per wait; a failure goes to jobs/errors.py like any command's
        with command_log_lines(secrets=secrets_from(os.environ)):
            summary = shop_pull.pull_orders(ctx.store, ctx.config, source, now=datetime.now(UTC))
    finally:
        source.close()
    for problem in summary.problems[:20]:
        err.print(problem, markup=False, highlight=False, soft_wrap=True)
    out.print(
        f"{summary.kind}: {summary.orders} orders stored from {summary.pages} page(s), {summary.skipped} skipped; "
        f"cursor {summary.cursor or '(none)'}",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, ctx: Context) -> int:
    import tempfile
    from contextlib import ExitStack

    from sandbox.mailchimp import main as serve
    from sandbox.shopgen import generate_shop

    as_of = parse_as_of(args.as_of)
    argv = ["--port", str(args.port), "--seed", str(args.seed), "--contacts", str(args.contacts)]
    argv += ["--api-key", args.api_key, "--as-of", as_of.isoformat()]
    if args.faults:
        argv += ["--faults", args.faults]
    with ExitStack() as stack:
        if args.shop != "none":  # the same generated shop as the audience, so orders match members
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="segmail-shop-")))
            files = generate_shop(folder, contacts=args.contacts, seed=args.seed, as_of=as_of)
            shop, env = _shop_sandbox(args.shop)
            shop.load_orders(files.orders, contacts_csv=files.contacts)
            stack.enter_context(shop)
            err.print(
                f"{args.shop} sandbox: [shop] kind = {args.shop!r}, url = {shop.base_url!r}; {env}",
                markup=False, soft_wrap=True,
            )  # fmt: skip
        err.print(
            f"Mailchimp sandbox (key {args.api_key}) starting; its base URL is printed below "
            "(set [mailchimp] api_url to it). Ctrl-C stops it.",
            markup=False,
            soft_wrap=True,
        )
        return serve(argv)


def _shop_sandbox(kind: str) -> tuple[Any, str]:
    if kind == "woocommerce":
        from sandbox.woocommerce import WooCommerceSandbox

        woo = WooCommerceSandbox()
        return woo, f"WC_CONSUMER_KEY={woo.consumer_key} WC_CONSUMER_SECRET={woo.consumer_secret}"
    from sandbox.shopify import ShopifySandbox

    shopify = ShopifySandbox()
    return shopify, f"SHOPIFY_ACCESS_TOKEN={shopify.access_token}"


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    import os

    from jobs.logs import secrets_from, setup_logging
    from jobs.start import open_service

    setup_logging(args.log_format, secrets=secrets_from(os.environ))
    service = open_service(ctx.config, ctx.store)
    try:
        return service.run(once=args.once)
    finally:
        service.api.close()
        if service.source is not None:
            service.source.close()


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from jobs.status import status_report

    report = status_report(ctx.store, ctx.config, now=datetime.now(UTC))
    if args.format == "json":
        import json

        print(json.dumps(report, indent=2, sort_keys=True, default=str))
    else:
        from jobs.status import print_status

        print_status(report, out)
    return EXIT_OK if report["health"]["status"] == "ok" else EXIT_FAILED


def _renderer(ctx: Context) -> Any:
    from jobs.send import make_renderer

    try:
        return make_renderer(ctx.config)
    except (OSError, ValueError) as exc:
        raise UsageError(f"send.templates_dir: cannot load the templates: {exc}") from None


def _campaign(ctx: Context, name: str) -> Any:
    campaign = ctx.config.campaigns.get(name)
    if campaign is None:
        known = ", ".join(sorted(ctx.config.campaigns)) or "none configured"
        raise UsageError(
            f"--campaign {name!r}: no [campaigns.{name}] in {ctx.config.origin} (known: {known})"
        )
    return campaign


def cmd_templates_check(args: argparse.Namespace, ctx: Context) -> int:
    renderer = _renderer(ctx)
    from jobs.config_check import check_campaigns

    campaigns = check_campaigns(ctx.config, renderer, templates_named=args.template or ())
    problems = [str(p) for p in renderer.check(args.template or None)] + campaigns.errors
    for warning in campaigns.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    for problem in problems:
        err.print(problem, markup=False, highlight=False, soft_wrap=True)
    checked = len(args.template) if args.template else len(renderer.campaign_templates())
    languages = ", ".join(renderer.languages)
    if problems:
        err.print(f"{len(problems)} problem(s) in {checked} template(s)", markup=False)
        return EXIT_FAILED
    out.print(f"{checked} template(s) ok in every language ({languages})", markup=False, highlight=False)
    return EXIT_OK


def _variant_for(
    args: argparse.Namespace, ctx: Context, campaign: Any, renderer: Any, as_of: datetime
) -> tuple[Any, Any]:
    from sending.plan import make_variant
    from sending.render import normalize_language
    from sending.timezones import local_date_of

    if args.language and args.language not in renderer.languages:
        raise UsageError(
            f"--language {args.language!r}: shipped languages are {', '.join(renderer.languages)}"
        )
    country = (args.country or "").upper()
    if country and (len(country) != 2 or not country.isalpha()):
        raise UsageError(f"--country {args.country!r}: expected an ISO 3166 alpha-2 code such as DE")
    local = local_date_of(as_of, ctx.config.send.default_timezone)
    dims = renderer.dimensions(campaign.template, campaign.subject)
    variant = make_variant(
        dims, segment=args.segment or campaign.segment, language=normalize_language(args.language, renderer.languages),
        country=country, local_date=local,
    )  # fmt: skip
    return variant, local


def cmd_render(args: argparse.Namespace, ctx: Context) -> int:
    from jobs.preview import preview
    from sending.render import TemplateError, normalize_language

    campaign = _campaign(ctx, args.campaign)
    renderer = _renderer(ctx)
    as_of = parse_as_of(args.as_of)
    if args.segment and args.segment not in ctx.config.segment_defs:
        from segments.suggest import did_you_mean

        known = ctx.config.segment_defs
        hint = did_you_mean(args.segment, known) or f" (known: {', '.join(known)})"
        raise UsageError(f"--segment {args.segment!r}: no such segment in {ctx.config.origin}{hint}")
    contact = _sample_contact(ctx, args.contact) if args.contact else None
    if contact is not None:  # the mail this person gets, unless the options say otherwise
        args.language = args.language or normalize_language(contact.language, renderer.languages)
        args.country = args.country or contact.country
    try:
        variant, local = _variant_for(args, ctx, campaign, renderer, as_of)
        shown = preview(renderer, campaign, variant, local, contact)
    except TemplateError as exc:
        err.print(f"error: {exc.problem}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_FAILED
    for problem in shown.problems:
        err.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
    if shown.problems:
        err.print(
            f"not written: a send would refuse this mail ({len(shown.problems)} problem(s))", markup=False
        )
        return EXIT_FAILED
    for warning in shown.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    Path(args.out).write_text(shown.mail.html, encoding="utf-8")
    if args.text:
        Path(args.text).write_text(shown.mail.text, encoding="utf-8")
    err.print(f"subject: {shown.mail.subject}", markup=False, highlight=False)
    err.print(f"variant: {variant} — wrote {args.out}", markup=False, highlight=False, soft_wrap=True)
    if contact is not None:
        left = ", ".join(shown.left) or "none"
        err.print(
            f"merge tags filled for {contact.email}; left for Mailchimp: {left}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return EXIT_OK


def _sample_contact(ctx: Context, email: str) -> Any:
    from jobs.preview import sample_contact

    try:
        contact = sample_contact(ctx.store, email)
    except FieldError as exc:
        raise UsageError(f"--contact: {exc}") from None
    if contact is None:
        raise UsageError(
            f"--contact {email!r}: no such contact in the store; import contacts or run `segmail sync` first"
        )
    return contact


_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _csv_cell(value: str) -> str:
    """RFC 4180 quoting, done by hand: `send plan` writes a million rows and csv.writer is the slow part."""
    return '"' + value.replace('"', '""') + '"' if _CSV_SPECIAL.search(value) else value


def cmd_send_plan(args: argparse.Namespace, ctx: Context) -> int:
    from collections import Counter

    from jobs.plan_notes import plan_source, why_nobody
    from jobs.send import Sender

    campaign = _campaign(ctx, args.campaign)
    as_of = parse_as_of(args.as_of)
    sender = Sender(ctx.store, ctx.config, None, _renderer(ctx), now=lambda: as_of)
    since_us = sender.since(campaign, write=False)
    lines = ["email,timezone,tz_source,send_at_utc,bucket\n"]
    buckets: set[str] = set()
    stamps: dict[datetime, str] = {}
    skipped: Counter[str] = Counter()
    n = 0
    for p in sender.plan(campaign, now=as_of, since_us=since_us):
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
    source = plan_source(ctx.store, campaign, since_us=since_us)
    by_rule = f" ({pairs(dict(skipped.most_common()))})" if skipped else ""
    err.print(
        f"planned as of {as_of.isoformat()} (--as-of: the plan's clock for the next occurrence, caps and "
        f"the late policy) from {source.describe()}: {n} recipient(s), {len(buckets)} bucket(s) "
        f"(= Mailchimp campaigns), {skipped.total()} skipped{by_rule}; nothing written",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if n == skipped.total():
        why = why_nobody(source, campaign, since_us=since_us, skipped=skipped)
        err.print(f"nobody to send to: {why}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_send_unsent(args: argparse.Namespace, ctx: Context) -> int:
    """Unsent errors one CSV row per recipient; `--clear` then acknowledges the rows it printed."""
    from store import unsent
    from store.codec import from_us, to_us

    def cell(value: Any) -> str:  # the two instants are the row's only integers
        at = from_us(value) if isinstance(value, int) else None
        return _csv_cell(at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else str(value or ""))

    started = to_us(datetime.now(UTC))
    n = cleared = 0
    with ctx.store.engine.begin() as conn:
        sys.stdout.write("email,campaign,occurrence,reason,slot_utc,recorded_utc,detail\n")
        for row in unsent.listing(conn, args.campaign):
            n += 1
            sys.stdout.write(",".join(cell(v) for v in row) + "\n")
        if args.clear:
            cleared = unsent.acknowledge(conn, args.campaign, recorded_until_us=started)
    err.print(f"{n} unsent recipient(s)" + (f"; {cleared} acknowledged and cleared" if args.clear else ""))
    return EXIT_OK


def cmd_send_test(args: argparse.Namespace, ctx: Context) -> int:
    from jobs import sync
    from jobs.send import Sender
    from sending.render import TemplateError

    campaign = _campaign(ctx, args.campaign)
    try:
        to = [email_key(a) for a in args.to]
    except FieldError as exc:
        raise UsageError(f"--to: {exc}") from None
    renderer = _renderer(ctx)
    try:
        api = sync.open_api(ctx.config)
    except sync.SyncConfigError as exc:
        raise UsageError(str(exc)) from None
    try:
        as_of = parse_as_of(None)
        variant, local = _variant_for(args, ctx, campaign, renderer, as_of)
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


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from jobs.demo import run_demo

    return run_demo(
        contacts=args.contacts,
        seed=args.seed,
        workdir=Path(args.dir),
        as_of=parse_as_of(args.as_of),
        console=out,
        serve=args.serve,
        frozen=args.as_of is not None,
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

    p = sub.add_parser(
        "import",
        help="import contacts, orders or events from a CSV file or an export zip",
        description="Formats are detected from the header: segmail's own, a Mailchimp audience export "
        "(the zip or its CSVs), a Shopify orders export, a WooCommerce orders export (WebToffee). "
        "Comma-, semicolon- and tab-separated files are read.",
    )
    p.add_argument("kind", choices=list(KINDS), help="what the file holds")
    p.add_argument("file", help="a .csv file, or a .zip of them (a Mailchimp audience export)")
    p.add_argument(
        "--format",
        choices=["auto", *FORMAT_NAMES],
        default="auto",
        help="read the file as this format instead of detecting it from the header (default: auto)",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone of times written without a UTC offset, e.g. Europe/Berlin (WooCommerce exports "
        "need it: their order_date is the WordPress site's local time)",
    )
    p.add_argument(
        "--source",
        help="source name orders are keyed under (default: the format's: csv, shopify, woocommerce, "
        "mailchimp; the same as `shop pull` uses, so both update the same orders)",
    )
    p.add_argument("--show-problems", type=int, default=50, metavar="N", help="print at most N bad rows")
    p.add_argument("--problems-csv", metavar="FILE", help="write the bad rows' file, line and reason here")
    p.set_defaults(func=cmd_import)

    seg = sub.add_parser("segments", help="compute, export, explain and preview segments").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    as_of_help = "ISO 8601 with offset, e.g. 2026-11-26T09:00:00Z (default: now)"
    p = seg.add_parser("compute", help="store the memberships at --as-of and print counts and changes")
    p.add_argument("--as-of", help=as_of_help)
    p.set_defaults(func=cmd_compute)
    p = seg.add_parser("export", help="write email,segment rows (the last compute, or evaluated at --as-of)")
    p.add_argument("--format", choices=["csv"], default="csv", help="output format (csv: email,segment)")
    p.add_argument(
        "--as-of", help="evaluate at this time instead of exporting the last compute (nothing stored)"
    )
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)
    p = seg.add_parser("explain", help="a contact's features and why it is in or out of each segment")
    p.add_argument("email", help="the contact's email address (any case)")
    p.add_argument("--as-of", help=as_of_help)
    p.set_defaults(func=cmd_explain)
    p = seg.add_parser("preview", help="who would enter or leave each segment against the last compute")
    p.add_argument("--as-of", help=as_of_help)
    p.add_argument(
        "--format", choices=["table", "csv"], default="table",
        help="table: the first --limit changes per segment; csv: every change with its reason",
    )  # fmt: skip
    p.add_argument(
        "--limit", type=int, default=20, help="rows shown per segment and direction (table format)"
    )
    p.set_defaults(func=cmd_preview)

    rules = sub.add_parser("rules", help="validate the config and every segment rule").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = rules.add_parser(
        "check",
        help="validate the whole config: keys, segment rules, campaigns (segment, template, subject)",
    )
    p.set_defaults(func=cmd_rules_check)

    p = sub.add_parser("sync", help="pull from Mailchimp, compute segments, push tag changes")
    p.add_argument("--once", action="store_true", help="run one sync and exit")
    p.add_argument("--as-of", help=as_of_help)
    p.add_argument(
        "--dry-run", action="store_true", help="print the per-member tag changes a push would send"
    )
    p.set_defaults(func=cmd_sync)

    shop = sub.add_parser("shop", help="pull orders from the shop ([shop] kind)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = shop.add_parser("pull", help="pull new and changed orders since the last pull")
    p.add_argument("--once", action="store_true", help="one pull, then exit")
    p.set_defaults(func=cmd_shop_pull)

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

    templates = sub.add_parser("templates", help="check the mail templates").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = templates.add_parser(
        "check", help="syntax, unknown variables, footer (unsubscribe + address), translations"
    )
    p.add_argument("template", nargs="*", help="template file names (default: every campaign template)")
    p.set_defaults(func=cmd_templates_check)

    def variant_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--campaign", required=True, help="a [campaigns.NAME] of the config")
        p.add_argument("--segment", help="default: the campaign's segment")
        p.add_argument("--language", help="en, de, uz ... (default en)")
        p.add_argument("--country", help="ISO 3166 alpha-2, e.g. AU (drives country blocks and the season)")

    p = sub.add_parser("render", help="write the exact HTML one bucket of a campaign would get")
    variant_args(p)
    p.add_argument("--as-of", help="the send date (default: now)")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--text", help="also write the plain-text part here")
    p.add_argument(
        "--contact", metavar="EMAIL",
        help="fill the Mailchimp merge tags (*|FNAME|*, *|LNAME|*, *|EMAIL|*, *|IF:…|*) as this stored "
        "contact sees them, in their language and country; without it the tags stay as campaigns get them",
    )  # fmt: skip
    p.set_defaults(func=cmd_render)

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
    variant_args(p)
    p.add_argument("--to", required=True, action="append", help="address (repeat for several)")
    p.set_defaults(func=cmd_send_test)

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
    p.add_argument("--as-of", help=as_of_help)
    p.add_argument("--serve", action="store_true", help="keep the service running against the sandboxes")
    p.set_defaults(func=cmd_demo)
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


if __name__ == "__main__":
    sys.exit(main())
