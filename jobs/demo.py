"""`segmail demo`: the whole service loop on embedded defaults, against local sandboxes.

A generated shop is served by the Shopify sandbox and its customers by the Mailchimp sandbox (with a
past newsletter's opens and clicks); one full cycle then runs exactly as `segmail run` would —
shop pull, Mailchimp pull, compute, tag push, send planning — on a fresh SQLite file. `--serve`
keeps the service running against the sandboxes until Ctrl-C.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from jobs.config import AppConfig, parse_config
from jobs.logs import setup_logging
from jobs.start import open_service
from sandbox.mailchimp import MailchimpSandbox
from sandbox.shopgen import generate_shop
from sandbox.shopify import ShopifySandbox
from store.db import open_store

LIST_ID = "demo"
API_KEY = "demo0000000000000000000000000000-us6"


def demo_campaigns(today: date) -> dict[str, dict[str, Any]]:
    """The shipped templates as campaigns: what a shop would start from."""
    base = {"from_name": "segmail demo shop", "reply_to": "hello@shop.example", "local_time": "10:00"}
    return {
        "welcome": {**base, "segment": "welcome", "template": "welcome.html", "trigger": "on_enter", "backfill": True,
                    "subject": "{{ _('Welcome to %(shop_name)s', shop_name=shop.name) }}"},
        "repeat_thanks": {**base, "segment": "repeat_buyer", "template": "repeat_buyer.html", "trigger": "on_enter",
                          "subject": "{{ _('Thank you for shopping with us again') }}"},
        "vip_early": {**base, "segment": "vip", "template": "vip_early_access.html", "trigger": "at",
                      "date": (today + timedelta(days=3)).isoformat(),
                      "subject": "{{ _('Your early access starts today') }}"},
        "lapsed_winback": {**base, "segment": "lapsed", "template": "lapsed_winback.html", "trigger": "on_enter",
                           "backfill": True, "days": ["tue", "thu"],
                           "subject": "{{ _('We miss you: here is a voucher for your next order') }}"},
        "still_interested": {**base, "segment": "unengaged", "template": "unengaged_still_interested.html",
                             "trigger": "on_enter", "subject": "{{ _('Still interested in news from %(shop_name)s?', shop_name=shop.name) }}"},
        "last_chance": {**base, "segment": "unengaged", "template": "unengaged_last_chance.html", "trigger": "on_enter",
                        "delay": "7d", "subject": "{{ _('Last chance: should we stay in touch?') }}"},
    }  # fmt: skip


def demo_config(db: Path, mailchimp_url: str, shop_url: str, today: date) -> AppConfig:
    data = {
        "store": {"path": str(db)},
        "mailchimp": {"list_id": LIST_ID, "api_url": mailchimp_url},
        "shop": {"kind": "shopify", "url": shop_url},
        "schedule": {"sync_every": "1m"},
        "send": {"shop_name": "segmail demo shop", "shop_url": "https://shop.example",
                 "shop_address": "segmail demo shop, 1 Example Street, 10115 Berlin, Germany",
                 "default_timezone": "Europe/Berlin"},
        "campaigns": demo_campaigns(today),
    }  # fmt: skip
    return parse_config(data, origin="(demo defaults)", base_dir=db.parent, env={})


def run_demo(
    *,
    contacts: int,
    seed: int,
    workdir: Path,
    as_of: datetime,
    console: Console,
    serve: bool = False,
    frozen: bool = False,
) -> int:
    """`frozen` (an explicit --as-of): every clock — service, sandboxes — stands at `as_of`."""
    workdir = workdir.resolve()  # the config resolves a relative store path against its own folder
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "segmail-demo.db"
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)  # the demo always starts from a fresh store
    console.print(f"[bold]1. sandboxes[/]: a generated shop ({contacts} customers, seed {seed}) served as Shopify, "
                  "its customers as a Mailchimp audience")  # fmt: skip
    clock = (lambda: as_of) if frozen else None
    with tempfile.TemporaryDirectory(prefix="segmail-demo-shop-") as tmp:
        files = generate_shop(Path(tmp), contacts=contacts, seed=seed, as_of=as_of)
        # a Shopify Plus shop's rate limits, so the first pull of a demo takes seconds, not minutes
        shopify = ShopifySandbox(maximum_available=20_000, restore_rate=1_000, now=clock)
        shopify.load_orders(files.orders, contacts_csv=files.contacts)
    mailchimp = MailchimpSandbox(api_key=API_KEY, clock=clock)
    mailchimp.add_list(LIST_ID, "segmail demo audience")
    members = mailchimp.load_audience(LIST_ID, contacts=contacts, seed=seed, as_of=as_of)
    with shopify, mailchimp:
        events = mailchimp.send_newsletter(LIST_ID, at=as_of - timedelta(days=20), seed=seed)
        console.print(f"   Mailchimp sandbox {mailchimp.base_url}: {members} members, a newsletter with {events} "
                      f"opens/clicks; Shopify sandbox {shopify.base_url}", highlight=False)  # fmt: skip
        config = demo_config(db, mailchimp.base_url, shopify.base_url, as_of.date())
        env = {"MAILCHIMP_API_KEY": API_KEY, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
        store = open_store(config.store_url(), cache_mib=config.store.cache_mib)
        service = open_service(config, store, env, now=clock) if clock else open_service(config, store, env)
        try:
            console.print(f"[bold]2. one service cycle[/] on a fresh SQLite store {db}")
            with console.status("shop pull → Mailchimp pull → compute → push tags → plan sends"):
                result = service.run_cycle()
            if result is None:
                console.print("[red]the cycle could not run[/]")
                return 1
            _print_cycle(console, config, result)
            _print_sends(console, service, as_of)
            _print_sandbox_tags(console, mailchimp)
            if serve:
                console.print(f"[bold]4. serving[/]: `segmail run` against the sandboxes (health on "
                              f"http://{config.service.listen}/healthz); Ctrl-C stops", highlight=False)  # fmt: skip
                setup_logging("text", secrets=[API_KEY, shopify.access_token])
                return service.run()
            console.print(
                f"next: `segmail demo --serve` keeps the service running; the store stays in {db} for "
                "`SEGMAIL_STORE_URL=sqlite:///... segmail status` or `segmail segments explain EMAIL`",
                markup=False, highlight=False,
            )  # fmt: skip
            return 0 if result.status == "ok" else 1
        finally:
            service.api.close()
            if service.source is not None:
                service.source.close()
            store.dispose()


def _print_cycle(console: Console, config: AppConfig, result: Any) -> None:
    steps = Table(title=f"cycle run {result.run_id}: {result.status} in {result.seconds:.1f} s")
    for col in ("step", "status", "seconds", "what happened"):
        steps.add_column(col)
    for s in result.steps:
        what = s.error or ", ".join(_count(k, v) for k, v in s.counts.items() if s.name != "compute")
        steps.add_row(s.name, s.status, f"{s.seconds:.2f}", what)
    console.print(steps)
    seg = Table(title="segments and the tags pushed to Mailchimp")
    for col in ("segment", "members", "tag", "added", "removed", "meaning"):
        seg.add_column(col)
    for name, size in result.segment_sizes.items():
        defn = config.segment_defs[name]
        tag = result.tags.get(defn.tag)
        seg.add_row(name, str(size), defn.tag, str(tag.added if tag else 0), str(tag.removed if tag else 0),
                    defn.description)  # fmt: skip
    console.print(seg)


def _count(key: str, value: Any) -> str:
    if isinstance(value, dict) and "recipients" in value:
        return f"{key} {value['recipients']} in {value['jobs']} send job(s)"
    if isinstance(value, dict):
        return f"{key} " + "/".join(str(v) for v in value.values())
    return f"{key} {value}"


def _print_sends(console: Console, service: Any, as_of: datetime) -> None:
    sender = service.sender
    table = Table(title="next scheduled sends (one Mailchimp campaign per send time and mail variant)")
    for col in ("campaign", "send at (UTC)", "recipients", "campaigns", "time zones"):
        table.add_column(col)
    for campaign in service.config.enabled_campaigns:
        slots: dict[datetime, list[Any]] = defaultdict(list)
        for p in sender.plan(campaign, now=as_of, since_us=sender.since(campaign, write=False)):
            if p.send_at is not None:
                slots[p.send_at].append(p)
        for at in sorted(slots)[:3]:
            group = slots[at]
            zones = Counter(p.zone for p in group).most_common(2)
            table.add_row(campaign.name, at.strftime("%Y-%m-%d %H:%M"), str(len(group)),
                          str(len({p.bucket_key for p in group})), ", ".join(z for z, _ in zones))  # fmt: skip
        if len(slots) > 3:
            table.add_row(campaign.name, f"... {len(slots) - 3} more send times", "", "", "")
    console.print(table)


def _print_sandbox_tags(console: Console, mailchimp: MailchimpSandbox) -> None:
    lst = mailchimp.state.lists[LIST_ID]
    table = Table(title="3. what the Mailchimp sandbox now holds: tags and campaigns")
    table.add_column("tag")
    table.add_column("members", justify="right")
    for segment in sorted(lst.segments.values(), key=lambda s: s.name):
        if segment.name.startswith("segmail:"):
            table.add_row(segment.name, str(len(segment.members)))
    console.print(table)
    statuses = Counter(c.status for c in mailchimp.state.campaigns.values())
    console.print(f"   campaigns in the sandbox: {dict(statuses)}", highlight=False)
