"""Mailchimp sync benchmark: requests vs the floor, TCP connections, wall time and peak RSS.

The sandbox runs in its own process (so its memory is not counted) with injected latency; the
sync runs in this process through the real client. Usage:

    python -m bench.mailchimp_bench --members 100000 --latency-ms 50
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from segmail.jobs.config import parse_config
from segmail.jobs.cycle import sync_once
from segmail.jobs.wiring import open_mailchimp
from segmail.sandbox.shopgen import generate_increment, generate_shop
from segmail.store.db import open_store

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef-us6"
_REQUEST = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) /3\.0(/[^ ?"]*)')


class Traffic(logging.Handler):
    """Counts new TCP connections and requests per endpoint from urllib3's debug log."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.connections = 0
        self.requests: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Starting new HTTP"):
            self.connections += 1
        elif match := _REQUEST.search(message):
            path = re.sub(r"/(lists|segments|campaigns|reports)/[^/]+", r"/\1/{id}", match.group(2))
            self.requests[f"{match.group(1)} {path}"] += 1


def _import(url: str, kind: str, path: Path) -> None:
    env = {**os.environ, "SEGMAIL_STORE_URL": url}
    subprocess.run([sys.executable, "-m", "segmail.jobs.cli", "import", kind, str(path)], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def _round(
    label: str, store_url: str, config: object, as_of: datetime, members: int, traffic: Traffic
) -> None:
    store = open_store(store_url)
    traffic.connections, traffic.requests = 0, Counter()
    api = open_mailchimp(config, env={"MAILCHIMP_API_KEY": KEY})  # type: ignore[arg-type]
    start = time.perf_counter()
    summary = sync_once(store, config, api, as_of=as_of, now=lambda: datetime.now(UTC))  # type: ignore[arg-type]
    wall = time.perf_counter() - start
    api.close()
    store.dispose()
    pages = traffic.requests["GET /lists/{id}/members"]
    pushes = traffic.requests["POST /lists/{id}/segments/{id}"]
    pulled = summary.members_pulled
    pull_floor = max(1, math.ceil(pulled / 1000))
    changes = sum(t.added + t.removed for t in summary.tags.values())
    # one call carries up to 500 adds and 500 removes of one tag
    push_floor = sum(math.ceil(max(t.added, t.removed) / 500) for t in summary.tags.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{label}: {wall:.1f} s wall, peak RSS {rss:.0f} MiB (whole bench process so far)")
    print(
        f"  members pulled {pulled:,} in {pages} page requests (floor {pull_floor}, {pages / pull_floor:.2f}x)"
    )
    print(f"  tag changes {changes:,} in {pushes} segment calls (floor {push_floor}, "
          f"{pushes / push_floor if push_floor else float(pushes == 0):.2f}x)")  # fmt: skip
    print(f"  all requests {sum(traffic.requests.values())} (client count {summary.requests}, retries {summary.retries}); "
          f"TCP connections opened {traffic.connections}")  # fmt: skip
    print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items()))
    for endpoint, n in sorted(traffic.requests.items()):
        print(f"    {n:6d}  {endpoint}")
    del members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="segmail-mcbench-"))
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "segmail.sandbox.mailchimp", "--api-key", KEY, "--seed", str(args.seed),
         "--contacts", str(args.members), "--as-of", AS_OF.isoformat(), "--faults", f"latency_ms={args.latency_ms}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sandbox.stdout is not None
        base_url = sandbox.stdout.readline().strip()
        url = f"sqlite:///{work / 'bench.db'}"
        shop = generate_shop(work / "shop", contacts=args.members, seed=args.seed, as_of=AS_OF)
        inc = generate_increment(
            work / "inc", contacts=args.members, seed=args.seed, as_of=AS_OF + timedelta(days=1)
        )
        _import(url, "orders", shop.orders)
        config = parse_config(
            {"mailchimp": {"list_id": "list1", "api_url": base_url}}, origin="bench", base_dir=work, env={}
        )
        traffic = Traffic()
        logging.getLogger("urllib3.connectionpool").addHandler(traffic)
        logging.getLogger("urllib3.connectionpool").setLevel(logging.DEBUG)
        print(
            f"audience {args.members:,} members, {args.latency_ms} ms injected latency per request, SQLite store"
        )
        _round("first sync", url, config, AS_OF, args.members, traffic)
        _import(url, "orders", inc.orders)
        _round(
            "sync after ~1 % new orders and one day later",
            url,
            config,
            AS_OF + timedelta(days=1),
            args.members,
            traffic,
        )
    finally:
        sandbox.terminate()
        sandbox.wait()


if __name__ == "__main__":
    main()
