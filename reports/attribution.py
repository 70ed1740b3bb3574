"""Revenue attribution: which campaign, if any, an order is attributed to. The rule, exactly:

A paid order is attributed to the campaign of the contact's most recent open or click of a campaign
within the attribution window before it: a touch counts when
`order time - window <= touch time <= order time` (both ends inclusive, to the microsecond). At one
instant a click wins over an open; of two campaigns touched at the same instant (and the same kind),
the one sent later wins; should two campaigns have been sent at the same instant too, the larger
Mailchimp id wins (a choice: the rule stops at the send time, and an order must go to exactly one).
An order is attributed at most once, and the contact's current status plays no part. With
`attribute_opens = false` only clicks are touches.

The store finds each order's candidate touches (store/report_campaigns.py); this module only decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from segmail.store.report_campaigns import Candidate


@dataclass(frozen=True, slots=True)
class Touch:
    """An open or click of a campaign: when, which kind, and when its campaign was sent (UTC µs)."""

    at_us: int
    click: bool
    sent_at_us: int
    campaign_id: str


@dataclass(frozen=True, slots=True)
class Order:
    """A paid order: its key, when it was placed (UTC µs), its revenue (1/10000 units; None when it is
    not in the reporting currency: it counts as an order, not as money)."""

    key: tuple[str, str]  # (source, order_id)
    email_key: str
    created_at_us: int
    revenue_e4: int | None


@dataclass(frozen=True, slots=True)
class Attributed:
    order: Order
    touch: Touch


def rank(t: Touch) -> tuple[int, bool, int, str]:
    """The order touches compete in: the greatest wins."""
    return t.at_us, t.click, t.sent_at_us, t.campaign_id


def counts(t: Touch, order: Order, *, window_us: int, opens: bool) -> bool:
    """Whether `t` is a touch for `order`: in the window (both ends inclusive) and of a counted kind."""
    return (opens or t.click) and order.created_at_us - window_us <= t.at_us <= order.created_at_us


def winner(order: Order, touches: Iterable[Touch], *, window_us: int, opens: bool) -> Touch | None:
    eligible = [t for t in touches if counts(t, order, window_us=window_us, opens=opens)]
    return max(eligible, key=rank, default=None)


def attribute(candidates: Iterable[Candidate], *, window_us: int, opens: bool) -> Iterator[Attributed]:
    """Each order with its winning touch, once, from (order, candidate touch) rows in any order."""
    best: dict[tuple[str, str], Attributed] = {}
    for c in candidates:
        order = Order((c.source, c.order_id), c.email_key, c.created_at_us, c.revenue_e4)
        touch = Touch(c.touch_at_us, c.kind == "click", c.sent_at_us, c.campaign_id)
        if not counts(touch, order, window_us=window_us, opens=opens):
            continue
        held = best.get(order.key)
        if held is None or rank(touch) > rank(held.touch):
            best[order.key] = Attributed(order, touch)
    yield from best.values()
