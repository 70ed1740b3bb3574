"""Seeded generator of a realistic e-shop (contacts, orders, engagement events) as streamed CSV files.

Who the contacts are is in `shopgen_people`, order rows in `shopgen_orders`, the base shop's contacts,
orders and events in `shopgen_base`, the CSV files and times in `shopgen_csv`; the 24-hour increment is here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from segmail.sandbox.shopgen_base import (
    CAMPAIGNS,
    FIRST_ORDER_NUMBER,
    MAX_MESSY,
    MAX_ORDERS_PER_BUYER,
    write_base,
)
from segmail.sandbox.shopgen_csv import DAY, Clock, Rows
from segmail.sandbox.shopgen_orders import (
    CATEGORIES,
    FRESH_ORDER_STATUS_OF,
    TABLE,
    OrderWriter,
    lognormal_table,
)
from segmail.sandbox.shopgen_people import BUYER_SHARE, DOMAIN_OF, guest_name, identity, seed_key, shop_rng

__all__ = [
    "CATEGORIES",
    "CONTACT_COLUMNS",
    "EVENT_COLUMNS",
    "ORDER_COLUMNS",
    "ShopFiles",
    "generate_increment",
    "generate_shop",
]

CONTACT_COLUMNS: Final = (
    "email",
    "status",
    "opted_in_at",
    "timezone",
    "country",
    "language",
    "first_name",
    "last_name",
)
ORDER_COLUMNS: Final = (
    "order_id",
    "email",
    "created_at",
    "total",
    "currency",
    "status",
    "refunded",
    "categories",
)
EVENT_COLUMNS: Final = ("email", "type", "at", "campaign_id")

_MIN_AS_OF: Final = datetime(2000, 1, 1, tzinfo=UTC)
# Mean rows per contact of a base shop (measured over 200k-contact shops); an increment is sized from
# these so it does not have to generate the base to know how big "1 %" is.
_ORDERS_PER_CONTACT: Final = 1.4
_EVENTS_PER_CONTACT: Final = 3.0


@dataclass(frozen=True, kw_only=True)
class ShopFiles:
    """Where the generated files are; `contacts` is None for an increment, which has no contacts file."""

    contacts: Path | None
    orders: Path
    events: Path
    counts: dict[str, int]  # data rows written per file (header excluded, malformed rows included)


def generate_shop(
    out_dir: Path, *, contacts: int, seed: int, as_of: datetime, messy_rows: bool = False
) -> ShopFiles:
    """Write contacts.csv, orders.csv and events.csv of a shop as it stands at `as_of`.

    Rows are streamed, so memory stays flat however many contacts are asked for. The same arguments
    always give the same bytes, which is what lets tests and benchmarks compare runs.
    `messy_rows` adds a few malformed rows (never more than 20 per file) so an importer's error report
    has something to show; they come from their own random stream, so the well-formed rows are
    exactly those of the same shop without them, bar order numbers after the first malformed order.
    """
    as_ts = _epoch(as_of)
    if contacts < 0:
        raise ValueError(f"contacts must be 0 or more, got {contacts}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [
        Rows(out_dir / "contacts.csv", CONTACT_COLUMNS),
        Rows(out_dir / "orders.csv", ORDER_COLUMNS),
        Rows(out_dir / "events.csv", EVENT_COLUMNS),
    ]
    try:
        counts = write_base(*files, contacts=contacts, seed=seed, as_ts=as_ts, messy=messy_rows)
    except BaseException:
        for f in files:
            f.abandon()
        raise
    for f in files:
        f.commit()
    return ShopFiles(contacts=files[0].path, orders=files[1].path, events=files[2].path, counts=counts)


def generate_increment(
    out_dir: Path, *, contacts: int, seed: int, as_of: datetime, fraction: float = 0.01
) -> ShopFiles:
    """Write the orders and events of the 24 hours before `as_of` for the shop of `seed`/`contacts`.

    The contacts' emails are a pure function of (seed, contact number), so the increment refers to
    the same people as `generate_shop` without reading its files. Its size is `fraction` of the
    base's expected orders and events. Order numbers start above anything the base can hold and are
    spaced by day, so increments for different days never collide with the base or with each other.
    """
    as_ts = _epoch(as_of)
    if contacts < 0:
        raise ValueError(f"contacts must be 0 or more, got {contacts}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out_dir.mkdir(parents=True, exist_ok=True)
    orders = Rows(out_dir / "orders.csv", ORDER_COLUMNS)
    events = Rows(out_dir / "events.csv", EVENT_COLUMNS)
    try:
        counts = _write_increment(
            orders, events, contacts=contacts, seed=seed, as_ts=as_ts, fraction=fraction
        )
    except BaseException:
        orders.abandon()
        events.abandon()
        raise
    orders.commit()
    events.commit()
    return ShopFiles(contacts=None, orders=orders.path, events=events.path, counts=counts)


def _epoch(as_of: datetime) -> int:
    """Whole seconds, rounded down, so every generated time is <= as_of even with microseconds."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
    if as_of < _MIN_AS_OF:
        raise ValueError("as_of must be 2000-01-01 or later")
    return math.floor(as_of.timestamp())


def _sorted_uniforms(n: int, rnd: Callable[[], float]) -> Iterable[float]:
    """n sorted uniforms in [0, 1), ascending, streamed via order statistics (no list to sort)."""
    x = 0.0
    for left in range(n, 0, -1):
        x += (1.0 - x) * (1.0 - rnd() ** (1.0 / left))
        yield min(x, math.nextafter(1.0, 0.0))


def _write_increment(
    orders_out: Rows, events_out: Rows, *, contacts: int, seed: int, as_ts: int, fraction: float
) -> dict[str, int]:
    key = seed_key(seed)
    rng = shop_rng(seed, f"increment/{as_ts}/{contacts}/{fraction!r}")
    rnd = rng.random
    clock = Clock(as_ts)
    n_orders = max(1, round(fraction * _ORDERS_PER_CONTACT * contacts)) if contacts else 0
    n_events = max(1, round(fraction * _EVENTS_PER_CONTACT * contacts)) if contacts else 0
    ceiling = FIRST_ORDER_NUMBER + contacts * (MAX_ORDERS_PER_BUYER + 1) + MAX_MESSY
    day = (as_ts - int(_MIN_AS_OF.timestamp())) // DAY
    orders = OrderWriter(orders_out, clock, rng, ceiling + day * (2 * contacts + 1))
    spend_factor = lognormal_table(rng, 1.0, 0.45)

    for x in _sorted_uniforms(n_orders, rnd):
        t = as_ts - int((1.0 - x) * DAY)
        status = FRESH_ORDER_STATUS_OF[int(rnd() * 100)]
        if rnd() < 0.03:
            region, first, last = guest_name(rnd)
            email = f"{first}_{last}{int(rnd() * 1_000_000)}@{DOMAIN_OF[int(rnd() * 100)]}"
        else:
            while True:  # buyers in the proportions the base has them
                email, _, _, region, c_status, _ = identity(key, int(rnd() * contacts))
                if rnd() < BUYER_SHARE[c_status]:
                    break
        orders.write(email, t, region, spend_factor[int(rnd() * TABLE)], status)

    campaign = (f"c{CAMPAIGNS:04d}",) * 7 + (f"c{CAMPAIGNS - 1:04d}",) * 2 + (f"c{CAMPAIGNS - 2:04d}",)
    written = 0
    for x in _sorted_uniforms(n_events, rnd):
        t = as_ts - int((1.0 - x) * DAY)
        # Only engaged subscribers open mail now. The search is bounded for tiny shops; contact 0
        # is an engaged subscriber by construction, so it is the fallback.
        email = identity(key, 0)[0]
        for _ in range(200):
            candidate, _, _, _, c_status, engagement = identity(key, int(rnd() * contacts))
            if c_status == "subscribed" and engagement >= 52:
                email = candidate
                break
        events_out.row((email, "click" if rnd() < 0.2 else "open", clock.utc(t), campaign[int(rnd() * 10)]))
        written += 1
    return {"contacts": 0, "orders": orders.written, "events": written}
