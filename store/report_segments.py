"""The segment report's reads, all from the segment history: each compute's entries and exits (sizes at
any instant follow, reports/segments.py), the members at a period's end, and who was a member when each
order was placed.

A segment's state at instant T is the one left by the computes at or before T (history rows with
`at <= T`): a member's rows alternate enter, exit, enter…, so the member is in while its entries
outnumber its exits. Orders count in [since, until) by `created_at`; money is in the reporting currency
(an order in another is counted, not added), net of refunds unless configured otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, and_, case, exists, func, literal, null, or_, select

from segmail.store.schema import memberships, orders, segment_history
from segmail.store.segment_history import ENTER

_h = segment_history.c


def _sign() -> Any:
    return case((_h.kind == ENTER, 1), else_=-1)


@dataclass(frozen=True, slots=True)
class Step:
    """What one compute changed in one segment."""

    segment: str
    at: int  # the compute's as-of (UTC µs)
    entered: int
    left: int


@dataclass(frozen=True, slots=True)
class Revenue:
    orders: int = 0
    revenue_e4: int = 0


@dataclass(frozen=True, kw_only=True)
class PaidOrders:
    """Which orders count and what they are worth (the report's `[report]` settings, resolved)."""

    statuses: Sequence[str]
    currency: str | None
    net_of_refunds: bool


def run_steps(conn: Connection, *, until_us: int) -> list[Step]:
    """Entries and exits of every compute up to `until`, per segment, in time order: read from the index
    by run, in its order (no sort), so a year of history costs one pass over the index."""
    q = (
        select(_h.run_id, _h.segment, _h.kind, _h.at, func.count())
        .where(_h.at <= until_us)
        .group_by(_h.run_id, _h.segment, _h.kind, _h.at)
    )
    merged: dict[tuple[int, str], Step] = {}
    for run_id, segment, kind, at, n in conn.execute(q):
        held = merged.get((run_id, segment), Step(str(segment), int(at), 0, 0))
        if kind == ENTER:
            held = Step(held.segment, held.at, held.entered + int(n), held.left)
        else:
            held = Step(held.segment, held.at, held.entered, held.left + int(n))
        merged[(run_id, segment)] = held
    return [merged[k] for k in sorted(merged, key=lambda k: (merged[k].at, k[0], k[1]))]


def _members_at(conn: Connection, at_us: int) -> Any:
    """(segment, email_key) of every member at `at_us`: the stored memberships when no compute came later."""
    latest = conn.execute(select(func.max(_h.at))).scalar_one()
    if latest is None or latest <= at_us:
        return select(memberships.c.segment, memberships.c.email_key)
    return (
        select(_h.segment, _h.email_key)
        .where(_h.at <= at_us)
        .group_by(_h.email_key, _h.segment)
        .having(func.sum(_sign()) > 0)
    )


def _amount(paid: PaidOrders) -> Any:
    o = orders.c
    value = o.total_e4 - o.refunded_e4 if paid.net_of_refunds else o.total_e4
    return case((o.currency == paid.currency, value), else_=null()) if paid.currency else null()


def _paid_in(paid: PaidOrders, since_us: int, until_us: int) -> Any:
    o = orders.c
    return and_(o.status.in_(list(paid.statuses)), o.created_at >= since_us, o.created_at < until_us)


def end_member_revenue(
    conn: Connection, *, since_us: int, until_us: int, paid: PaidOrders
) -> dict[str, Revenue]:
    """Paid orders in the period by the members at its end, per segment."""
    members = _members_at(conn, until_us).subquery()
    o = orders.c
    q = (
        select(members.c.segment, func.count(), func.sum(_amount(paid)))
        .select_from(members.join(orders, o.email_key == members.c.email_key))
        .where(_paid_in(paid, since_us, until_us))
        .group_by(members.c.segment)
    )
    return {seg: Revenue(int(n or 0), int(money or 0)) for seg, n, money in conn.execute(q)}


def while_member_revenue(
    conn: Connection, *, since_us: int, until_us: int, paid: PaidOrders
) -> dict[str, Revenue]:
    """Paid orders in the period placed while their contact was a member: the contact's last entry or exit
    at or before the order is an entry (an exit at the order's very instant ends the membership first)."""
    o = orders.c
    later = segment_history.alias("later")
    left_since = exists().where(
        later.c.email_key == _h.email_key,
        later.c.segment == _h.segment,
        later.c.run_id > _h.run_id,
        later.c.at <= o.created_at,
    )
    # SQLite plans without statistics: an expression on the orders' key makes it read each paid order's
    # history by its primary key (1.4 s for a year of a million contacts) instead of a window over all
    key = o.email_key.concat("") if conn.dialect.name == "sqlite" else o.email_key
    entered = and_(_h.email_key == key, _h.kind == ENTER, _h.at <= o.created_at)
    q = (
        select(_h.segment, func.count(), func.sum(_amount(paid)))
        .select_from(orders.join(segment_history, entered))
        .where(_paid_in(paid, since_us, until_us), ~left_since)
        .group_by(_h.segment)
    )
    return {seg: Revenue(int(n or 0), int(money or 0)) for seg, n, money in conn.execute(q)}


# Digits of one balanced-ternary sum: 20 of them, weights up to 3**19, sum to at most (3**20 - 1) / 2 < 2**31,
# so PostgreSQL adds INTEGERs (in a BIGINT; a BIGINT column's sum is a NUMERIC, 25 % slower at a million)
_DIGITS = 20


def change_patterns(
    conn: Connection, *, since_us: int, until_us: int, segments: Sequence[str]
) -> list[tuple[int, int, int]]:
    """(left, joined, contacts): how many contacts left exactly the segments of bit mask `left` and joined
    exactly those of `joined` (bit i: `segments[i]`), counted in the database, so a year of a million
    contacts' changes comes back as a few dozen rows.

    Only the history rows of the period are read, once, in key order (by contact, without a sort). A
    contact's entries and exits of a segment alternate, so its rows in the period add up to +1 (it joined),
    -1 (it left) or 0 (no change) per segment; weighted by 3**i for `segments[i]`, their sum over all its
    rows is that vector written in balanced ternary, one number per contact (per 20 segments) that this
    reads back exactly. A grouping per contact and segment, then per contact, took 1.5x as long."""
    if not segments:  # nothing computed up to `until`; and a CASE without a WHEN is not SQL
        return []
    chunks = [segments[i : i + _DIGITS] for i in range(0, len(segments), _DIGITS)]
    sums = [
        func.sum(_sign() * case(
            *((_h.segment == name, literal(3**i, Integer)) for i, name in enumerate(chunk)), else_=0
        )).label(f"d{n}")
        for n, chunk in enumerate(chunks)
    ]  # fmt: skip
    per_contact = select(*sums).where(_h.at > since_us, _h.at <= until_us).group_by(_h.email_key).subquery()
    digits = list(per_contact.c)
    rows = conn.execute(select(*digits, func.count()).where(or_(*(d != 0 for d in digits))).group_by(*digits))
    out = []
    for *values, n in rows:
        left = joined = 0
        for offset, value in zip(range(0, len(segments), _DIGITS), values, strict=True):
            gone, came = _trits(int(value))
            left, joined = left | gone << offset, joined | came << offset
        out.append((left, joined, int(n)))
    return out


def _trits(value: int) -> tuple[int, int]:
    """A balanced-ternary number's digits as two bit masks: those of -1 (left) and of +1 (joined)."""
    left = joined = 0
    bit = 0
    while value:
        digit = value % 3  # 0, 1 or 2; a 2 is a -1 with a carry
        if digit == 1:
            joined |= 1 << bit
        elif digit == 2:
            left |= 1 << bit
            digit = -1
        value = (value - digit) // 3
        bit += 1
    return left, joined
