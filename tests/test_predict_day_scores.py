"""The day's prediction scores on the CDNOW sample, SQLite and PostgreSQL (segments/day_reference.py).

New orders of T's day rescore only their buyers, found from the writers' log (store/predict_dirty.py)
without reading the orders, and the scores so kept up to date equal those a full scoring gives; a day's
order that goes away (refunded) puts its buyer back to the day's reference; an order dated later than T
is scored when a later T passes it, even after a scoring back in time; an earlier order's change or an
erasure rescores everyone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from segmail.connector.records import Order
from segmail.jobs import predict
from segmail.jobs.config import parse_config
from segmail.segments import predictive
from segmail.store import predict_scores
from segmail.store.codec import to_us
from segmail.store.erasure import erase_people
from segmail.store.predict_dirty import UNKNOWN
from segmail.store.schema import meta, orders, predict_dirty
from segmail.store.writer import write_records
from tests.test_predict_models import CALIBRATION_END, cdnow_orders

DAY_START = datetime.combine(CALIBRATION_END, datetime.min.time(), UTC)
# (the CDNOW orders are placed at noon: every T here is before the noon orders of CALIBRATION_END)
CONFIG = parse_config({}, origin="test", base_dir=Path("."), env={})


def email(customer: str) -> str:
    return f"cdnow{customer}@example.com"


def _order(n: int, customer: str, at: datetime, total: str, status: str = "paid") -> Order:
    return Order(
        order_id=f"o{n}", email_key=email(customer), created_at=at, total=Decimal(total), currency="USD",
        status=status,
    )  # fmt: skip


@pytest.fixture
def cdnow(store):
    orders = [_order(n, o.customer, o.placed_at, str(o.amount)) for n, o in enumerate(cdnow_orders())]
    with store.engine.begin() as conn:
        write_records(conn, orders, source="test", now_us=to_us(DAY_START))
    predict.fit(store, CONFIG, as_of=DAY_START - timedelta(seconds=1), now=DAY_START)  # in force all day
    return store, len(orders)


def _score(store, at: datetime) -> predictive.Scored:
    with store.engine.begin() as conn:
        return predictive.score(
            conn, as_of=at, paid_statuses=["paid"], currency=None, annual_discount_rate=0.0
        )


def _table(store) -> dict[str, tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(select(predict_scores.scores))}


def _same(a: dict[str, tuple[Any, ...]], b: dict[str, tuple[Any, ...]]) -> None:
    assert a.keys() == b.keys()
    for key, row in a.items():
        other = b[key]
        assert row[:4] == pytest.approx(other[:4], rel=1e-12, abs=1e-12), key  # the floats
        assert row[4:] == other[4:], key  # rfm_r, rfm_f, rfm_m, rfm_group


def test_the_days_orders_rescore_only_their_buyers_and_equal_a_full_scoring(cdnow):
    store, n = cdnow
    morning = [
        _order(n + i, c, DAY_START + timedelta(hours=8), "30.00") for i, c in enumerate(("0002", "0003"))
    ]
    with store.engine.begin() as conn:
        write_records(conn, morning, source="test", now_us=to_us(DAY_START + timedelta(hours=8)))
    n += len(morning)
    first = _score(store, DAY_START + timedelta(hours=10))
    assert first.rescored == first.buyers == 2357  # the first scoring of the day: everyone
    before = _table(store)
    later = [(k, t) for k, t in _log(store) if t > to_us(DAY_START + timedelta(hours=10))]
    assert later == _log(store)  # the log holds the orders dated after T, logged by that first scoring:
    noon = {
        (email(o.customer), to_us(o.placed_at))
        for o in cdnow_orders()
        if o.placed_at.date() == CALIBRATION_END
    }
    assert noon and {r for r in later if r[0] != UNKNOWN} == noon  # T's day's one by one,
    assert [t for k, t in later if k == UNKNOWN] == [
        min(t for _, t in later if t >= to_us(DAY_START + timedelta(days=1)))
    ]
    refunded = email("0003")

    existing, newcomer = email("0001"), "new.buyer@example.com"
    late = [
        _order(n + 1, "0001", DAY_START + timedelta(hours=11), "80.00"),
        Order(
            order_id=f"o{n + 2}", email_key=newcomer, created_at=DAY_START + timedelta(hours=11, minutes=5),
            total=Decimal("25.00"), currency="USD", status="paid",
        ),
        # one of the day's orders refunded: its buyer goes back to their scores from before the day
        _order(n - 1, "0003", DAY_START + timedelta(hours=8), "30.00", status="refunded"),
    ]  # fmt: skip
    with store.engine.begin() as conn:
        write_records(conn, late, source="test", now_us=to_us(DAY_START + timedelta(hours=11)))
    assert {k for k, t in _due(store, DAY_START + timedelta(hours=11, minutes=30))} == {
        existing,
        newcomer,
        refunded,
    }

    second = _score(store, DAY_START + timedelta(hours=11, minutes=30))
    assert not second.reused
    assert second.rescored == len(_buying(store, {refunded, existing, newcomer})) == 3
    assert second.changed == {refunded, existing, newcomer}  # what an incremental compute evaluates again
    assert _due(store, DAY_START + timedelta(hours=11, minutes=30)) == []  # taken into account
    after = _table(store)
    assert set(after) == set(before) | {newcomer}
    moved = {k for k in before if before[k] != after[k]}
    assert moved == {refunded, existing}  # nobody else's scores moved
    assert after[existing][2] > before[existing][2]  # CLV up with an 80.00 order
    _same(after, _from_scratch(store, DAY_START + timedelta(hours=11, minutes=30)))

    again = _score(store, DAY_START + timedelta(hours=11, minutes=30))
    assert again.reused and again.rescored == 0 and again.changed == frozenset()


def _log(store) -> list[tuple[str, int]]:
    with store.engine.connect() as conn:
        return sorted((k, t) for k, t in conn.execute(select(predict_dirty)))


def _due(store, at: datetime) -> list[tuple[str, int]]:
    return [(k, t) for k, t in _log(store) if t <= to_us(at)]


def _from_scratch(store, at: datetime) -> dict[str, tuple[Any, ...]]:
    """The scores of a scoring at `at` with nothing stored before (the reference the day's path equals)."""
    with store.engine.begin() as conn:
        conn.execute(delete(meta).where(meta.c.key == predict_scores.FINGERPRINT_KEY))
    full = _score(store, at)
    assert full.rescored == full.buyers and full.changed is None  # anybody's may have changed
    return _table(store)


def _buying(store, keys: set[str]) -> set[str]:
    """Those of `keys` with a paid order (a buyer whose only order was refunded has no scores left)."""
    with store.engine.connect() as conn:
        query = select(orders.c.email_key).where(orders.c.email_key.in_(keys), orders.c.status == "paid")
        return set(conn.execute(query).scalars())


def test_the_next_day_ranks_everyone_afresh(cdnow):
    store, _ = cdnow
    _score(store, DAY_START + timedelta(hours=10))
    nxt = _score(store, DAY_START + timedelta(days=1, hours=1))
    assert nxt.rescored == nxt.buyers  # another day: another yardstick, every buyer


def test_an_order_dated_after_t_is_scored_when_t_passes_it_even_after_going_back(cdnow):
    store, n = cdnow
    _score(store, DAY_START + timedelta(hours=9))  # scores exist: writes are logged from here on
    early = _order(n, "0004", DAY_START + timedelta(hours=14), "45.00")  # the shop's clock ahead of ours
    with store.engine.begin() as conn:
        write_records(conn, [early], source="test", now_us=to_us(DAY_START + timedelta(hours=9)))
    at_ten = _score(store, DAY_START + timedelta(hours=10))
    assert at_ten.reused and (email("0004"), to_us(early.created_at)) in _log(store)  # not yet due
    at_three = _score(store, DAY_START + timedelta(hours=15))
    passed = {email("0004")} | {
        email(o.customer) for o in cdnow_orders() if o.placed_at.date() == CALIBRATION_END
    }
    assert at_three.changed == passed and at_three.rescored == len(passed) < 20  # with the CDNOW noon orders
    at_three_scores = _table(store)

    back = _score(store, DAY_START + timedelta(hours=12))  # back in time: the 14:00 order leaves again
    assert back.changed is None
    assert _table(store) != at_three_scores
    forth = _score(store, DAY_START + timedelta(hours=15))  # logged again by the scoring back in time
    assert forth.changed == {email("0004")} and forth.rescored == 1  # (the noon orders stayed in at 12:00)
    _same(_table(store), at_three_scores)
    assert _score(store, DAY_START + timedelta(hours=16)).reused  # and forgets once past


def test_an_earlier_order_or_an_erasure_rescores_everyone(cdnow):
    store, n = cdnow
    _score(store, DAY_START + timedelta(hours=9))
    yesterday = _order(n, "0005", DAY_START - timedelta(hours=5), "12.00")
    with store.engine.begin() as conn:
        write_records(conn, [yesterday], source="test", now_us=to_us(DAY_START + timedelta(hours=9)))
    assert _due(store, DAY_START + timedelta(hours=10)) == [
        (UNKNOWN, to_us(yesterday.created_at))
    ]  # whose: not listed
    everyone = _score(store, DAY_START + timedelta(hours=10))
    assert everyone.changed is None and everyone.rescored == everyone.buyers
    _same(_table(store), _from_scratch(store, DAY_START + timedelta(hours=10)))

    with store.engine.begin() as conn:
        erase_people(conn, [email("0006")], now_us=to_us(DAY_START + timedelta(hours=10)))
    erased = _score(store, DAY_START + timedelta(hours=10, minutes=15))
    assert erased.changed is None and email("0006") not in _table(store)
    _same(_table(store), _from_scratch(store, DAY_START + timedelta(hours=10, minutes=15)))
