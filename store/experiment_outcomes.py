"""What mailed and held-out recipients did after their slot: the inputs of the holdout and A/B intervals.

One row per campaign, occurrence, test phase, variant and group (`sent`: Mailchimp scheduled or sent
their mail; `holdout`: held out by holdout_percent, never mailed), with the recipients, the converters
(at least one paid order in the conversion window) and the revenue sum and sum of squares per recipient
(net of refunds), which is all a two-proportion interval and Welch's interval need. Computed in the
database (see `experiment_outcomes` for how), so a million ledger rows never come to Python.

The conversion window of a recipient is [slot_at, slot_at + window): `slot_at` is when the mail went
out, or for a held-out recipient when it would have. "Paid" is `[segments] paid_statuses` and money the
reporting currency (store.currency), as every money feature counts it. `cutoff_us` stops counting
orders at an instant (a decision taken before every window has closed reads what is known by then).
The occurrences of an `on_enter` campaign ("enter:<µs>", one per entry) are reported together as
"on_enter"; an `at` broadcast's occurrence is its date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Double, Select, and_, case, cast, exists, func, literal, select
from sqlalchemy.sql.expression import ColumnElement

from segmail.store.codec import MONEY_SCALE
from segmail.store.currency import reporting_currency
from segmail.store.schema import events, orders, send_buckets, send_ledger

MAILED = ("scheduled", "sent")  # ledger statuses of a recipient Mailchimp took the mail for
ON_ENTER = "on_enter"


@dataclass(frozen=True, kw_only=True)
class GroupOutcome:
    campaign: str
    occurrence: str  # an `at` broadcast's date, or "on_enter"
    ab_phase: str  # "", "test" or "winner"
    variant: str  # "" without variants
    group: str  # "sent" | "holdout"
    recipients: int
    converters: int
    revenue: Decimal  # net paid revenue in the conversion windows, reporting currency
    revenue_sq: float  # sum over recipients of (their revenue)^2, currency units squared


@dataclass(frozen=True, kw_only=True)
class ClickOutcome:
    variant: str
    recipients: int
    clickers: int  # recipients with at least one click on their own bucket's Mailchimp campaign


def _occurrence() -> ColumnElement[str]:
    return case((send_ledger.c.occurrence.like("enter:%"), literal(ON_ENTER)), else_=send_ledger.c.occurrence)


def experiment_outcomes(
    conn: Connection,
    *,
    window_us: int,
    paid_statuses: Sequence[str],
    currency: str | None,
    campaigns: Sequence[str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    cutoff_us: int | None = None,
) -> list[GroupOutcome]:
    """Per campaign, occurrence, phase, variant and group; `since_us`/`until_us` bound the slots
    (since inclusive, until exclusive), `campaigns` the campaigns.

    Two statements: the recipients per group (one scan of the ledger), and the converters with their
    revenue, read from the paid orders' side: each order finds the ledger rows whose window holds it
    through ix_send_ledger_recipient (email_key, slot_at). A shop has far fewer orders than ledger rows
    (a year of a 1M-contact shop: 1.4M orders, ~100 broadcasts), so this reads a small part of the
    ledger; looking every ledger row's orders up instead was five times slower (bench/experiment_bench.py).
    """
    sl = send_ledger.c
    where: list[ColumnElement[bool]] = [sl.status.in_([*MAILED, "holdout"])]
    if campaigns is not None:
        where.append(sl.campaign.in_(list(campaigns)))
    if since_us is not None:
        where.append(sl.slot_at >= since_us)
    if until_us is not None:
        where.append(sl.slot_at < until_us)
    occ = _occurrence().label("occ")
    grp = case((sl.status == "holdout", literal("holdout")), else_=literal("sent")).label("grp")
    # grouped by the occurrence expression first: on SQLite a GROUP BY led by `campaign` walks the
    # primary-key index and fetches every row through it, three times slower than a scan and a sort
    counts = select(sl.campaign, occ, sl.ab_phase, sl.variant, grp, func.count()).where(*where)
    counts = counts.group_by(occ, sl.campaign, sl.ab_phase, sl.variant, grp)
    found: dict[tuple[str, str, str, str, str], list[Any]] = {
        (c, oc, ph, v, g): [int(n), 0, 0, 0.0] for c, oc, ph, v, g, n in conn.execute(counts)
    }
    money = reporting_currency(conn, currency)
    if money is not None and found:  # no ledger row in these groups: nobody to look orders up for
        orders_in = (since_us, None if until_us is None else until_us + window_us)  # every window's orders
        for c, oc, ph, v, g, k, rev, sq in conn.execute(
            _converters(where, window_us, paid_statuses, money, cutoff_us, orders_in)
        ):
            found[(c, oc, ph, v, g)][1:] = [int(k), int(rev), float(sq)]
    return [
        GroupOutcome(
            campaign=c,
            occurrence=oc,
            ab_phase=ph,
            variant=v,
            group=g,
            recipients=n,
            converters=k,
            revenue=Decimal(rev) / MONEY_SCALE,
            revenue_sq=sq / MONEY_SCALE**2,
        )
        for (c, oc, ph, v, g), (n, k, rev, sq) in sorted(found.items())
    ]


def _converters(
    where: list[ColumnElement[bool]],
    window_us: int,
    paid: Sequence[str],
    money: str,
    cutoff_us: int | None,
    orders_in: tuple[int | None, int | None],
) -> Select[Any]:
    """Per group: recipients with a paid order in their window, their revenue and its sum of squares.
    `orders_in` bounds the orders that can fall in any window ([from, until), None: open), so only
    those look for their ledger rows."""
    sl, o = send_ledger.c, orders.c
    paid_where: list[ColumnElement[bool]] = [o.status.in_(list(paid)), o.currency == money]
    if cutoff_us is not None:
        paid_where.append(o.created_at < cutoff_us)
    if orders_in[0] is not None:
        paid_where.append(o.created_at >= orders_in[0])
    if orders_in[1] is not None:
        paid_where.append(o.created_at < orders_in[1])
    # `|| ''` keeps SQLite from driving the join from the ledger (a lookup in orders per ledger row):
    # it scans the paid orders and seeks each one's ledger rows instead; PostgreSQL hashes either way
    window = and_(
        sl.email_key == o.email_key.concat(""),
        sl.slot_at <= o.created_at,
        sl.slot_at > o.created_at - window_us,
    )
    per_recipient = (
        select(
            sl.campaign,
            _occurrence().label("occ"),
            sl.ab_phase,
            sl.variant,
            case((sl.status == "holdout", literal("holdout")), else_=literal("sent")).label("grp"),
            func.sum(o.total_e4 - o.refunded_e4).label("rev"),
        )
        .select_from(orders.join(send_ledger, window))
        .where(*paid_where, *where)
        .group_by(sl.campaign, sl.email_key, sl.occurrence, sl.status, sl.ab_phase, sl.variant)
        .subquery("r")
    )
    r = per_recipient.c
    return select(
        r.campaign, r.occ, r.ab_phase, r.variant, r.grp,
        func.count(), func.sum(r.rev), func.sum(cast(r.rev, Double) * cast(r.rev, Double)),
    ).group_by(r.campaign, r.occ, r.ab_phase, r.variant, r.grp)  # fmt: skip


def click_outcomes(
    conn: Connection, *, campaign: str, occurrence: str, ab_phase: str, cutoff_us: int
) -> list[ClickOutcome]:
    """Per variant of one phase: mailed recipients, and those who clicked their bucket's campaign
    (events keyed by Mailchimp's campaign id, as the sync stores them) before `cutoff_us`."""
    sl, b, e = send_ledger.c, send_buckets.c, events.c
    clicked = exists().where(
        e.email_key == sl.email_key, e.type == "click", e.campaign_id == b.mc_campaign_id, e.at < cutoff_us
    )
    query = (
        select(sl.variant, func.count(), func.sum(case((clicked, 1), else_=0)))
        .select_from(send_ledger.join(send_buckets, b.bucket_id == sl.bucket_id))
        .where(
            sl.campaign == campaign,
            sl.occurrence == occurrence,
            sl.ab_phase == ab_phase,
            sl.status.in_(MAILED),
        )
        .group_by(sl.variant)
        .order_by(sl.variant)
    )
    return [
        ClickOutcome(variant=variant, recipients=int(n), clickers=int(k or 0))
        for variant, n, k in conn.execute(query)
    ]
