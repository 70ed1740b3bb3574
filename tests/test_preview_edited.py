"""A rule edit's preview evaluates only the edited segments while the stored memberships are what the
config before the edit gives (jobs.compute.edited_segments): the others would show no change. The
preview must be the one evaluating every segment gives, whatever the shortcut takes."""

from __future__ import annotations

from segmail.jobs import segment_views
from segmail.jobs.compute import compute, edited_segments
from segmail.store import membership_basis
from tests.conftest import T
from tests.shop import Shop, config, days

BASE = config(shop={"currency": "EUR"})
EDITED = config({"vip": {"top_percent": 40}}, shop={"currency": "EUR"})


def _shop(store) -> Shop:
    s = Shop(store)
    for i in range(12):
        who = s.contact(f"b{i}@example.com", opted_in_at=T - days(300 - i))
        for k in range(1 + i % 4):
            s.order(who, T - days(200 - 30 * k - i), total=f"{20 + 15 * i}.00")
    s.contact("new@example.com", opted_in_at=T - days(2))
    s.flush(T)
    return s


def _changes(store, edited, *, base=None, as_of=T) -> tuple[tuple[str, ...], list[tuple[str, str, str, str]]]:
    with segment_views.previewed(store, edited, as_of=as_of, base=base) as seen:
        rows = [(c.segment, c.email_key, c.action, c.reason) for c in seen.changes]
        return seen.segments, rows


def test_an_edit_evaluates_only_its_segment_and_previews_the_same(store):
    shop = _shop(store)
    compute(shop.store, BASE, as_of=T, now=T)
    with store.engine.connect() as conn:
        assert edited_segments(conn, BASE, EDITED, as_of=T) == ["vip"]
        assert edited_segments(conn, BASE, BASE, as_of=T) == []
        assert edited_segments(conn, BASE, EDITED, as_of=T + days(1)) is None  # not the stored T
    full = _changes(store, EDITED)
    assert any(segment == "vip" for segment, *_ in full[1])  # the edit moves someone
    assert _changes(store, EDITED, base=BASE) == full
    assert _changes(store, BASE, base=BASE) == _changes(store, BASE) == (full[0], [])


def test_new_data_or_other_shared_settings_evaluate_every_segment(store):
    shop = _shop(store)
    compute(shop.store, BASE, as_of=T, now=T)
    other_money = config({"vip": {"top_percent": 40}}, shop={"currency": "USD"})
    with store.engine.connect() as conn:
        assert edited_segments(conn, BASE, other_money, as_of=T) is None
    shop.order("new@example.com", T - days(1), total="900.00")
    shop.flush(T)  # new@ is stale: the stored memberships are not what evaluating now gives
    with store.engine.connect() as conn:
        assert edited_segments(conn, BASE, EDITED, as_of=T) is None
    assert _changes(store, EDITED, base=BASE) == _changes(store, EDITED)


def test_a_fit_since_the_compute_sends_the_segments_reading_predictions_to_be_evaluated(store):
    shop = _shop(store)
    predicting = config({"at_risk": {"enabled": True}}, shop={"currency": "EUR"})
    compute(shop.store, predicting, as_of=T, now=T)
    with store.engine.begin() as conn:
        found = membership_basis.recorded(conn)
        assert found is not None and found["data"]["fit"] is None  # no fit yet at the compute
        recorded = {k: v for k, v in found.items() if k != "run"}
        membership_basis.record(
            conn, run_id=found["run"], basis={**recorded, "data": {**found["data"], "fit": 7}}
        )
    edited = config({"at_risk": {"enabled": True}, "vip": {"top_percent": 40}}, shop={"currency": "EUR"})
    with store.engine.connect() as conn:
        assert edited_segments(conn, predicting, predicting, as_of=T) == ["at_risk"]
        got = edited_segments(conn, predicting, edited, as_of=T)
    assert got == [name for name in edited.segment_defs if name in ("vip", "at_risk")]
