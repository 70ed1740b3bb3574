"""A store whose feature cache was never built lists no stale contacts on import; one that was, does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from segmail.jobs.compute import compute
from segmail.jobs.importer import import_csv
from segmail.sandbox.shopgen import generate_increment, generate_shop
from segmail.store.schema import feature_dirty, features
from tests.conftest import T
from tests.shop import config


def _count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_imports_before_the_first_compute_skip_the_stale_list_and_lose_nothing(store, tmp_path):
    base = generate_shop(tmp_path / "base", contacts=300, seed=4, as_of=T - timedelta(days=1))
    for kind, path in (("contacts", base.contacts), ("orders", base.orders), ("events", base.events)):
        import_csv(store, path, kind, now=T)
    assert _count(store, feature_dirty) == 0  # no cache yet: the first compute builds everyone
    first = compute(store, config(), as_of=T - timedelta(days=1), now=T)
    assert first.refreshed == _count(store, features) > 250

    inc = generate_increment(tmp_path / "inc", contacts=300, seed=4, as_of=T, fraction=0.1)
    import_csv(store, inc.orders, "orders", now=T)
    stale = _count(store, feature_dirty)
    assert 0 < stale < 300  # from now on the cache is kept: imports list whom they touched
    assert compute(store, config(), as_of=T, now=T).refreshed <= stale


def test_batches_share_transactions_and_a_failure_keeps_what_was_committed(store, tmp_path, monkeypatch):
    from segmail.jobs import importer
    from segmail.store.schema import contacts

    base = generate_shop(tmp_path / "base", contacts=60, seed=2, as_of=T)
    monkeypatch.setattr(importer, "BATCH", 10)
    monkeypatch.setattr(importer, "TRANSACTION_ROWS", 25)  # two batches per transaction
    real = importer.write_encoded
    calls = []

    def failing_fourth(conn, rows):
        calls.append(len(rows))
        if len(calls) == 4:
            raise RuntimeError("disk full")
        return real(conn, rows)

    monkeypatch.setattr(importer, "write_encoded", failing_fourth)
    with pytest.raises(RuntimeError, match="disk full"):
        import_csv(store, base.contacts, "contacts", now=T, parallel=False)
    assert _count(store, contacts) == 20  # batches 1-2 committed, batch 3 rolled back with 4

    monkeypatch.setattr(importer, "write_encoded", real)
    summary = import_csv(store, base.contacts, "contacts", now=T, parallel=False)
    assert summary.written == _count(store, contacts) == 60  # a re-run completes it
