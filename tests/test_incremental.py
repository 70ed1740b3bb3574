"""The feature cache: incremental refreshes give exactly what a from-scratch compute gives."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from segmail.jobs.compute import compute
from segmail.jobs.importer import import_csv
from segmail.sandbox.shopgen import generate_increment, generate_shop
from segmail.store.db import open_store
from segmail.store.schema import features, memberships
from tests.conftest import T
from tests.shop import config


def _memberships(store):
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(memberships.c.segment, memberships.c.email_key)))


def _features(store):
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(features)))


def test_incremental_compute_equals_full_rebuild(store, tmp_path):
    base = generate_shop(tmp_path / "base", contacts=800, seed=11, as_of=T - timedelta(days=1))
    inc = generate_increment(tmp_path / "inc", contacts=800, seed=11, as_of=T, fraction=0.05)
    cfg = config()
    for kind, path in (("contacts", base.contacts), ("orders", base.orders), ("events", base.events)):
        import_csv(store, path, kind, now=T)
    first = compute(store, cfg, as_of=T - timedelta(days=1), now=T)
    assert not first.point_in_time
    for kind, path in (("orders", inc.orders), ("events", inc.events)):
        import_csv(store, path, kind, now=T)
    second = compute(store, cfg, as_of=T, now=T)
    assert not second.point_in_time
    assert 0 < second.refreshed < 800  # only contacts touched by the increment were rebuilt
    assert sum(c.entered + c.left for c in second.changes.values()) > 0

    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    for kind, path in (
        ("contacts", base.contacts),
        ("orders", base.orders),
        ("events", base.events),
        ("orders", inc.orders),
        ("events", inc.events),
    ):
        import_csv(fresh, path, kind, now=T)
    compute(fresh, cfg, as_of=T, now=T)
    assert _features(store) == _features(fresh)
    assert _memberships(store) == _memberships(fresh)
    fresh.dispose()


def test_changing_paid_statuses_rebuilds_the_cache(store, tmp_path):
    base = generate_shop(tmp_path / "base", contacts=300, seed=5, as_of=T)
    for kind, path in (("contacts", base.contacts), ("orders", base.orders), ("events", base.events)):
        import_csv(store, path, kind, now=T)
    compute(store, config(), as_of=T, now=T)
    before = {name: len(m) for name, m in _group(_memberships(store)).items()}
    narrow = config({"paid_statuses": ["completed"]})
    result = compute(store, narrow, as_of=T, now=T)
    assert result.refreshed == 300 - _excluded(store)
    after = {name: len(m) for name, m in _group(_memberships(store)).items()}
    assert after["repeat_buyer"] < before["repeat_buyer"]


def _group(rows):
    out: dict[str, list[str]] = {}
    for seg, key in rows:
        out.setdefault(seg, []).append(key)
    return out


def _excluded(store):
    from sqlalchemy import func

    from segmail.store.schema import contacts

    with store.engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(contacts.c.status.in_(["cleaned", "archived"]))
        ).scalar_one()
