"""The day's prediction scores on the CDNOW sample, SQLite and PostgreSQL (segments/day_reference.py).

New orders of T's day rescore only their buyers, and the scores so kept up to date equal those a full
scoring gives; a day's order that goes away (refunded) puts its buyer back to the day's reference.
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
from segmail.store.schema import meta, orders, predict_today
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
    with store.engine.connect() as conn:
        todays = set(conn.execute(select(predict_today.c.email_key)).scalars())
    assert todays == {email("0002"), email("0003")}  # the buyers scored with orders of the day
    refunded = email("0003")

    existing, newcomer = email("0001"), "new.buyer@example.com"
    late = [
        _order(n + 1, "0001", DAY_START + timedelta(hours=11), "80.00"),
        Order(
            order_id=f"o{n + 2}", email_key=newcomer, created_at=DAY_START + timedelta(hours=11, minutes=5),
            total=Decimal("25.00"), currency="USD", status="paid",
        ),
    ]  # fmt: skip
    with store.engine.begin() as conn:
        write_records(conn, late, source="test", now_us=to_us(DAY_START + timedelta(hours=11)))
        # one of the day's orders refunded: its buyer goes back to their scores from before the day
        conn.execute(
            orders.update()
            .where(orders.c.email_key == refunded, orders.c.created_at >= to_us(DAY_START))
            .values(status="refunded", updated_at=to_us(DAY_START + timedelta(hours=11)))
        )

    second = _score(store, DAY_START + timedelta(hours=11, minutes=30))
    assert not second.reused
    assert second.rescored == len(_buying(store, todays | {existing, newcomer})) < 100
    assert second.changed == todays | {existing, newcomer}  # what an incremental compute evaluates again
    after = _table(store)
    assert set(after) == set(before) | {newcomer}
    moved = {k for k in before if before[k] != after[k]}
    assert moved <= todays | {existing}  # nobody else's scores moved
    assert existing in moved and after[existing][2] > before[existing][2]  # CLV up with an 80.00 order

    with store.engine.begin() as conn:  # the same T scored from scratch
        conn.execute(delete(meta).where(meta.c.key == predict_scores.FINGERPRINT_KEY))
    full = _score(store, DAY_START + timedelta(hours=11, minutes=30))
    assert full.rescored == full.buyers == 2358 and full.changed is None  # anybody's may have changed
    _same(after, _table(store))

    again = _score(store, DAY_START + timedelta(hours=11, minutes=30))
    assert again.reused and again.rescored == 0 and again.changed == frozenset()


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
