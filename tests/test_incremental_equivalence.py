"""An incremental compute stores exactly what a full compute from scratch stores (issue 16).

Two stores receive the same random sequence of imports (new contacts, orders, events), edits (a status
change, a refund, an order moved to another contact or another day), erasures and clock moves (none,
hours, days, months). After each step store A computes as it would in production (incremental after the first
compute) and store B computes in full on a feature cache rebuilt from scratch; their memberships (with
entry times), the segment history and each segment's size and moves must be equal, and A must really
have taken the incremental path. Both databases, through the same sequences (derandomized).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from segmail.connector.records import Contact, Event, Order, Record
from segmail.jobs.compute import ComputeResult, compute
from segmail.segments.incremental import RecordedStats
from segmail.segments.rules import Compiler
from segmail.store.codec import to_us
from segmail.store.db import Store, meta, open_store
from segmail.store.erasure import erase_people
from segmail.store.membership_candidates import moving_ranges
from segmail.store.runs import last_run
from segmail.store.schema import features, memberships, segment_history
from segmail.store.writer import FINGERPRINT_KEY, write_records
from tests.conftest import T, pg_databases, reset_schema
from tests.shop import Shop, config, days

EMAILS = [f"p{i}@example.com" for i in range(8)]
ORDER_IDS = [f"o{i}" for i in range(12)]  # re-imported ids are edits: status, refund, owner, day
STEP = timedelta(hours=12)  # data times on a half-day grid, so rule edges (30, 90, 180 days) are hit exactly
# half-days before the clock: anywhere, or at and next to the rules' edges (30, 45, 60, 90, 180 days)
AGO = st.one_of(
    st.integers(0, 500), st.sampled_from([n + d for n in (60, 90, 120, 180, 360) for d in (-1, 0, 1)])
)

# the five lifecycle segments with their defaults (VIP's top-spender threshold, lapsed's median gap)
# plus custom rules: money, time windows, a list parameter and categories; T inside arithmetic
CONFIG = config(
    {
        "recent_dach_boots": {
            "rule": (
                '("boots" in categories or total_spent >= big) and country in markets'
                " and days_since_first_order <= recent and days_since_last_engagement < 45"
            ),
            "markets": ["DE", "AT"],
            "recent": 60,
            "big": 40,
        },
        # T inside arithmetic: no range bounds where it moves, so its two compilations are compared on every row
        "slowing_down": {"rule": "orders_count >= 2 and days_since_last_order * 2 > days_since_first_order"},
        "vip": {"top_percent": 25},
    },
    shop={"currency": "EUR"},  # else the first order's currency rebuilds the cache (a full compute)
)

contacts_st = st.builds(
    lambda i, status, opted, country: ("contact", i, status, opted, country),
    st.integers(0, len(EMAILS) - 1),
    st.sampled_from(["subscribed", "subscribed", "unsubscribed", "pending", "cleaned"]),
    st.one_of(st.none(), AGO),  # opted in this many half-days before the clock
    st.sampled_from([None, "DE", "AT", "FR"]),
)
orders_st = st.builds(
    lambda o, i, ago, total, refunded, status, boots: ("order", o, i, ago, total, refunded, status, boots),
    st.integers(0, len(ORDER_IDS) - 1),
    st.integers(0, len(EMAILS) - 1),
    AGO,
    st.sampled_from(["5.00", "20.00", "45.00", "120.00"]),
    st.sampled_from(["0", "0", "5.00"]),
    st.sampled_from(["paid", "paid", "completed", "refunded", "pending"]),
    st.booleans(),
)
events_st = st.builds(
    lambda i, kind, ago: ("event", i, kind, ago),
    st.integers(0, len(EMAILS) - 1),
    st.sampled_from(["open", "click"]),
    AGO,
)
CLOCK_MOVES = [timedelta(0), timedelta(hours=1), timedelta(hours=12), timedelta(days=1), timedelta(days=7),
               timedelta(days=30), timedelta(days=61), timedelta(days=200)]  # fmt: skip
erasures_st = st.builds(lambda i: ("erase", i), st.integers(0, len(EMAILS) - 1))  # rare: one in ~25 ops
steps_st = st.lists(
    st.tuples(
        st.sampled_from(CLOCK_MOVES),
        st.lists(
            st.one_of(*[contacts_st, orders_st, events_st] * 8, erasures_st),
            max_size=8,
        ),
    ),
    min_size=2,
    max_size=6,
)


def _records(ops: list[tuple], clock: datetime) -> list[Record]:
    out: list[Record] = []
    for op in ops:
        if op[0] == "contact":
            _, i, status, opted, country = op
            at = None if opted is None else clock - opted * STEP
            out.append(
                Contact(email=EMAILS[i], email_key=EMAILS[i], status=status, opted_in_at=at, country=country)
            )
        elif op[0] == "order":
            _, o, i, ago, total, refunded, status, boots = op
            cats = ("boots",) if boots else ("socks",)
            out.append(
                Order(order_id=ORDER_IDS[o], email_key=EMAILS[i], created_at=clock - ago * STEP,
                      total=Decimal(total), refunded=Decimal(refunded), currency="EUR", status=status,
                      categories=cats)
            )  # fmt: skip
        elif op[0] == "event":
            _, i, kind, ago = op
            out.append(Event(email_key=EMAILS[i], type=kind, at=clock - ago * STEP, campaign_id="c1"))
    return out


def _erased(ops: list[tuple]) -> list[str]:
    """People erased after the step's records are written (their later records are then suppressed)."""
    return sorted({EMAILS[op[1]] for op in ops if op[0] == "erase"})


@dataclass
class Twins:
    """Two empty stores per example: A computes as in production, B in full from scratch."""

    urls: tuple[str, str]

    def open(self) -> tuple[Store, Store]:
        if self.urls[0].startswith("postgresql"):
            for url in self.urls:
                reset_schema(url)
            return open_store(self.urls[0]), open_store(self.urls[1])
        folder = self.urls[0]
        tag = uuid.uuid4().hex[:8]
        return open_store(f"sqlite:///{folder}/a{tag}.db"), open_store(f"sqlite:///{folder}/b{tag}.db")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def twins(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    if request.param == "sqlite":
        yield Twins((str(tmp_path_factory.mktemp("twins")), ""))
        return
    for a, b in pg_databases(2, prefix="segmail_twin"):
        yield Twins((a, b))


def _write(store: Store, records: list[Record], erased: list[str], now: datetime) -> None:
    with store.engine.begin() as conn:
        write_records(conn, records, source="test", now_us=to_us(now))
    if erased:
        with store.engine.begin() as conn:
            erase_people(conn, erased, now_us=to_us(now))


def _from_scratch(store: Store, at: datetime) -> ComputeResult:
    with store.engine.begin() as conn:  # no fingerprint: the whole feature cache is rebuilt
        conn.execute(delete(meta).where(meta.c.key == FINGERPRINT_KEY))
    return compute(store, CONFIG, as_of=at, now=at, full=True)


def _stored(store: Store) -> tuple[list[tuple], list[tuple]]:
    m, h = memberships.c, segment_history.c
    with store.engine.connect() as conn:
        members = conn.execute(
            select(m.segment, m.email_key, m.entered_at, m.run_id).order_by(m.segment, m.email_key)
        )
        history = conn.execute(select(h.run_id, h.segment, h.email_key, h.at, h.kind).order_by(h.run_id, h.segment, h.email_key))  # fmt: skip
        return [tuple(r) for r in members], [tuple(r) for r in history]


def _moves(result: ComputeResult) -> dict[str, tuple[int, int, int]]:
    return {name: (c.size, c.entered, c.left) for name, c in result.changes.items()}


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps_st)
def test_incremental_compute_equals_a_full_compute_from_scratch(twins: Twins, steps) -> None:
    a, b = twins.open()
    try:
        clock = T
        for n, (move, ops) in enumerate(steps):
            clock += move
            records, erased = _records(ops, clock), _erased(ops)
            for store in (a, b):
                _write(store, records, erased, clock)
            got, want = compute(a, CONFIG, as_of=clock, now=clock), _from_scratch(b, clock)
            if n > 0:  # nothing here may force the full path: same rules, data never after the clock
                assert got.path == "incremental", got.path
            assert _moves(got) == _moves(want), f"step {n}"
            assert _stored(a) == _stored(b), f"step {n}"
    finally:
        a.dispose()
        b.dispose()


def _path(shop: Shop, at: datetime, cfg=CONFIG, **kw) -> str:
    shop.flush(at)
    return compute(shop.store, cfg, as_of=at, now=at, **kw).path


def test_the_full_path_runs_whenever_the_stored_verdicts_cannot_be_started_from(store) -> None:
    shop = Shop(store)
    a = shop.contact("a@example.com", opted_in_at=T - days(10))
    shop.order(a, T - days(3))
    assert _path(shop, T) == "full: no previous compute to start from"
    assert _path(shop, T + days(1)) == "incremental"
    with store.engine.connect() as conn:
        assert last_run(conn, "compute")["stats"]["(path)"] == {
            "path": "incremental",
            "stale": 0,
            "crossing": 0,
        }
    assert _path(shop, T + days(2), full=True) == "full: asked for"
    assert _path(shop, T + days(3)) == "incremental"  # a forced full compute records its verdicts too
    narrower = config({"vip": {"top_percent": 5}}, shop={"currency": "EUR"})
    assert (
        _path(shop, T + days(3), narrower)
        == "full: the rules, their parameters, paid statuses or currency changed"
    )
    assert _path(shop, T + days(4), narrower) == "incremental"
    paid_only = config({"vip": {"top_percent": 5}, "paid_statuses": ["paid"]}, shop={"currency": "EUR"})
    assert _path(shop, T + days(4), paid_only).startswith("full: the rules")
    assert _path(shop, T + days(3), paid_only) == "full: as-of time before the previous compute's"
    shop.order(a, T + days(6))  # data after the next as-of: a point-in-time copy of the features
    assert (
        _path(shop, T + days(5), paid_only)
        == "full: point-in-time compute (data after the as-of time is stored)"
    )
    assert _path(shop, T + days(6), paid_only) == "full: no previous compute to start from"
    predictive = config({"at_risk": {"enabled": True}}, shop={"currency": "EUR"})
    assert _path(shop, T + days(7), predictive).startswith("full: the rules")
    # without a fit the scores are missing: the next scoring on the same day changes nobody's
    assert _path(shop, T + days(7), predictive) == "incremental"


# prediction rules: the built-in at_risk and high_potential, and rules mixing a score with T and a statistic
PREDICTIVE = config(
    {
        "at_risk": {"enabled": True},
        "high_potential": {"enabled": True},
        "fading_champions": {
            "rule": 'rfm_group == "champions" or (p_alive < 0.6 and days_since_last_order > 30)'
        },
        "top_clv_lapsing": {
            "rule": "clv_percentile >= 60 and days_since_last_order > median_repurchase_days()"
        },
    },
    shop={"currency": "EUR"},
)
# CDNOW's published fit (tests/test_predict_models.py) in days: any fit does, the scores only need one
CDNOW_FIT = {"r": 0.243, "alpha": 30.9, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "v": 15.44}


def _with_fit(store: Store) -> None:
    from segmail.store.predict_fits import FitRow, save_fit

    row = FitRow(as_of=to_us(T - days(400)), fitted_at=to_us(T), customers=100, repeat_customers=60,
                 log_likelihood=-1.0, **CDNOW_FIT)  # fmt: skip
    with store.engine.begin() as conn:
        save_fit(conn, row)


def _scores_from_scratch(store: Store, at: datetime) -> ComputeResult:
    from segmail.store.predict_scores import FINGERPRINT_KEY as SCORES_KEY

    with store.engine.begin() as conn:  # no fingerprints: the feature cache and every score made anew
        conn.execute(delete(meta).where(meta.c.key.in_([FINGERPRINT_KEY, SCORES_KEY])))
    return compute(store, PREDICTIVE, as_of=at, now=at, full=True)


HOURS = [timedelta(0), timedelta(hours=1), timedelta(hours=2), timedelta(hours=3), timedelta(days=1)]
predictive_steps_st = st.lists(
    st.tuples(
        st.sampled_from(HOURS),  # mostly within a day: the day's buyers rescored, an incremental compute
        st.lists(st.one_of(*[contacts_st, orders_st, events_st] * 8, erasures_st), max_size=8),
    ),
    min_size=2,
    max_size=6,
)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=predictive_steps_st)
def test_incremental_compute_with_prediction_rules_equals_a_full_compute_from_scratch(
    twins: Twins, steps
) -> None:
    a, b = twins.open()
    try:
        for store in (a, b):
            _with_fit(store)
        clock = T.replace(hour=1)  # the day's hours ahead: same-day steps, and some a day later
        for n, (move, ops) in enumerate(steps):
            clock += move
            records, erased = _records(ops, clock), _erased(ops)
            for store in (a, b):
                _write(store, records, erased, clock)
            got = compute(a, PREDICTIVE, as_of=clock, now=clock)
            want = _scores_from_scratch(b, clock)
            assert _moves(got) == _moves(want), f"step {n} ({got.path})"
            assert _stored(a) == _stored(b), f"step {n} ({got.path})"
    finally:
        a.dispose()
        b.dispose()


def test_a_same_day_order_is_an_incremental_compute_with_prediction_rules(store) -> None:
    _with_fit(store)
    shop = Shop(store)
    people = [shop.contact(f"b{i}@example.com", opted_in_at=T - days(300)) for i in range(6)]
    for i, p in enumerate(people):
        for k in range(1 + i % 3):
            shop.order(p, T - days(200 - 40 * k - i), total=f"{20 + 15 * i}.00")
    morning = T.replace(hour=8)
    assert _path(shop, morning, PREDICTIVE).startswith("full: no previous compute")
    assert _path(shop, morning + timedelta(hours=1), PREDICTIVE) == "incremental"  # scores kept
    shop.order(people[0], morning + timedelta(hours=1, minutes=30), total="300.00")
    shop.flush(morning + timedelta(hours=1, minutes=30))
    got = compute(store, PREDICTIVE, as_of=morning + timedelta(hours=2), now=morning + timedelta(hours=2))
    assert got.path == "incremental" and got.predictions is not None
    assert got.predictions.changed == {people[0]}  # rescored: the one buyer with an order today
    with store.engine.connect() as conn:
        (stats,) = [last_run(conn, "compute")["stats"]["(path)"]]
    assert stats["stale"] >= 1  # the buyer's features (their new order) and scores, nobody else's
    assert _path(shop, morning + timedelta(days=1), PREDICTIVE).startswith("full: every buyer's prediction")


def test_moving_ranges_bound_where_two_compilations_of_a_rule_can_disagree(store) -> None:
    later = to_us(T + days(1))

    def both(rule: str, stats_then: Fraction, stats_now: Fraction):
        def compiled(as_of_us: int, median: Fraction):
            stats = RecordedStats({"median": str(median), "top": {}})
            return (
                Compiler(source=features, as_of_us=as_of_us, params={}, stats=stats).compile(rule).condition
            )

        return compiled(later, stats_now), compiled(to_us(T), stats_then)

    with store.engine.connect() as conn:
        lapsed = both(
            "orders_count >= 1 and days_since_last_order > 2 * median_repurchase_days()",
            Fraction(10),
            Fraction(11),
        )
        ((column, low, high),) = moving_ranges(conn, *lapsed)
        assert column is features.c.last_order_at
        assert (low, high) == (later - 22 * 86_400_000_000, to_us(T) - 20 * 86_400_000_000)
        fixed = both("orders_count >= 2", Fraction(1), Fraction(2))
        assert moving_ranges(conn, *fixed) == []
        assert (
            moving_ranges(
                conn, *both("days_since_last_order * 2 > days_since_first_order", Fraction(1), Fraction(1))
            )
            is None
        )


@pytest.mark.parametrize("move", [timedelta(microseconds=1), timedelta(hours=12)])
def test_a_contact_exactly_at_an_edge_moves_when_the_clock_passes_it(store, move) -> None:
    """The moving ranges include both ends: a contact at the old edge leaves, one at the new edge enters."""
    shop = Shop(store)
    edge = shop.contact("edge@example.com", opted_in_at=T - days(30))
    inside = shop.contact("inside@example.com", opted_in_at=T - days(30) + move)
    soon = shop.contact("soon@example.com", opted_in_at=T + move)  # welcome from its opt-in on
    lapsing = shop.contact("lapsing@example.com", opted_in_at=T - days(400))
    shop.order(lapsing, T - days(30))  # no repeat buyer: lapsed after the 30-day floor
    old = shop.contact("old@example.com", opted_in_at=T - days(90) + move)  # unengaged after the grace
    before = shop.segments(T, CONFIG)
    assert before["welcome"] == {edge, inside}
    assert lapsing not in before["lapsed"] and old not in before["unengaged"]
    assert _path(shop, T + move) == "incremental"
    after = shop.segments(T + move, CONFIG)
    assert after["welcome"] == {inside, soon}
    assert lapsing in after["lapsed"]
    assert old in after["unengaged"]


def test_a_rebuilt_feature_cache_is_never_started_from(store) -> None:
    """Imports made while there is no cache list nobody as stale: the compute that rebuilds it evaluates all."""
    shop = Shop(store)
    a = shop.contact("a@example.com", opted_in_at=T - days(400))
    assert _path(shop, T) == "full: no previous compute to start from"
    with store.engine.begin() as conn:  # the cache dropped (as a migration may), same settings after
        conn.execute(delete(meta).where(meta.c.key == FINGERPRINT_KEY))
    shop.order(a, T - days(1))
    shop.order(a, T - days(2))
    assert _path(shop, T + days(1)) == "full: the feature cache was rebuilt"
    assert a in shop.segments(T + days(1), CONFIG)["repeat_buyer"]


def test_a_preview_between_two_computes_leaves_the_next_one_who_changed(store) -> None:
    """A preview (or explain, export) refreshes the stale contacts' features but keeps them listed: the
    list is also whom the next compute evaluates again."""
    from segmail.jobs.compute import evaluate

    shop = Shop(store)
    a = shop.contact("a@example.com", opted_in_at=T - days(100))
    shop.order(a, T - days(10))
    assert _path(shop, T).startswith("full: no previous compute")
    shop.order(a, T - days(1))  # a second order: a repeat buyer now
    shop.flush(T)
    with store.engine.begin() as conn:
        evaluate(conn, CONFIG, as_of=T)  # what `segments preview` does
    got = compute(store, CONFIG, as_of=T + timedelta(hours=1), now=T + timedelta(hours=1))
    assert got.path == "incremental"
    assert got.changes["repeat_buyer"].entered == 1  # a moved although the preview refreshed a first


def test_a_cache_rebuilt_by_a_preview_is_never_started_from(store) -> None:
    from segmail.jobs.compute import evaluate

    shop = Shop(store)
    a = shop.contact("a@example.com", opted_in_at=T - days(100))
    shop.order(a, T - days(10))
    assert _path(shop, T).startswith("full: no previous compute")
    with store.engine.begin() as conn:  # the cache is gone (same settings): imports flag nobody
        conn.execute(delete(meta).where(meta.c.key == FINGERPRINT_KEY))
    shop.order(a, T - days(1))
    shop.flush(T)
    with store.engine.begin() as conn:
        evaluate(conn, CONFIG, as_of=T)  # a preview rebuilds it, with the same settings
    assert _path(shop, T + timedelta(hours=1)) == "full: the feature cache was rebuilt"
