"""Fail-over benchmark: how long after a `kill -9` of the active `segmail run` the standby acts.

Two real service processes against the Mailchimp sandbox and one store; run from the repository
root (bench/service_harness.py, which the service tests use too). Usage:

    python -m bench.failover_bench                       # SQLite in a temporary folder
    python -m bench.failover_bench --store-url postgresql+psycopg://postgres@127.0.0.1:5432/failover
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.service_harness import KEY, ServiceProcess, runs, wait_for, write_config
from segmail.jobs.importer import import_csv
from segmail.sandbox.mailchimp import MailchimpSandbox
from segmail.sandbox.shopgen import generate_shop
from segmail.store.db import open_store

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def seed(sandbox: MailchimpSandbox, url: str, folder: Path, contacts: int) -> None:
    """The same generated shop as the sandbox's audience and the store's orders."""
    sandbox.load_audience("list1", contacts=contacts, seed=5, as_of=AS_OF)
    files = generate_shop(folder / "shop", contacts=contacts, seed=5, as_of=AS_OF)
    store = open_store(url)
    try:
        import_csv(store, files.orders, "orders", now=AS_OF)
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--standby-poll", default="5s")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="segmail-failover-"))
    url = args.store_url or f"sqlite:///{tmp / 'store.db'}"
    sandbox = MailchimpSandbox(api_key=KEY)
    sandbox.add_list("list1", "fail-over bench")
    with sandbox:
        seed(sandbox, url, tmp, contacts=args.contacts)
        config = write_config(
            tmp / "segmail.toml", store_url=url, api_url=sandbox.base_url, port=None,
            schedule={"sync_every": "1m"}, service={"standby_poll": args.standby_poll, "failover_after": "30s"},
        )  # fmt: skip

        def ok() -> int:
            return sum(1 for r in runs(url) if r["status"] == "ok")

        active = ServiceProcess(config)
        wait_for(ok, what="the first cycle")  # the first one holds the lock before the second starts
        standby = ServiceProcess(config)
        try:
            wait_for(lambda: standby.logged("standby:"), what="the standby (its log: see above)")
            done = ok()
            killed = time.monotonic()
            active.kill()
            wait_for(lambda: standby.logged("active:"), what="the take-over")
            took_over = time.monotonic() - killed
            wait_for(lambda: ok() > done, what="the new active instance's cycle")
            cycled = time.monotonic() - killed
        except AssertionError:
            print(active.text()[-2000:], standby.text()[-2000:], sep="\n")
            raise
        finally:
            active.kill()
            standby.stop()
    print(
        f"{url.split(':')[0]}, {args.contacts} members, standby_poll {args.standby_poll}: the standby was active "
        f"{took_over:.2f} s after kill -9 and had finished a cycle {cycled:.2f} s after"
    )


if __name__ == "__main__":
    main()
