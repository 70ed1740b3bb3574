"""The base shop, contact by contact: its row, its orders, a guest's order now and then, its opens and clicks."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from typing import Final

from segmail.sandbox.shopgen_csv import DAY, SIGNUP_SPAN, YEAR, Clock, Rows
from segmail.sandbox.shopgen_orders import ORDER_STATUS_OF, TABLE, OrderWriter, lognormal_table
from segmail.sandbox.shopgen_people import (
    BUYER_SHARE,
    DOMAIN_OF,
    Region,
    guest_name,
    identity,
    seed_key,
    shop_rng,
)

WEEK: Final = 7 * DAY
CAMPAIGNS: Final = 150
FIRST_ORDER_NUMBER: Final = 100_001
# Hard cap per buyer so the highest possible base order number is known without generating the base,
# which is what lets an increment pick order numbers that can never collide with it.
MAX_ORDERS_PER_BUYER: Final = 60
MAX_MESSY: Final = 20
_LAPSED_LAST: Final = CAMPAIGNS - 14  # lapsed contacts stopped engaging at least ~3 months ago


class _BaseShop:
    """One random stream and the lookup tables it feeds, shared by every contact of the base shop."""

    def __init__(
        self, contacts_out: Rows, orders_out: Rows, events_out: Rows, *, seed: int, as_ts: int
    ) -> None:
        self.key = seed_key(seed)
        rng = shop_rng(seed, "base")
        self.rnd = rng.random
        self.as_ts = as_ts
        self.clock = Clock(as_ts)
        self.orders = OrderWriter(orders_out, self.clock, rng, FIRST_ORDER_NUMBER)
        self.gap_factor = lognormal_table(rng, 1.0, 0.7)
        self.spend_factor = lognormal_table(rng, 1.0, 0.45)
        self.open_delay = [int(x) for x in lognormal_table(rng, 3 * 3600.0, 1.3)]
        self.click_delay = [int(x) + 5 for x in lognormal_table(rng, 40.0, 1.2)]
        first_send = (as_ts // DAY - 2) * DAY + 8 * 3600 - (CAMPAIGNS - 1) * WEEK
        self.sends = [first_send + k * WEEK for k in range(CAMPAIGNS)]
        self.campaign = [f"c{k + 1:04d}" for k in range(CAMPAIGNS)]
        self.contact_row = contacts_out.row
        self.event_rows = events_out.rows
        self.n_events = 0
        self.guests = 0

    def contact(self, i: int) -> tuple[str, Region]:
        """Everything of contact `i`, in the order its random numbers are drawn; returns its email and region."""
        email, first, last, region, status, engagement = identity(self.key, i)
        rnd = self.rnd
        opt = self._sign_up(i)
        r = rnd() - 0.04
        language = "" if r < 0 else region.other_language if r < region.other_share else region.language
        self.contact_row((
            email,
            status,
            "" if opt is None else self.clock.utc(opt),
            "" if rnd() < 0.25 else region.tz,
            "" if rnd() < 0.02 else region.country,
            language,
            "" if rnd() < 0.02 else first,
            "" if rnd() < 0.03 else last,
        ))  # fmt: skip
        if rnd() < BUYER_SHARE[status]:
            self._buyer_orders(email, region, opt)
        if rnd() < 0.042:
            self._guest_order()
        self._engagement(email, status, engagement, opt)
        return email, region

    def _sign_up(self, i: int) -> int | None:
        """Sign-ups over three years, denser lately: 2/3 uniform, 1/3 linearly rising towards as_of."""
        rnd = self.rnd
        if i == 0:
            return self.as_ts - int(rnd() * 7 * DAY)
        if rnd() < 0.03:
            return None
        if rnd() < 2 / 3:
            return self.as_ts - int(SIGNUP_SPAN * rnd())
        return self.as_ts - int(SIGNUP_SPAN * (1.0 - math.sqrt(rnd())))

    def _buyer_orders(self, email: str, region: Region, opt: int | None) -> None:
        """A first order (often right at sign-up), then lognormal gaps until churn or as_of."""
        rnd = self.rnd
        as_ts = self.as_ts
        since = as_ts - SIGNUP_SPAN if opt is None else opt
        if opt is not None and rnd() < 0.35:
            t = opt + int(rnd() * rnd() * 3 * DAY)
            if t > as_ts:
                t = opt + int(rnd() * (as_ts - opt))
        else:
            lo = since - YEAR
            t = lo + int(rnd() * (as_ts - lo))
        heavy = rnd() < 0.12
        churn = 0.08 if heavy else 0.32
        spend_factor = self.spend_factor
        gap = (34 if heavy else 58) * DAY * spend_factor[int(rnd() * TABLE)]
        spend = spend_factor[int(rnd() * TABLE)] * (3.5 if rnd() < 0.03 else 1.0)
        for _ in range(MAX_ORDERS_PER_BUYER):
            self.orders.write(email, t, region, spend, ORDER_STATUS_OF[int(rnd() * 100)])
            if rnd() < churn:
                break
            t += int(gap * self.gap_factor[int(rnd() * TABLE)]) + 3600
            if t > as_ts:
                break

    def _guest_order(self) -> None:
        rnd = self.rnd
        self.guests += 1
        region, first, last = guest_name(rnd)
        email = f"{first}_{last}{self.guests}@{DOMAIN_OF[int(rnd() * 100)]}"
        t = self.as_ts - int(rnd() * SIGNUP_SPAN)
        self.orders.write(email, t, region, 1.0, ORDER_STATUS_OF[int(rnd() * 100)])

    def _engagement(self, email: str, status: str, engagement: int, opt: int | None) -> None:
        """Opens (and clicks after some opens) of campaigns sent after the sign-up."""
        rnd = self.rnd
        lo_k = 0 if opt is None else bisect_right(self.sends, opt)
        if status == "subscribed" and engagement >= 52:
            hi_k, n_span, rate, recent = CAMPAIGNS, CAMPAIGNS - lo_k, 0.012 + 0.19 * rnd() ** 2, True
        elif lo_k < _LAPSED_LAST and (
            (status == "subscribed" and engagement >= 32)
            or (status in ("unsubscribed", "cleaned", "archived") and rnd() < 0.6)
        ):
            hi_k = lo_k + int((_LAPSED_LAST - lo_k) * rnd()) + 1
            n_span, rate, recent = hi_k - lo_k, 0.02 + 0.12 * rnd(), False
        else:
            return
        if n_span <= 0:
            return
        count = int(n_span * rate + rnd())
        if count:
            events = self._opens_and_clicks(count, lo_k, hi_k, n_span, recent)
            events.sort()
            self.n_events += len(events)
            utc = self.clock.utc
            self.event_rows([(email, kind, utc(at), cid) for at, kind, cid in events])

    def _opens_and_clicks(
        self, count: int, lo_k: int, hi_k: int, n_span: int, recent: bool
    ) -> list[tuple[int, str, str]]:
        """`count` opens among campaigns lo_k..hi_k (the latest ones most when `recent`), a click after some."""
        rnd = self.rnd
        events: list[tuple[int, str, str]] = []
        for _ in range(count):
            u = rnd()
            k = hi_k - 1 - int(n_span * u * u) if recent else lo_k + int(n_span * u)
            t = self.sends[k] + self.open_delay[int(rnd() * TABLE)]
            if t > self.as_ts:
                continue
            events.append((t, "open", self.campaign[k]))
            if rnd() < 0.25:
                tc = t + self.click_delay[int(rnd() * TABLE)]
                if tc <= self.as_ts:
                    events.append((tc, "click", self.campaign[k]))
        return events


def write_base(
    contacts_out: Rows,
    orders_out: Rows,
    events_out: Rows,
    *,
    contacts: int,
    seed: int,
    as_ts: int,
    messy: bool,
) -> dict[str, int]:
    """Stream the base shop's rows into the three files; returns the data rows written per file."""
    shop = _BaseShop(contacts_out, orders_out, events_out, seed=seed, as_ts=as_ts)
    messy_n = min(MAX_MESSY, 5 + contacts // 100_000) if messy else 0
    messy_at = [(k + 1) * contacts // (messy_n + 1) for k in range(messy_n)]
    messy_rng = shop_rng(seed, "messy")
    next_messy = 0
    for i in range(contacts):
        email, region = shop.contact(i)
        while next_messy < messy_n and messy_at[next_messy] == i:
            _write_messy(next_messy, email, region, shop, contacts_out, events_out, messy_rng)
            next_messy += 1
    for k in range(next_messy, messy_n):  # shops too small to spread them out
        fallback = identity(shop.key, 0)
        _write_messy(k, fallback[0], fallback[3], shop, contacts_out, events_out, messy_rng)
    return {"contacts": contacts + messy_n, "orders": shop.orders.written, "events": shop.n_events + messy_n}


def _write_messy(
    k: int,
    email: str,
    region: Region,
    shop: _BaseShop,
    contacts_out: Rows,
    events_out: Rows,
    rng: random.Random,
) -> None:
    """One malformed row per file, cycling through the mistakes real exports contain."""
    kind = k % 5
    ts = shop.as_ts - int(rng.random() * 300 * DAY)
    stamp = shop.clock.utc(ts)
    contacts_out.row(_messy_contact(kind, k, stamp, region))
    orders = shop.orders
    orders.out.row(_messy_order(kind, orders.next_number, email, stamp))
    orders.next_number += 1
    orders.written += 1
    events_out.row(_messy_event(kind, email, stamp))


def _messy_contact(kind: int, k: int, stamp: str, region: Region) -> list[str]:
    broken = f"broken.row{k + 1}@example.com"
    contact = [broken, "subscribed", stamp, region.tz, region.country, region.language, "Test", "Row"]
    if kind == 0:
        contact[0] = "not-an-email"
    elif kind == 1:
        contact[2] = "2025-13-45"
    elif kind == 2:
        contact[1] = "vip"
    elif kind == 3:
        contact[3] = "Mars/Olympus"
    else:
        contact[0] = ""
    return contact


def _messy_order(kind: int, number: int, email: str, stamp: str) -> list[str]:
    order = [f"#{number}", email, stamp, "59.90", "EUR", "paid", "0.00", "boots"]
    if kind == 0:
        order[3] = "12,3x"
    elif kind == 1:
        order[2] = "2025-13-45"
    elif kind == 2:
        order[1] = "not-an-email"
    elif kind == 3:
        order[6] = "79.90"  # refunded more than the total
    else:
        order[2] = stamp[:-1]  # no UTC offset: ambiguous shop-local or UTC
    return order


def _messy_event(kind: int, email: str, stamp: str) -> list[str]:
    event = [email, "open", stamp, "c0001"]
    if kind == 0:
        event[0] = "not-an-email"
    elif kind == 1:
        event[2] = "2025-13-45"
    elif kind == 2:
        event[1] = "bounce"
    elif kind == 3:
        event[0] = ""
    else:
        event[2] = ""
    return event
