"""Shop-level statistics over a feature source, exact: the figures rules may call (segmail.segments.rule_language.Stats)."""

from __future__ import annotations

import math
from fractions import Fraction

from sqlalchemy import Connection, func, literal_column, select

from segmail.store.codec import MONEY_SCALE, US_PER_DAY
from segmail.store.features import FeatureSource


def median_repurchase_days(conn: Connection, source: FeatureSource) -> Fraction | None:
    """The median gap between consecutive paid orders of one contact, in days; None without any gap."""
    g = source.gaps  # holds the population's gaps only (see store.features)
    n = int(conn.execute(select(func.count()).select_from(g)).scalar_one())
    if n == 0:
        return None
    middle = (
        conn.execute(select(g.c.gap_us).order_by(g.c.gap_us).offset((n - 1) // 2).limit(2 - n % 2))
        .scalars()
        .all()
    )
    return Fraction(sum(int(v) for v in middle), len(middle) * US_PER_DAY)


def top_spenders_threshold(conn: Connection, source: FeatureSource, percent: Fraction) -> Fraction | None:
    """Net spend of the k-th biggest spender, k = ceil(percent % of buyers); None when k is 0."""
    f = source.features
    # buyers with money in the reporting currency: an order in another currency moves nothing. The 1
    # is written into the SQL (not bound) so the planners match the partial index ix_features_spend.
    spenders = f.c.money_orders_count >= literal_column("1")
    buyers = int(conn.execute(select(func.count()).where(spenders)).scalar_one())
    k = math.ceil(percent / 100 * buyers)
    if k <= 0:
        return None
    spent = conn.execute(
        select(f.c.total_spent_e4).where(spenders).order_by(f.c.total_spent_e4.desc()).offset(k - 1).limit(1)
    ).scalar_one()
    return Fraction(int(spent), MONEY_SCALE)
