"""`segmail demo`: the whole service loop on embedded defaults, against local sandboxes.

A generated shop is served by the Shopify sandbox and its customers by the Mailchimp sandbox (with a
past newsletter's opens and clicks); one full cycle then runs exactly as `segmail run` would —
shop pull, Mailchimp pull, compute, tag push, send planning — on a fresh SQLite file. `--serve`
keeps the service running against the sandboxes until Ctrl-C.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from segmail.jobs.config import ENV_STORE_URL, AppConfig, load_config
from segmail.jobs.logs import setup_logging
from segmail.jobs.start import open_service
from segmail.jobs.textfmt import pairs
from segmail.sandbox.mailchimp import MailchimpSandbox
from segmail.sandbox.shopgen import generate_shop
from segmail.sandbox.shopify import ShopifySandbox
from segmail.store.contacts import example_member
from segmail.store.db import Store, open_store

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


def demo_config(db: Path, mailchimp_url: str, shop_url: str, today: date) -> dict[str, Any]:
    """The config the demo runs on, as the TOML tables it is written to (`store.url` absolute)."""
    return {
        "store": {"url": f"sqlite:///{db}"},
        "mailchimp": {"list_id": LIST_ID, "api_url": mailchimp_url},
        "shop": {"kind": "shopify", "url": shop_url},
        "schedule": {"sync_every": "1m"},
        "send": {"shop_name": "segmail demo shop", "shop_url": "https://shop.example",
                 "shop_address": "1 Example Street, 10115 Berlin, Germany",
                 "default_timezone": "Europe/Berlin"},
        "campaigns": demo_campaigns(today),
    }  # fmt: skip


def write_config(path: Path, data: dict[str, Any]) -> AppConfig:
    """Write the demo's config as TOML and load it back: the file is the config the demo used, by construction.

    Values are strings, booleans and lists of strings; a JSON string is a valid TOML basic string.
    The environment is not consulted (env={}), so a SEGMAIL_STORE_URL of the caller's cannot redirect it.
    """
    lines = [
        "# The config `segmail demo` ran on. Its sandbox URLs served only while the demo ran",
        "# (`segmail demo --serve` keeps them up); the store and the campaigns stay usable.",
    ]
    for section, table in data.items():
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if scalars:
            lines += ["", f"[{section}]"] + [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
        for name, sub in table.items():
            if isinstance(sub, dict):
                lines += ["", f"[{section}.{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in sub.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path, env={})


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
    db = _fresh_store_file(workdir)
    console.print(f"[bold]1. sandboxes[/]: a generated shop ({contacts} customers, seed {seed}) served as Shopify, "
                  "its customers as a Mailchimp audience")  # fmt: skip
    clock = (lambda: as_of) if frozen else None
    shopify = _shopify_sandbox(contacts=contacts, seed=seed, as_of=as_of, clock=clock)
    mailchimp = MailchimpSandbox(api_key=API_KEY, clock=clock)
    mailchimp.add_list(LIST_ID, "segmail demo audience")
    members = mailchimp.load_audience(LIST_ID, contacts=contacts, seed=seed, as_of=as_of)
    with shopify, mailchimp:
        events = mailchimp.send_newsletter(LIST_ID, at=as_of - timedelta(days=20), seed=seed)
        console.print(f"   Mailchimp sandbox {mailchimp.base_url}: {members} members, a newsletter with {events} "
                      f"opens/clicks; Shopify sandbox {shopify.base_url}", highlight=False)  # fmt: skip
        config_path = workdir / "segmail-demo.toml"
        config = write_config(
            config_path, demo_config(db, mailchimp.base_url, shopify.base_url, as_of.date())
        )
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
            _print_next(console, config_path, config.store_url(), store, as_of, serve=serve)
            if serve:
                console.print(f"[bold]4. serving[/]: `segmail run` against the sandboxes (health on "
                              f"http://{config.service.listen}/healthz); Ctrl-C stops", highlight=False)  # fmt: skip
                setup_logging("text", secrets=[API_KEY, shopify.access_token])
                return service.run()
            return 0 if result.status == "ok" else 1
        finally:
            service.api.close()
            if service.source is not None:
                service.source.close()
            store.dispose()


def _fresh_store_file(workdir: Path) -> Path:
    """The demo's SQLite file in `workdir`, any store a previous demo left there deleted."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "segmail-demo.db"
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)  # the demo always starts from a fresh store
    return db


def _shopify_sandbox(
    *, contacts: int, seed: int, as_of: datetime, clock: Callable[[], datetime] | None
) -> ShopifySandbox:
    """A generated shop's orders and customers, served as Shopify."""
    with tempfile.TemporaryDirectory(prefix="segmail-demo-shop-") as tmp:
        files = generate_shop(Path(tmp), contacts=contacts, seed=seed, as_of=as_of)
        # a Shopify Plus shop's rate limits, so the first pull of a demo takes seconds, not minutes
        shopify = ShopifySandbox(maximum_available=20_000, restore_rate=1_000, now=clock)
        shopify.load_orders(files.orders, contacts_csv=files.contacts)
    return shopify


def _print_cycle(console: Console, config: AppConfig, result: Any) -> None:
    steps = Table(title=f"cycle run {result.run_id}: {result.status} in {result.seconds:.1f} s")
    for col in ("step", "status", "seconds", "what happened"):
        steps.add_column(col)
    for s in result.steps:
        what = s.error or ("see the segments below" if s.name == "compute" else pairs(s.counts))
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
    console.print(f"   campaigns in the sandbox: {pairs(dict(sorted(statuses.items())))}", highlight=False)


def next_commands(config_path: Path, email: str | None, as_of: datetime) -> list[str]:
    """Commands to explore the demo's store; each works as printed (tests/test_cli.py runs them)."""
    at = as_of.isoformat().replace("+00:00", "Z")
    later = (as_of + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    base = f"segmail --config {shlex.quote(str(config_path))}"
    commands = [f"{base} rules check", f"{base} segments preview --as-of {later}"]
    if email:
        commands.append(f"{base} segments explain {shlex.quote(email)} --as-of {at}")
    commands.append(f"{base} send plan --campaign vip_early --as-of {at}")
    return commands


def _example_email(store: Store) -> str | None:
    """A contact of the demo store in a segment (a subscribed VIP when there is one), for `segments explain`."""
    with store.engine.connect() as conn:
        return example_member(conn, prefer_segment="vip")


def _print_next(
    console: Console, config_path: Path, store_url: str, store: Store, as_of: datetime, *, serve: bool
) -> None:
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    say(f"the config this demo used: {config_path} (store.url = {store_url})")
    if os.environ.get(ENV_STORE_URL):
        say(
            f"note: {ENV_STORE_URL} is set and would override the config's store; unset it for these commands"
        )
    say("explore the store (each command works as printed):")
    for command in next_commands(config_path, _example_email(store), as_of):
        say(f"  {command}")
    if not serve:
        say("`segmail demo --serve` keeps the service running against the sandboxes")
