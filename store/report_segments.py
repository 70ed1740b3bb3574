"""The segment report's reads, all from the segment history: sizes at an instant, entries and exits in a
period, the members at its end, and who was a member when each order was placed.

A segment's state at instant T is the one left by the computes at or before T (history rows with
`at <= T`): a member's rows alternate enter, exit, enter…, so the member is in while its entries
outnumber its exits. Orders count in [since, until) by `created_at`; money is in the reporting currency
(an order in another is counted, not added), net of refunds unless configured otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, null, or_, select

from segmail.store.schema import memberships, orders, segment_history
from segmail.store.segment_history import ENTER

_h = segment_history.c


def _sign() -> Any:
    return case((_h.kind == ENTER, 1), else_=-1)


@dataclass(frozen=True, slots=True)
class Sizes:
    start: int  # members after the last compute at or before `since`
    end: int  # members after the last compute at or before `until`
    entered: int  # entries by the computes after `since` up to `until`: end = start + entered - left
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


def sizes(conn: Connection, *, since_us: int, until_us: int) -> dict[str, Sizes]:
    q = select(
        _h.segment,
        func.sum(case((_h.at <= since_us, _sign()), else_=0)),
        func.sum(case((_h.at <= until_us, _sign()), else_=0)),
        func.sum(case((and_(_h.at > since_us, _h.at <= until_us, _h.kind == ENTER), 1), else_=0)),
        func.sum(case((and_(_h.at > since_us, _h.at <= until_us, _h.kind != ENTER), 1), else_=0)),
    ).group_by(_h.segment)
    return {
        seg: Sizes(int(a or 0), int(b or 0), int(c or 0), int(d or 0)) for seg, a, b, c, d in conn.execute(q)
    }


def _members_at(conn: Connection, at_us: int) -> Any:
    """(segment, email_key) of every member at `at_us`: the stored memberships when no compute came later."""
    latest = conn.execute(select(func.max(_h.at))).scalar_one()
    if latest is None or latest <= at_us:
        return select(memberships.c.segment, memberships.c.email_key)
    return (
        select(_h.segment, _h.email_key)
        .where(_h.at <= at_us)
        .group_by(_h.segment, _h.email_key)
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
    per_contact = (
        select(o.email_key, func.count().label("n"), func.sum(_amount(paid)).label("money"))
        .where(_paid_in(paid, since_us, until_us))
        .group_by(o.email_key)
        .subquery()
    )
    q = (
        select(members.c.segment, func.sum(per_contact.c.n), func.sum(per_contact.c.money))
        .select_from(members.join(per_contact, per_contact.c.email_key == members.c.email_key))
        .group_by(members.c.segment)
    )
    return {seg: Revenue(int(n or 0), int(money or 0)) for seg, n, money in conn.execute(q)}


def while_member_revenue(
    conn: Connection, *, since_us: int, until_us: int, paid: PaidOrders
) -> dict[str, Revenue]:
    """Paid orders in the period placed while their contact was a member: entered at or before the order,
    not yet left (an exit at the order's instant ends the membership first)."""
    stop = func.lead(_h.at).over(partition_by=(_h.segment, _h.email_key), order_by=_h.run_id)
    spans = (
        select(_h.segment, _h.email_key, _h.kind, _h.at.label("start"), stop.label("stop"))
        .where(_h.at < until_us)
        .subquery()
    )
    o = orders.c
    inside = and_(
        o.email_key == spans.c.email_key,
        o.created_at >= spans.c.start,
        or_(spans.c.stop.is_(None), o.created_at < spans.c.stop),
        _paid_in(paid, since_us, until_us),
    )
    q = (
        select(spans.c.segment, func.count(), func.sum(_amount(paid)))
        .select_from(spans.join(orders, inside))
        .where(spans.c.kind == ENTER, or_(spans.c.stop.is_(None), spans.c.stop > literal(since_us)))
        .group_by(spans.c.segment)
    )
    return {seg: Revenue(int(n or 0), int(money or 0)) for seg, n, money in conn.execute(q)}


def changes(conn: Connection, *, since_us: int, until_us: int) -> Iterator[tuple[str, str, bool]]:
    """(email_key, segment, joined) for every membership that differs between `since` and `until`:
    joined True when the contact is a member at the end and was not at the start. By email_key."""
    before = func.sum(case((_h.at <= since_us, _sign()), else_=0))
    after = func.sum(case((_h.at <= until_us, _sign()), else_=0))
    q = (
        select(_h.email_key, _h.segment, after > 0)
        .where(_h.at <= until_us)
        .group_by(_h.email_key, _h.segment)
        .having((before > 0) != (after > 0))
        .order_by(_h.email_key, _h.segment)
    )
    for key, segment, joined in conn.execute(q):
        yield str(key), str(segment), bool(joined)


def size_steps(conn: Connection, *, until_us: int) -> Iterator[tuple[str, int, int]]:
    """(segment, at, net change) of every compute with changes up to `until`, in time order per segment."""
    q = (
        select(_h.segment, _h.at, func.sum(_sign()))
        .where(_h.at <= until_us)
        .group_by(_h.segment, _h.at)
        .order_by(_h.segment, _h.at)
    )
    for segment, at, delta in conn.execute(q):
        yield str(segment), int(at), int(delta)
