"""Send planning benchmark: plan N recipients of one campaign into buckets, with wall time and peak RSS.

The store is filled directly (contacts, one segment's memberships, orders with addresses for a
third of them) from a seeded generator with a realistic spread of time zones, including invalid
Mailchimp zone names, half- and quarter-hour zones and UTC+14. The plan runs in a child process
(`segmail send plan`, the real CLI, writing CSV to /dev/null), so its wall time and peak RSS are
its own. Usage:

    python -m bench.send_bench --recipients 1000000
    python -m bench.send_bench --recipients 1000000 --store-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from segmail.store.codec import to_us
from segmail.store.db import open_store
from segmail.store.schema import contacts, memberships, orders

AS_OF = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
BATCH = 20_000
# (mc_timezone, country, province, weight): what a European shop with overseas buyers sees
ZONES = [
    ("Europe/Berlin", "DE", "", 30), ("Europe/Vienna", "AT", "", 5), ("Europe/Zurich", "CH", "", 4),
    ("Europe/London", "GB", "", 8), ("Europe/Paris", "FR", "", 6), ("Europe/Madrid", "ES", "", 4),
    ("America/New_York", "US", "NY", 6), ("America/Chicago", "US", "IL", 3), ("America/Denver", "US", "CO", 1),
    ("America/Los_Angeles", "US", "CA", 4), ("America/Phoenix", "US", "AZ", 1), ("America/Toronto", "CA", "ON", 2),
    ("America/Sao_Paulo", "BR", "SP", 2), ("Australia/Sydney", "AU", "NSW", 3), ("Australia/Perth", "AU", "WA", 1),
    ("Asia/Kolkata", "IN", "", 2), ("Asia/Kathmandu", "NP", "", 1), ("Asia/Tashkent", "UZ", "", 2),
    ("Asia/Tokyo", "JP", "", 2), ("Asia/Singapore", "SG", "", 1), ("Pacific/Auckland", "NZ", "", 1),
    ("Pacific/Chatham", "NZ", "", 1), ("Pacific/Kiritimati", "KI", "", 1),
    ("America/New York", "US", "NY", 1),  # an invalid name as Mailchimp sometimes sends: the chain goes on
    ("", "DE", "", 5), ("", "US", "TX", 2), ("", "", "", 3),  # no Mailchimp zone: shop address or default
]  # fmt: skip
LANGUAGES = [("de", 35), ("en", 45), ("uz", 5), ("fr", 10), ("", 5)]


def fill(url: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    zones = [z for z in ZONES for _ in range(z[3])]
    langs = [lang for lang, w in LANGUAGES for _ in range(w)]
    store = open_store(url)
    now_us = to_us(AS_OF)
    entered = to_us(AS_OF - timedelta(days=1))
    with store.engine.begin() as conn:
        for start in range(0, n, BATCH):
            cs, ms, os_ = [], [], []
            for i in range(start, min(n, start + BATCH)):
                key = f"c{i:07d}@example.com"
                zone, country, province, _ = rng.choice(zones)
                status = "subscribed" if rng.random() < 0.97 else "unsubscribed"
                cs.append({
                    "email_key": key, "email": key, "status": status, "opted_in_at": None, "timezone": None,
                    "country": None, "language": rng.choice(langs), "first_name": None, "last_name": None,
                    "source": "bench", "updated_at": now_us, "mc_timezone": zone or None,
                    "mc_country": country or None, "mc_seen_at": now_us,
                })  # fmt: skip
                ms.append({"segment": "vip", "email_key": key, "entered_at": entered, "run_id": 1})
                if rng.random() < 0.33 and country:
                    os_.append({
                        "email_key": key, "created_at": now_us - rng.randrange(10**12), "source": "bench",
                        "order_id": f"o{i}", "total_e4": 500_000, "refunded_e4": 0, "currency": "EUR",
                        "status": "paid", "categories": "||", "updated_at": now_us, "country": country,
                        "province": province or None,
                    })  # fmt: skip
            conn.execute(insert(contacts), cs)
            conn.execute(insert(memberships), ms)
            if os_:
                conn.execute(insert(orders), os_)
    if store.engine.dialect.name == "postgresql":  # as after a real import: statistics for the planner
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.dispose()


CONFIG = """
[store]
url = "{url}"
[segments.vip]
rule = "orders_count >= 0"
[send]
shop_name = "Bench shop"
shop_address = "Bench shop, 1 Example Street, 10115 Berlin, Germany"
shop_url = "https://shop.example"
default_timezone = "Europe/Berlin"
[campaigns.vip_early]
segment = "vip"
template = "{template}"
subject = "Early access"
from_name = "Bench shop"
reply_to = "hello@shop.example"
local_time = "10:00"
trigger = "at"
date = 2026-12-01
"""


def plan(url: str, workdir: Path, template: str) -> tuple[float, float, Counter[str], int, int]:
    config = workdir / f"bench-{template}.toml"
    config.write_text(CONFIG.format(url=url, template=template), encoding="utf-8")
    out = workdir / "plan.csv"
    start = time.perf_counter()
    with out.open("w") as f:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(config), AS_OF.isoformat()], stdout=f, stderr=subprocess.PIPE,
            text=True, check=False,
        )  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    peak = float(proc.stderr.strip().splitlines()[-1].split()[1]) / 1024  # VmHWM in kB
    sources: Counter[str] = Counter()
    buckets: set[str] = set()
    instants_variants: set[tuple[str, str]] = set()
    rows = 0
    with out.open(newline="") as f:
        for row in csv.DictReader(f):
            rows += 1
            sources[row["tz_source"]] += 1
            if row["send_at_utc"]:
                buckets.add(row["bucket"])
                instants_variants.add((row["send_at_utc"], row["bucket"]))
    return wall, peak, sources, rows, len(buckets)


# the child runs the real CLI, then reports its own peak RSS (VmHWM) on stderr
CHILD = """
import sys
from segmail.jobs.cli import main
code = main(["--config", sys.argv[1], "send", "plan", "--campaign", "vip_early", "--as-of", sys.argv[2]])
status = open("/proc/self/status").read()
print(next(l for l in status.splitlines() if l.startswith("VmHWM")), file=sys.stderr)
sys.exit(code)
"""


def floor(config_path: Path) -> tuple[int, float]:
    """Distinct (send instant, rendered variant) pairs, counted independently of the bucket keys,
    and the in-process planning time (what a send job spends, without CSV output)."""
    from segmail.jobs.config import load_config
    from segmail.jobs.send import Sender, make_renderer

    config = load_config(config_path)
    store = open_store(config.store_url())
    try:
        sender = Sender(store, config, None, make_renderer(config), now=lambda: AS_OF)
        start = time.perf_counter()
        pairs = {
            (p.send_at, p.variant)
            for p in sender.plan(config.campaigns["vip_early"], now=AS_OF, since_us=None)
            if p.send_at is not None
        }
        seconds = time.perf_counter() - start
    finally:
        store.dispose()
    return len(pairs), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="segmail-send-bench-"))
    url = args.store_url or f"sqlite:///{workdir / 'bench.db'}"
    t0 = time.perf_counter()
    fill(url, args.recipients, args.seed)
    print(
        f"store filled with {args.recipients:,} recipients in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})"
    )
    for template in ("vip_early_access.html", "welcome.html", "unengaged_still_interested.html"):
        wall, peak, sources, rows, buckets = plan(url, workdir, template)
        least, inproc = floor(workdir / f"bench-{template}.toml")
        print(
            f"{template}: planned {rows:,} recipients in {wall:.1f} s (segmail send plan, CSV out; "
            f"{inproc:.1f} s for the planner alone), "
            f"peak RSS {peak:.0f} MiB; {buckets:,} campaigns, floor {least:,} "
            f"(distinct send instant x mail variant); zone sources {dict(sources)}"
        )


if __name__ == "__main__":
    main()
