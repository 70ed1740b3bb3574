"""An import that commits while a compute refreshes the feature cache loses nothing (PostgreSQL).

On PostgreSQL each statement of a compute sees what has committed by then, so without
store.feature_lock an import committing mid-refresh could have its stale flags cleared unread, or
(before the first compute) write none at all. Each test forces the overlap with two real sessions
and then checks the cache against one rebuilt from scratch. SQLite lets one writer in at a time, so
the overlap cannot happen there.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Row, delete, select, text

from segmail.connector.records import Order
from segmail.jobs.compute import compute
from segmail.store import features as feature_cache
from segmail.store.codec import to_us
from segmail.store.db import Store, get_meta
from segmail.store.feature_lock import FEATURE_LOCK
from segmail.store.schema import feature_dirty, features, meta
from segmail.store.writer import FINGERPRINT_KEY, write_records
from tests.conftest import T
from tests.shop import Shop, config

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)]

PAID = ("paid",)
BLOCKED_WITHIN = 30.0  # seconds a session is given to reach the lock; a bound, not a pause


def _shop(store: Store) -> list[str]:
    shop = Shop(store)
    people = [shop.contact(f"p{i}@example.com") for i in range(20)]
    for i, p in enumerate(people):
        shop.order(p, T - timedelta(days=30 + i), total="20.00")
    shop.flush(T - timedelta(days=1))
    return people


def _new_orders(people: list[str]) -> list[Order]:
    return [
        Order(
            order_id=f"late-{i}",
            email_key=p,
            created_at=T - timedelta(hours=2),
            total=Decimal("500.00"),
            currency="EUR",
            status="paid",
        )
        for i, p in enumerate(people[:5])
    ]


def _feature_lock(store: Store, *, granted: bool) -> bool:
    """Whether some session holds (granted) or waits for (not granted) the feature lock."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = :g AND objid = :key"
    )
    with store.engine.connect() as conn:
        return bool(conn.execute(query, {"g": granted, "key": FEATURE_LOCK}).scalar_one())


def _until(store: Store, worker: threading.Thread, *, granted: bool) -> None:
    """Return once `worker` holds (or waits on) the feature lock; fail if it ended first."""
    deadline = time.monotonic() + BLOCKED_WITHIN
    while not _feature_lock(store, granted=granted):
        assert worker.is_alive(), "the session ended without reaching the feature lock"
        assert time.monotonic() < deadline, "the session did not reach the feature lock"
        time.sleep(0.01)


def _cache(store: Store) -> list[Row[Any]]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(features).order_by(features.c.email_key)))


def _rebuilt_from_scratch(store: Store) -> list[Row[Any]]:
    with store.engine.begin() as conn:
        conn.execute(delete(meta).where(meta.c.key == FINGERPRINT_KEY))
        feature_cache.prepare(conn, as_of_us=to_us(T), paid_statuses=PAID)
    return _cache(store)


def _run(target, errors: list[BaseException]) -> threading.Thread:
    def guarded() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=guarded)
    thread.start()
    return thread


def test_an_import_in_flight_when_the_first_compute_starts_is_in_its_features(store):
    people = _shop(store)
    errors: list[BaseException] = []
    commit = threading.Event()

    def importing() -> None:
        with store.engine.begin() as conn:
            write_records(conn, _new_orders(people), source="test", now_us=to_us(T))
            assert commit.wait(BLOCKED_WITHIN)

    importer = _run(importing, errors)
    _until(store, importer, granted=True)  # the import has written, not committed
    computing = _run(lambda: compute(store, config(), as_of=T, now=T), errors)
    _until(store, computing, granted=False)  # the compute waits for the import in flight
    commit.set()
    importer.join()
    computing.join()
    assert not errors, errors
    after_compute = _cache(store)
    assert after_compute == _rebuilt_from_scratch(store)
    counts = {r.email_key: r.orders_count for r in after_compute}
    assert all(counts[p] == 2 for p in people[:5])  # the late orders are in the first compute


def test_an_import_during_a_cache_refresh_waits_and_leaves_its_flags(store):
    people = _shop(store)
    compute(store, config(), as_of=T - timedelta(days=1), now=T)  # the cache exists from here on
    errors: list[BaseException] = []
    importer: threading.Thread | None = None
    with store.engine.begin() as conn:
        feature_cache.prepare(conn, as_of_us=to_us(T), paid_statuses=PAID)  # holds the lock till commit

        def importing() -> None:
            with store.engine.begin() as other:
                write_records(other, _new_orders(people), source="test", now_us=to_us(T))

        importer = _run(importing, errors)
        _until(store, importer, granted=False)
    importer.join()
    assert not errors, errors
    with store.engine.connect() as conn:
        stale = set(conn.execute(select(feature_dirty.c.email_key)).scalars())
        assert get_meta(conn, FINGERPRINT_KEY) is not None
    assert set(people[:5]) <= stale  # the refresh that ran first did not swallow them
    compute(store, config(), as_of=T, now=T)
    assert _cache(store) == _rebuilt_from_scratch(store)
