"""A store whose feature cache was never built lists no stale contacts on import; one that was, does."""

from __future__ import annotations

from datetime import timedelta

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
