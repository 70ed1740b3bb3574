"""Reports benchmark: `segmail report campaigns|segments|movements` over a year of a large shop, and the
campaign results pull's requests against the request floor.

Reports: the shop is the segment benchmark's (sandbox/shopgen.py: 1,000,000 contacts, ~1.4 M orders,
~3 M events of 150 weekly campaigns), imported through the CLI; the segments are computed once a month
over the last year (13 computes, so the history holds a year of entries and exits) and the campaigns
registered as campaign results (bench/report_data.py). Each report then runs as its own `segmail`
process over the last year; wall time and peak RSS are that process's. Issue 12's target: <= 10 s and
<= 1 GB each, on SQLite and on PostgreSQL.

Pull: a Mailchimp sandbox (in this process) with an audience and ~100 campaigns sent over a year (to the
audience, to segmail tags by saved segment and by condition), with opens, clicks, bounces, machine opens
and unsubscribes. The first pull reads everything, the second (after new activity on a few campaigns)
only what moved; each is compared with the floor computed from the sandbox's own data: one reports
page per 1,000 campaigns, the new campaigns' targets in one list page, the tags once, and per campaign
whose figures moved ceil(recipients with activity / 1000) email-activity pages, plus unsubscribe and
open-details pages when it has any. Target: <= 1.05 x the floor. Usage:

    python -m bench.report_bench --contacts 1000000 [--store-url postgresql://...] [--part reports|pull]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.report_data import register_campaigns
from segmail.jobs.config import parse_config
from segmail.jobs.results_pull import pull_results
from segmail.jobs.wiring import open_mailchimp
from segmail.sandbox.mailchimp import MailchimpSandbox
from segmail.sandbox.shopgen import generate_shop
from segmail.store.db import open_store

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef-us6"


def cli(argv: list[str], env: dict[str, str], *, out: Path | None = None) -> tuple[float, float, float]:
    """One `segmail` process: wall seconds, peak RSS (MiB) and its CPU seconds (user + system)."""
    start = time.perf_counter()
    with open(out or os.devnull, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "segmail.jobs.cli", *argv], env=env, stdout=sink,
                                stderr=subprocess.PIPE)  # fmt: skip
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"segmail {' '.join(argv)} failed:\n{stderr.decode()[-2000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def reports(contacts: int, seed: int, store_url: str | None, workdir: Path, *, reuse: bool = False) -> None:
    url = store_url or f"sqlite:///{workdir / 'report-bench.db'}"
    config = workdir / "segmail.toml"
    env = {**os.environ, "SEGMAIL_STORE_URL": url}
    env.pop("SEGMAIL_CONFIG", None)
    print(f"store: {url.split('@')[-1]}")
    if not reuse:
        build(contacts, seed, url, workdir, config, env)
    measure(url, workdir, config, env)


def build(contacts: int, seed: int, url: str, workdir: Path, config: Path, env: dict[str, str]) -> None:
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            leftover.unlink(missing_ok=True)
    config.write_text('[mailchimp]\nlist_id = "list1"\n[shop]\ncurrency = "EUR"\n')
    base = ["--config", str(config)]
    t0 = time.perf_counter()
    shop = generate_shop(workdir / "shop", contacts=contacts, seed=seed, as_of=AS_OF)
    assert shop.contacts is not None
    for kind, path in (("contacts", shop.contacts), ("orders", shop.orders), ("events", shop.events)):
        cli([*base, "import", kind, str(path)], env)
    c = shop.counts
    print(f"data: {c['contacts']:,} contacts, {c['orders']:,} orders, {c['events']:,} events; generated and "
          f"imported in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    t0 = time.perf_counter()
    computes = [AS_OF - timedelta(days=round(365 * (12 - m) / 12)) for m in range(13)]
    for at in computes:
        cli([*base, "segments", "compute", "--as-of", at.isoformat().replace("+00:00", "Z")], env)
    print(f"13 monthly computes ({computes[0]:%Y-%m-%d} .. {computes[-1]:%Y-%m-%d}) in "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    store = open_store(url)
    try:
        register_campaigns(store, as_of=AS_OF)
        with store.engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("segment_history", "campaign_results", "campaign_activity", "memberships")}  # fmt: skip
        if store.dialect == "postgresql":  # as autovacuum would (it is off on the CI server): statistics
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))  # and visibility maps for index-only scans
    finally:
        store.dispose()
    print("store holds: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))


def measure(url: str, workdir: Path, config: Path, env: dict[str, str]) -> None:
    base = ["--config", str(config)]
    since, until = (AS_OF - timedelta(days=365)).date(), (AS_OF + timedelta(days=1)).date()
    period = ["--since", since.isoformat(), "--until", until.isoformat()]
    print(f"period: {since} .. {until} (exclusive)")
    print(f"{'report':<44} {'wall s':>7} {'CPU s':>6} {'peak RSS MiB':>13} {'rows':>6}")
    for name, extra in (("campaigns", ["--format", "csv"]), ("segments", ["--format", "csv"]),
                        ("movements", ["--format", "csv"]), ("segments", ["--plot", str(workdir / "segments.png")]),
                        ("campaigns", ["--plot", str(workdir / "campaigns.png")])):  # fmt: skip
        target = workdir / f"{name}-{extra[0].lstrip('-')}.out"
        wall, peak, cpu = cli([*base, "report", name, *period, *extra], env, out=target)
        rows = max(0, len(target.read_text().splitlines()) - 1) if "--format" in extra else 0
        shown = Path(extra[1]).name if extra[0] == "--plot" else extra[1]
        label = f"report {name} {extra[0]} {shown}"
        print(f"{label:<44} {wall:>7.2f} {cpu:>6.2f} {peak:>13.0f} {rows or '':>6}", flush=True)


def _floor(sandbox: MailchimpSandbox, moved: dict[str, tuple[int, int]], *, since: datetime | None) -> int:
    """The fewest requests that bring a store level with the sandbox, from the sandbox's own data: `moved`
    holds each campaign whose figures changed, with its unsubscribe and proxy-open counts before."""
    state = sandbox.state
    floor = max(1, math.ceil(len(state.campaigns) / 1000))  # the reports listing
    if since is None:  # the first pull: the targets of the audience's campaigns in one list, the tags once
        floor += math.ceil(sum(1 for c in state.campaigns.values() if c.list_id == "list1") / 1000) + 1
    for cid, (unsubscribed, proxies) in moved.items():
        c = state.campaigns[cid]
        after = [[x for x in a if since is None or x.timestamp > since] for a in c.activity.values()]
        floor += max(1, math.ceil(sum(1 for a in after if a) / 1000))
        if len(c.unsubscribes) != unsubscribed:
            floor += max(1, math.ceil(len(c.unsubscribes) / 1000))
        proxy_now = sum(1 for a in c.activity.values() for x in a if x.proxy)
        if proxy_now and proxy_now != proxies:
            floor += max(1, math.ceil(sum(1 for a in after if any(x.action == "open" for x in a)) / 1000))
    return floor


def _more_activity(sandbox: MailchimpSandbox, cid: str, at: datetime, seed: int) -> None:
    """New opens, clicks, machine opens and unsubscribes on a sent campaign, as a day brings them."""
    import random

    from segmail.sandbox.mailchimp_records import Activity

    rng = random.Random(seed)
    with sandbox._lock:
        c = sandbox.state.campaigns[cid]
        for member in rng.sample(c.recipients, len(c.recipients) // 30):
            acts = c.activity.setdefault(member, [])
            acts.append(Activity("open", at, "198.51.100.7", proxy=rng.random() < 0.3))
            if rng.random() < 0.2:
                acts.append(
                    Activity("click", at + timedelta(seconds=9), "198.51.100.7", "https://shop.example/")
                )
            if rng.random() < 0.01:
                c.unsubscribes[member] = at + timedelta(minutes=2)


def pull(members: int, campaigns_n: int, store_url: str | None, workdir: Path) -> None:
    url = store_url or f"sqlite:///{workdir / 'pull-bench.db'}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    start = AS_OF - timedelta(days=365)
    clock = {"now": start}
    sandbox = MailchimpSandbox(api_key=KEY, clock=lambda: clock["now"])
    sandbox.add_list("list1", "bench audience")
    with sandbox:
        sandbox.load_audience("list1", contacts=members, seed=2, as_of=start)
        emails = [m.email for m in sandbox.state.lists["list1"].members.values() if m.status == "subscribed"]
        for n, name in enumerate(("segmail:vip", "segmail:lapsed", "segmail:repeat_buyer")):
            sandbox.create_tag("list1", name, emails[n::4])
        ids = []
        for k in range(campaigns_n):
            clock["now"] = start + timedelta(days=k * 365 / campaigns_n)
            tag = (None, "segmail:vip", "segmail:lapsed", "segmail:repeat_buyer")[k % 4]
            cid = sandbox.send_campaign("list1", at=clock["now"], title=f"campaign {k}", segment=tag,
                                        by_condition=k % 8 == 6)  # fmt: skip
            sandbox.simulate_engagement(cid, seed=k, open_rate=0.35, click_rate=0.06, bounce_rate=0.01,
                                        proxy_rate=0.4, unsubscribe_rate=0.003)  # fmt: skip
            ids.append(cid)
        config = parse_config({"mailchimp": {"list_id": "list1", "api_url": sandbox.base_url}}, origin="bench",
                              base_dir=workdir, env={})  # fmt: skip
        store = open_store(url)
        print(f"audience: {members:,} members, {campaigns_n} campaigns over a year "
              f"({sum(len(sandbox.state.campaigns[c].recipients) for c in ids):,} recipients in all)")  # fmt: skip
        since: datetime | None = None
        rounds = ("first pull (every campaign)", "a day later, 5 campaigns with new activity",
                  "the next cycle, nothing new")  # fmt: skip
        for label in rounds:
            before = {cid: (len(sandbox.state.campaigns[cid].unsubscribes),
                            sum(1 for a in sandbox.state.campaigns[cid].activity.values() for x in a if x.proxy))
                      for cid in ids}  # fmt: skip
            moved = {cid: (0, 0) for cid in ids}
            if label == rounds[1]:
                clock["now"] = AS_OF + timedelta(days=1)
                moved = {cid: before[cid] for cid in ids[-5:]}
                for n, cid in enumerate(moved):
                    _more_activity(sandbox, cid, clock["now"] - timedelta(hours=3), seed=n)
            elif label == rounds[2]:
                clock["now"] += timedelta(minutes=15)
                moved = {}
            mark = len(sandbox.requests_log)
            api = open_mailchimp(config, env={"MAILCHIMP_API_KEY": KEY})
            now = clock["now"] + timedelta(hours=1)
            t0 = time.perf_counter()
            summary = pull_results(store, config, api, now=now)
            wall = time.perf_counter() - t0
            api.close()
            log = list(sandbox.requests_log)[mark:]
            by_path = Counter("/".join("{id}" if i == 2 else p for i, p in enumerate(e.path.split("/")[2:], 1))
                              for e in log)  # fmt: skip
            floor = _floor(sandbox, moved, since=since)
            print(f"{label}: {len(log)} requests, floor {floor} ({len(log) / floor:.2f}x), {summary.read} "
                  f"campaigns read, {summary.events:,} events, {wall:.1f} s; " + ", ".join(
                      f"{p} {n}" for p, n in sorted(by_path.items())))  # fmt: skip
            since = now - timedelta(minutes=10)  # the next read starts at this one less the look-back
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--members", type=int, default=10_000, help="the pull's audience")
    parser.add_argument("--campaigns", type=int, default=100, help="the pull's campaigns")
    parser.add_argument("--store-url", help="default: a fresh SQLite file in the work folder")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--part", choices=["reports", "pull", "both"], default="both")
    parser.add_argument(
        "--reuse", action="store_true", help="report on the store --dir/--store-url already holds"
    )
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="segmail-report-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.part in ("pull", "both"):
        pull(args.members, args.campaigns, args.store_url, workdir)
    if args.part in ("reports", "both"):
        reports(args.contacts, args.seed, args.store_url, workdir, reuse=args.reuse)


if __name__ == "__main__":
    main()
