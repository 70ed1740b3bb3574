"""Explain, preview and export take the shop statistics the last compute recorded while the feature
cache is still what it read (jobs.compute.recorded_stats): computing the median gap and the VIP threshold
over every contact was most of an explain's time on a large shop."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from segmail.jobs import segment_views
from segmail.jobs.compute import compute, recorded_stats
from segmail.store import shop_stats
from tests.conftest import T
from tests.shop import Shop, config, days

CONFIG = config(shop={"currency": "EUR"})


@pytest.fixture
def shop(store) -> Shop:
    s = Shop(store)
    for i in range(6):
        who = s.contact(f"b{i}@example.com", opted_in_at=T - days(200))
        for k in range(1 + i % 3):
            s.order(who, T - days(150 - 20 * k - i), total=f"{20 + 10 * i}.00")
    s.flush(T)
    return s


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    for name in ("median_repurchase_days", "top_spenders_threshold"):
        real = getattr(shop_stats, name)

        def counted(*args, _real=real, _name=name):
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(shop_stats, name, counted)
    return calls


def test_an_explain_after_a_compute_reads_the_recorded_statistics(shop, monkeypatch):
    compute(shop.store, CONFIG, as_of=T, now=T)
    with shop.store.engine.connect() as conn:
        stats = recorded_stats(conn, CONFIG)
    assert stats is not None and Fraction(stats["median"]) > 0 and stats["top"]
    calls = _counting(monkeypatch)
    got = segment_views.explain(shop.store, CONFIG, "b4@example.com", as_of=T + timedelta(hours=1))
    assert calls == []  # nothing computed over the whole shop again
    assert got.median_repurchase_days == Fraction(stats["median"])
    with segment_views.previewed(shop.store, CONFIG, as_of=T + timedelta(hours=1)) as preview:
        assert list(preview.changes) == []
    assert calls == []


def test_new_data_or_other_rules_make_them_computed_again(shop, monkeypatch):
    compute(shop.store, CONFIG, as_of=T, now=T)
    shop.order("b0@example.com", T - days(1), total="500.00")
    shop.flush(T)  # b0 is stale now: the cache is not what the compute read
    with shop.store.engine.connect() as conn:
        assert recorded_stats(conn, CONFIG) is None
        assert recorded_stats(conn, config({"vip": {"top_percent": 5}}, shop={"currency": "EUR"})) is None
    calls = _counting(monkeypatch)
    segment_views.explain(shop.store, CONFIG, "b0@example.com", as_of=T)
    assert "median_repurchase_days" in calls and "top_spenders_threshold" in calls
