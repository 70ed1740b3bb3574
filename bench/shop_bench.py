"""Shop pull benchmark: orders/s from the sandbox with injected latency, requests vs the floor, peak RSS.

The sandbox runs in this process; the pull runs as `segmail shop pull --once` in a child process, so
its peak RSS is the connector's own. Run it at two sizes to see that RSS does not grow with orders:

    python -m bench.shop_bench --kind mailchimp --contacts 140000 --latency-ms 50
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segmail.connector.shopify_queries import MAX_QUERY_COST, plan_page
from segmail.sandbox.faults import Faults
from segmail.sandbox.shopgen import generate_shop

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef-us6"
# The pull's own peak RSS: VmHWM belongs to the process image after exec, whereas getrusage's maxrss
# also counts the parent's pages at fork time (here, the whole in-process sandbox).
_CHILD = (
    "import runpy, sys\n"
    "sys.argv = ['segmail', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('segmail.jobs.cli', run_name='__main__')\n"
    "finally:\n    print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).strip(), file=sys.stderr)\n"
)


def _mailchimp(orders_csv: Path, contacts_csv: Path, latency_ms: int) -> tuple[Any, str, dict[str, str], int]:
    from segmail.sandbox.mailchimp import MailchimpSandbox

    box = MailchimpSandbox(api_key=KEY, faults=Faults(latency_ms=latency_ms), clock=lambda: AS_OF)
    box.load_store_orders("store1", orders_csv, contacts_csv=contacts_csv)
    box.start()
    toml = f'[mailchimp]\napi_url = "{box.base_url}"\n[shop]\nkind = "mailchimp"\nstore_id = "store1"\n'
    return box, toml, {"MAILCHIMP_API_KEY": KEY}, 1000


def _woocommerce(
    orders_csv: Path, contacts_csv: Path, latency_ms: int
) -> tuple[Any, str, dict[str, str], int]:
    from segmail.sandbox.woocommerce import WooCommerceSandbox

    box = WooCommerceSandbox(faults=Faults(latency_ms=latency_ms), clock=lambda: AS_OF)
    box.load_orders(orders_csv, contacts_csv=contacts_csv)
    box.start()
    toml = f'[shop]\nkind = "woocommerce"\nurl = "{box.base_url}"\n'
    return box, toml, {"WC_CONSUMER_KEY": box.consumer_key, "WC_CONSUMER_SECRET": box.consumer_secret}, 100


def _shopify(orders_csv: Path, contacts_csv: Path, latency_ms: int) -> tuple[Any, str, dict[str, str], int]:
    from segmail.sandbox.shopify import ShopifySandbox

    box = ShopifySandbox(faults=Faults(latency_ms=latency_ms))
    box.load_orders(orders_csv, contacts_csv=contacts_csv)
    box.start()
    toml = f'[shop]\nkind = "shopify"\nurl = "{box.base_url}"\npage_size = 250\n'
    # a first import of a large shop is one bulk operation: the floor is "run + poll + download";
    # a small one is paged, and the 1,000-point query-cost limit, not page_size, sets the page
    page = plan_page(250, MAX_QUERY_COST).orders
    return box, toml, {"SHOPIFY_ACCESS_TOKEN": box.access_token}, page


KINDS = {"mailchimp": _mailchimp, "woocommerce": _woocommerce, "shopify": _shopify}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(KINDS), default="mailchimp")
    parser.add_argument("--contacts", type=int, default=140_000, help="~1.4 orders per contact")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-mib", type=int, default=256, help="[store] cache_mib for the pull")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="segmail-shopbench-"))
    shop = generate_shop(work / "shop", contacts=args.contacts, seed=args.seed, as_of=AS_OF)
    assert shop.contacts is not None
    box, toml, env, page_size = KINDS[args.kind](shop.orders, shop.contacts, args.latency_ms)
    try:
        conf = work / "segmail.toml"
        conf.write_text(f"[store]\ncache_mib = {args.cache_mib}\n{toml}")
        child_env = {**os.environ, **env, "SEGMAIL_STORE_URL": f"sqlite:///{work / 'bench.db'}"}
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, "--config", str(conf), "shop", "pull", "--once"],
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        out, err = proc.communicate()
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"pull failed ({proc.returncode}):\n{err[-2000:]}")
        rss = next(line.split(":", 1)[1].strip() for line in err.splitlines() if line.startswith("VmHWM:"))
        served = len(box.requests_log)
        orders = shop.counts["orders"]
        floor = math.ceil(orders / page_size)
        print(
            f"{args.kind}: {orders:,} orders in the shop, {args.latency_ms} ms latency per request, "
            f"SQLite cache {args.cache_mib} MiB"
        )
        print(f"  {out.strip()}")
        print(f"  wall {wall:.1f} s ({orders / wall:,.0f} orders/s, incl. ~1 s interpreter start)")
        bulk = any("/bulk-results/" in str(getattr(e, "path", "")) for e in box.requests_log)
        how = (
            "one bulk operation (count, start, polls, download)"
            if bulk
            else f"floor {floor}, {served / floor:.2f}x"
        )
        print(f"  requests {served} ({how}); the pull's peak RSS {rss}")
    finally:
        box.stop()


if __name__ == "__main__":
    main()
