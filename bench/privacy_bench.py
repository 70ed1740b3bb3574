"""Privacy benchmark: `forget` on a large store, imports with and without a suppression list, a retention pass.

In-process on one store (SQLite in a temp folder, or --store-url). Usage:

    python -m bench.privacy_bench --contacts 100000
    python -m bench.privacy_bench --contacts 100000 --store-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select

from segmail.jobs import retention
from segmail.jobs.compute import compute
from segmail.jobs.config import parse_config
from segmail.jobs.importer import import_csv
from segmail.jobs.privacy import ErasureRequest, erase
from segmail.sandbox.shopgen import generate_shop
from segmail.store.db import open_store
from segmail.store.schema import contacts, events, orders

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
T = TypeVar("T")


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="segmail-privacy-bench-"))
    url = args.store_url or f"sqlite:///{work / 'bench.db'}"
    config = parse_config({"privacy": {"keep_events": "90d"}}, origin="bench", base_dir=work, env={})
    files = generate_shop(work / "shop", contacts=args.contacts, seed=args.seed, as_of=AS_OF)
    store = open_store(url)
    assert files.contacts is not None
    for kind, path in (("contacts", files.contacts), ("orders", files.orders), ("events", files.events)):
        start = time.perf_counter()
        import_csv(store, path, kind, now=AS_OF)
        print(f"import {kind}: {time.perf_counter() - start:.2f} s", flush=True)
    timed("compute", lambda: compute(store, config, as_of=AS_OF, now=AS_OF))
    with store.engine.connect() as conn:
        sizes = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (contacts, orders, events)
        }
        people = list(conn.execute(select(orders.c.email_key).distinct().limit(101)).scalars())
    print(f"store: {sizes}", flush=True)
    timed(
        "re-import orders, empty suppression list",
        lambda: import_csv(store, files.orders, "orders", now=AS_OF),
    )

    def forget(keys: list[str]) -> None:
        erase(
            store,
            config,
            ErasureRequest(emails=tuple(keys)),
            now=AS_OF,
            command="bench",
            api=None,
            mode="skip",
        )

    timed("forget 1 buyer", lambda: forget(people[:1]))
    timed("forget 100 buyers", lambda: forget(people[1:]))
    again = timed(
        "re-import orders, 101 suppressed", lambda: import_csv(store, files.orders, "orders", now=AS_OF)
    )
    print(f"  suppressed {again.suppressed} order rows", flush=True)
    run = timed(
        "retention pass (keep_events 90d)",
        lambda: retention.run(store, config, now=AS_OF, command="bench", max_chunks=None),
    )
    print(f"  deleted {run.rows}", flush=True)
    store.dispose()


if __name__ == "__main__":
    main()
