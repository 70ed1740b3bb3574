"""Holdout and A/B benchmark: what assignment adds to send planning, and the outcomes query at scale.

1. Planning: N recipients of one `at` campaign (bench/send_bench.py's store: a realistic spread of time
   zones and languages), planned in-process as a send job does, once plain and once with
   holdout_percent = 10 and two weighted variants (one with its own local time).
2. Outcomes: a ledger of L rows (C campaigns, 10 % held out, two variants) and O paid orders over a
   year among the same contacts; `experiment_outcomes` (store/experiment_outcomes.py) is timed on it
   cold, with the peak RSS of the process.

Usage:

    python -m bench.experiment_bench --recipients 1000000 --ledger 1000000 --orders 1400000
    python -m bench.experiment_bench --store-url postgresql+psycopg://postgres@127.0.0.1/bench ...
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Connection, insert
from sqlalchemy.dialects import postgresql, sqlite

from bench.send_bench import AS_OF, CONFIG, fill
from segmail.store.codec import US_PER_DAY, to_us
from segmail.store.db import open_store
from segmail.store.schema import orders, send_ledger

BATCH = 20_000
EXPERIMENT = """holdout_percent = 10
[[campaigns.vip_early.variants]]
name = "a"
weight = 60
[[campaigns.vip_early.variants]]
name = "b"
weight = 40
subject = "Early access, b"
local_time = "11:00"
"""


def plan_seconds(config_path: Path) -> tuple[float, int, int]:
    from segmail.jobs.config import load_config
    from segmail.jobs.send import Sender, make_renderer

    config = load_config(config_path)
    store = open_store(config.store_url())
    try:
        sender = Sender(store, config, None, make_renderer(config), now=lambda: AS_OF)
        start = time.perf_counter()
        planned = list(sender.plan(config.campaigns["vip_early"], now=AS_OF, since_us=None))
        seconds = time.perf_counter() - start
    finally:
        store.dispose()
    held = sum(1 for p in planned if p.action == "holdout")
    return seconds, len(planned), held


def fill_outcomes(url: str, *, ledger: int, orders_n: int, campaigns: int, contacts: int, seed: int) -> None:
    """Ledger rows for `campaigns` broadcasts spread over a year, each to random contacts, and paid
    orders by random contacts over the same year."""
    rng = random.Random(seed)
    store = open_store(url)
    start = to_us(AS_OF - timedelta(days=365))
    now_us = to_us(AS_OF)
    with store.engine.begin() as conn:
        rows = []
        for i in range(ledger):
            c = i % campaigns
            slot = start + c * (365 * US_PER_DAY // campaigns) + rng.randrange(US_PER_DAY)
            h = rng.random() < 0.10
            rows.append({
                "campaign": f"promo{c:03d}", "email_key": f"c{rng.randrange(contacts):07d}@example.com",
                "occurrence": f"2026-{c:03d}", "bucket_id": None if h else f"b{c}", "slot_at": slot,
                "timezone": "UTC", "tz_source": "default", "status": "holdout" if h else "sent",
                "reason": "holdout" if h else None, "created_at": now_us, "variant": "ab"[rng.random() < 0.4],
                "ab_phase": "",
            })  # fmt: skip
            if len(rows) == BATCH:
                _insert_unique(conn, rows)
                rows = []
        _insert_unique(conn, rows)
        rows = []
        for i in range(orders_n):
            rows.append({
                "email_key": f"c{rng.randrange(contacts):07d}@example.com", "source": "bench",
                "created_at": start + rng.randrange(365 * US_PER_DAY), "order_id": f"o{i}",
                "total_e4": rng.randrange(50_000, 3_000_000), "refunded_e4": 0, "currency": "EUR",
                "status": "paid" if rng.random() < 0.95 else "refunded", "categories": "||", "updated_at": now_us,
                "country": None, "province": None,
            })  # fmt: skip
            if len(rows) == BATCH:
                conn.execute(insert(orders), rows)
                rows = []
        if rows:
            conn.execute(insert(orders), rows)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.dispose()


def _insert_unique(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """A random draw may repeat a (campaign, email, occurrence) key: keep the first."""
    seen: set[tuple[object, object, object]] = set()
    unique = []
    for r in rows:
        key = (r["campaign"], r["email_key"], r["occurrence"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    if unique:
        conn.execute(ins(send_ledger).on_conflict_do_nothing(), unique)


def outcomes_seconds(url: str) -> tuple[float, int, int]:
    from segmail.store.experiment_outcomes import experiment_outcomes

    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            start = time.perf_counter()
            groups = experiment_outcomes(
                conn, window_us=7 * US_PER_DAY, paid_statuses=("paid",), currency="EUR"
            )
            seconds = time.perf_counter() - start
            rows = int(conn.exec_driver_sql("SELECT count(*) FROM send_ledger").scalar_one())
    finally:
        store.dispose()
    return seconds, len(groups), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--ledger", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_400_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store-url", help="default: fresh SQLite files in a temporary folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="segmail-experiment-bench-"))
    url = args.store_url or f"sqlite:///{workdir / 'plan.db'}"
    t0 = time.perf_counter()
    fill(url, args.recipients, args.seed)
    print(
        f"planning store: {args.recipients:,} recipients in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})"
    )
    for label, extra in (("plain", ""), ("holdout 10 % + 2 variants", EXPERIMENT)):
        config = workdir / f"bench-{len(extra)}.toml"
        config.write_text(CONFIG.format(url=url, template="vip_early_access.html") + extra, encoding="utf-8")
        seconds, n, held = plan_seconds(config)
        print(f"  {label}: planned {n:,} recipients in {seconds:.2f} s ({held:,} held out)")
    if args.store_url:  # one database: start the outcomes part from an empty ledger
        store = open_store(url)
        with store.engine.begin() as conn:
            conn.execute(send_ledger.delete())
            conn.execute(orders.delete())
        store.dispose()
    else:
        url = f"sqlite:///{workdir / 'outcomes.db'}"
    t0 = time.perf_counter()
    fill_outcomes(
        url,
        ledger=args.ledger,
        orders_n=args.orders,
        campaigns=args.campaigns,
        contacts=args.contacts,
        seed=args.seed,
    )
    print(f"outcomes store: {args.ledger:,} ledger rows drawn ({args.campaigns} campaigns to random contacts "
          f"of {args.contacts:,}, 10 % held out), {args.orders:,} orders over a year, "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    seconds, groups, rows = outcomes_seconds(url)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  experiment_outcomes: {rows:,} ledger rows -> {groups:,} groups in {seconds:.2f} s; "
          f"peak RSS of this process {peak:.0f} MiB (includes the fill)")  # fmt: skip


if __name__ == "__main__":
    main()
