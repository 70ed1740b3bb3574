"""Property: the compiled rule agrees with exact rational arithmetic at and around every edge."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, select

from segmail.segments.rules import Compiler
from segmail.store.codec import MONEY_SCALE, US_PER_DAY
from segmail.store.schema import features

T_US = 1_781_524_800_000_000  # 2026-06-15T12:00:00Z
OPS = {
    ">": Fraction.__gt__,
    ">=": Fraction.__ge__,
    "<": Fraction.__lt__,
    "<=": Fraction.__le__,
    "==": Fraction.__eq__,
}

engine = create_engine("sqlite://")
features.create(engine)

edge_days = st.one_of(st.integers(0, 400).map(Fraction), st.integers(0, 800).map(lambda n: Fraction(n, 2)))
jitter_us = st.sampled_from([-1, 0, 1, -US_PER_DAY // 2, 7])


@pytest.mark.slow  # a property search against the database
@settings(max_examples=150, deadline=None)
@given(n=edge_days, jitter=jitter_us, op=st.sampled_from(sorted(OPS)), spent_cents=st.integers(0, 10**7))
def test_days_and_money_comparisons_match_exact_arithmetic(n, jitter, op, spent_cents):
    last = T_US - int(n * US_PER_DAY) + jitter
    with engine.begin() as conn:
        conn.execute(features.delete())
        conn.execute(
            insert(features).values(
                email_key="a@example.com",
                status="subscribed",
                orders_count=1,
                total_spent_e4=spent_cents * 100,
                last_order_at=last,
                categories="",
            )
        )
        compiler = Compiler(source=features, as_of_us=T_US, params={"n": float(n)}, stats=None)
        days_rule = compiler.compile(f"days_since_last_order {op} n").condition
        threshold = Fraction(spent_cents, 100)
        money_rule = compiler.compile(f"total_spent {op} {float(threshold)!r}").condition
        got_days, got_money = conn.execute(select(days_rule, money_rule)).one()
    exact_days = Fraction(T_US - last, US_PER_DAY)
    assert bool(got_days) == OPS[op](exact_days, n)
    assert bool(got_money) == OPS[op](Fraction(spent_cents * 100, MONEY_SCALE), threshold)
