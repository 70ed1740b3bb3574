"""The generated shop's order rows: statuses, seasonal baskets, prices and guest-checkout spellings."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from itertools import combinations
from typing import Final

from segmail.sandbox.shopgen_csv import DAY, Clock, Rows, money
from segmail.sandbox.shopgen_people import Region

CATEGORIES: Final = ("boots", "sandals", "coats", "t-shirts", "swimwear", "accessories", "scarves", "gloves")
TABLE: Final = 1024  # size of the precomputed lookup tables that replace per-row distribution calls

_ORDER_STATUSES: Final = (
    ("completed", 50),
    ("paid", 30),
    ("processing", 7),
    ("partially_refunded", 4),
    ("refunded", 3),
    ("cancelled", 4),
    ("pending", 2),
)
ORDER_STATUS_OF: Final = tuple(s for s, pct in _ORDER_STATUSES for _ in range(pct))
# Orders of the last 24 hours have not been fulfilled or refunded yet.
FRESH_ORDER_STATUS_OF: Final = tuple(
    s for s, pct in (("paid", 55), ("processing", 30), ("pending", 10), ("cancelled", 5)) for _ in range(pct)
)
_SEASON_WEIGHTS: Final = (  # boots, sandals, coats, t-shirts, swimwear, accessories, scarves, gloves
    (3.0, 0.3, 3.0, 1.0, 0.2, 1.5, 2.0, 2.0),  # winter
    (1.5, 1.0, 1.0, 2.0, 0.7, 1.5, 0.7, 0.4),  # spring
    (0.3, 3.0, 0.2, 3.0, 3.0, 1.5, 0.2, 0.1),  # summer
    (2.5, 0.5, 2.0, 1.5, 0.3, 1.5, 1.5, 1.0),  # autumn
)
_BASKET_SIZES: Final = ((1, 0.6), (2, 0.3), (3, 0.1))


def _quantile_table(items: list[tuple[str, float]]) -> tuple[str, ...]:
    """A TABLE-long lookup where each item fills its share: one random() picks a weighted item."""
    total = sum(w for _, w in items)
    cum: list[float] = []
    acc = 0.0
    for _, w in items:
        acc += w
        cum.append(acc / total)
    return tuple(items[min(bisect_right(cum, (j + 0.5) / TABLE), len(items) - 1)][0] for j in range(TABLE))


def _basket_tables() -> tuple[tuple[str, ...], ...]:
    """Per season, the joined category strings of 1-3 item baskets weighted by what sells then."""
    tables = []
    for weights in _SEASON_WEIGHTS:
        items: list[tuple[str, float]] = []
        for size, share in _BASKET_SIZES:
            combos = list(combinations(range(len(CATEGORIES)), size))
            scores = [math.prod(weights[c] for c in combo) for combo in combos]
            total = sum(scores)
            items += [("|".join(CATEGORIES[c] for c in combo), share * sc / total) for combo, sc in
                      zip(combos, scores, strict=True)]  # fmt: skip
        tables.append(_quantile_table(items))
    return tuple(tables)


def lognormal_table(rng: random.Random, median: float, sigma: float) -> tuple[float, ...]:
    return tuple(median * math.exp(sigma * rng.gauss(0.0, 1.0)) for _ in range(TABLE))


def _messy_email(email: str, rnd: Callable[[], float]) -> str:
    """How guest checkout mangles an address: stray capitals and spaces, never a different address."""
    r = rnd()
    if r < 0.35:
        local, _, domain = email.partition("@")
        out = f"{local.title()}@{domain}"
    elif r < 0.5:
        out = email.upper()
    elif r < 0.75:
        out = "".join(c.upper() if rnd() < 0.3 else c for c in email)
    else:
        out = email
    r = rnd()
    if r < 0.2:
        return f" {out}"
    if r < 0.4 or out == email:
        return f"{out} "
    if r < 0.5:
        return f"  {out} "
    return out


class OrderWriter:
    """Order rows for one email; shared by contacts, guests and malformed rows so they look alike."""

    def __init__(self, out: Rows, clock: Clock, rng: random.Random, next_number: int) -> None:
        self.out = out
        self.clock = clock
        self.rnd = rng.random
        self.next_number = next_number
        self.written = 0
        self.baskets = _basket_tables()
        self.order_value = lognormal_table(rng, 52.0, 0.55)
        self.endings = (10, 5, 1, 0, 0, 10)  # cents below the next euro: 59.90, 59.95, 59.99, 60.00

    def write(self, email: str, ts: int, region: Region, spend: float, status: str) -> None:
        rnd = self.rnd
        clock = self.clock
        if rnd() < 0.10:
            email = _messy_email(email, rnd)
        created = clock.local(ts, region) if rnd() < 0.15 else clock.utc(ts)
        season = clock.season[(ts + region.offset_s) // DAY - clock.day0]
        if region.south:
            season = (season + 2) % 4
        basket = self.baskets[season][int(rnd() * TABLE)]
        items = basket.count("|") + 1
        euros = max(5, int(self.order_value[int(rnd() * TABLE)] * spend * (1.0 + 0.6 * (items - 1))))
        cents = euros * 100 - self.endings[int(rnd() * 6)]
        if euros < 50 and rnd() < 0.7:
            cents += 495  # shipping below the free-shipping threshold
        if status == "refunded":
            refunded = cents
        elif status == "partially_refunded":
            refunded = max(1, int(cents * (0.1 + 0.6 * rnd())))
        else:
            refunded = 0
        self.out.row((f"#{self.next_number}", email, created, money(cents), "EUR", status,
                      money(refunded), basket))  # fmt: skip
        self.next_number += 1
        self.written += 1
