"""`segments export --as-of T` serves the stored memberships exactly when evaluating would give them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from segmail.jobs import segment_views
from segmail.jobs.compute import compute, evaluate
from segmail.jobs.importer import import_csv
from segmail.sandbox.shopgen import generate_increment, generate_shop
from segmail.segments import engine
from segmail.store.codec import to_us
from segmail.store.erasure import erase_people
from tests.conftest import T
from tests.shop import config


@pytest.fixture
def shop(store, tmp_path):
    base = generate_shop(tmp_path / "base", contacts=500, seed=7, as_of=T - timedelta(days=1))
    for kind, path in (("contacts", base.contacts), ("orders", base.orders), ("events", base.events)):
        import_csv(store, path, kind, now=T)
    return store


def _export(store, cfg, as_of):
    with segment_views.exported(store, cfg, as_of=as_of) as export:
        assert export is not None
        return export.run_id, sorted(export.rows)


def _evaluated(store, cfg, as_of):
    """What evaluating every segment at `as_of` gives now, whatever is stored."""
    with store.engine.begin() as conn:
        rows = sorted(engine.desired_rows(conn, evaluate(conn, cfg, as_of=as_of)))
        conn.rollback()
    return rows


def test_export_at_the_computed_time_serves_the_stored_rows_which_equal_an_evaluation(shop):
    cfg = config()
    run = compute(shop, cfg, as_of=T, now=T)
    run_id, rows = _export(shop, cfg, T)
    assert run_id == run.run_id  # served from the stored memberships
    assert len(rows) > 50
    assert rows == _evaluated(shop, cfg, T)
    assert rows == _export(shop, cfg, None)[1]


def test_a_back_dated_compute_is_served_at_its_own_time_only(shop):
    cfg = config()
    compute(shop, cfg, as_of=T, now=T)  # the cache is fresh: nothing stale
    earlier = T - timedelta(days=40)
    run = compute(shop, cfg, as_of=earlier, now=T)
    assert run.point_in_time
    run_id, rows = _export(shop, cfg, earlier)
    assert run_id == run.run_id
    assert rows == _evaluated(shop, cfg, earlier)
    run_id, rows = _export(shop, cfg, T)  # another T: evaluated
    assert run_id is None
    assert rows == _evaluated(shop, cfg, T) != _export(shop, cfg, earlier)[1]


def test_new_data_since_the_compute_is_evaluated(shop, tmp_path):
    cfg = config()
    compute(shop, cfg, as_of=T, now=T)
    stored = _export(shop, cfg, None)[1]
    inc = generate_increment(tmp_path / "inc", contacts=500, seed=7, as_of=T, fraction=0.05)
    for kind, path in (("orders", inc.orders), ("events", inc.events)):
        import_csv(shop, path, kind, now=T)
    run_id, rows = _export(shop, cfg, T)
    assert run_id is None
    assert rows == _evaluated(shop, cfg, T) != stored


def test_changed_rules_are_evaluated(shop):
    compute(shop, config(), as_of=T, now=T)
    narrower = config({"vip": {"top_percent": 2.0}})
    run_id, rows = _export(shop, narrower, T)
    assert run_id is None
    assert rows == _evaluated(shop, narrower, T) != _export(shop, config(), T)[1]
    # a tag names the segment in Mailchimp; who is in it is the same, so the stored rows stand
    assert _export(shop, config({"vip": {"tag": "big"}}), T)[0] is not None


def test_an_erasure_since_the_compute_is_evaluated(shop):
    cfg = config()
    compute(shop, cfg, as_of=T, now=T)
    stored = _export(shop, cfg, None)[1]
    gone = stored[0][0]
    with shop.engine.begin() as conn:
        erase_people(conn, [gone], now_us=to_us(T))
    run_id, rows = _export(shop, cfg, T)
    assert run_id is None
    assert rows == _evaluated(shop, cfg, T)
    assert gone not in {key for key, _ in rows}
