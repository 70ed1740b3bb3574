"""The campaign report's reads: the audience's campaigns, their per-recipient counts, and each paid order's
candidate touches for attribution (reports/attribution.py decides among them).

Counts are per recipient: a recipient who opened twice is one open. An open is a machine open when
every open of that recipient is one Mailchimp flagged as a proxy's (open-details `is_proxy_open`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, case, exists, func, literal, null, select

from segmail.store.schema import (
    campaign_activity,
    campaign_results,
    events,
    orders,
    send_buckets,
    send_ledger,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResult:
    mc_campaign_id: str
    title: str
    sent_at_us: int | None
    recipients: int
    target: str | None
    campaign: str | None
    segment: str | None


@dataclass(frozen=True, slots=True)
class RecipientCounts:
    opens: int = 0  # recipients with an open that is not a proxy's
    proxy_opens: int = 0  # recipients whose every open is a proxy's
    clicks: int = 0
    bounces: int = 0
    unsubscribes: int = 0


class Candidate(NamedTuple):
    """A paid order and one open or click in its window (a tuple: there may be hundreds of thousands)."""

    source: str
    order_id: str
    email_key: str
    created_at_us: int
    revenue_e4: int | None  # None: not in the reporting currency
    touch_at_us: int
    kind: str  # open | click
    sent_at_us: int  # the touched campaign's send time
    campaign_id: str


def audience_campaigns(conn: Connection, list_id: str) -> list[StoredResult]:
    c = campaign_results.c
    query = select(c.mc_campaign_id, c.title, c.sent_at, c.recipients, c.target, c.campaign, c.segment)
    rows = conn.execute(query.where(c.list_id == list_id).order_by(c.sent_at, c.mc_campaign_id)).all()
    return [StoredResult(mc_campaign_id=r[0], title=r[1], sent_at_us=r[2], recipients=int(r[3]), target=r[4],
                         campaign=r[5], segment=r[6]) for r in rows]  # fmt: skip


def variants_of(conn: Connection, campaign_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Mailchimp campaign -> (test phase, A/B variant) for those segmail sent as one variant's bucket
    (a bucket holds one variant of one phase, so its Mailchimp campaign's figures are that variant's)."""
    b, sl = send_buckets.c, send_ledger.c
    found: dict[str, tuple[str, str]] = {}
    ids = sorted(campaign_ids)
    for start in range(0, len(ids), 500):
        query = (
            select(b.mc_campaign_id, sl.ab_phase, sl.variant)
            .distinct()
            .join_from(send_buckets, send_ledger, sl.bucket_id == b.bucket_id)
            .where(b.mc_campaign_id.in_(ids[start : start + 500]), sl.variant != "")
        )
        found.update({mc: (phase, variant) for mc, phase, variant in conn.execute(query)})
    return found


def _proxy(e: Any) -> Any:
    p = campaign_activity.c
    return exists().where(
        p.campaign_id == e.campaign_id, p.email_key == e.email_key, p.kind == "proxy_open", p.at == e.at
    )


Counted = dict[str, dict[str, int]]  # campaign -> figure -> recipients: one part of the counts


def recipient_counts(conn: Connection, campaign_ids: Sequence[str]) -> dict[str, RecipientCounts]:
    """Per campaign: recipients who opened (apart: only by proxy), clicked, bounced, unsubscribed."""
    return combine_counts(campaign_ids, [read(conn) for read in count_reads(campaign_ids)])


def count_reads(campaign_ids: Sequence[str]) -> list[Callable[[Connection], Counted]]:
    """The reads of `recipient_counts`, apart, so that a report can run them at once (combine_counts
    puts them together), the longest first.

    Distinct recipients per (campaign, type) come out of the events' campaign index; the recipients with
    an open that is not a proxy's are counted the same way, so those whose every open was one are the
    difference. Set-based on purpose: PostgreSQL hashes these, where a check per recipient is a loop."""
    if not campaign_ids:
        return []
    e, a = events.c, campaign_activity.c
    ids = list(campaign_ids)

    def not_proxy(conn: Connection) -> Counted:
        query = (
            select(e.campaign_id, func.count(func.distinct(e.email_key)))
            .where(e.campaign_id.in_(ids), e.type == "open", ~_proxy(e))
            .group_by(e.campaign_id)
        )
        return {cid: {"not_proxy": int(n)} for cid, n in conn.execute(query)}

    def activity(conn: Connection) -> Counted:
        kinds = {"bounce": "bounces", "unsubscribe": "unsubscribes"}
        found: Counted = {}
        for cid, kind, n in conn.execute(
            select(a.campaign_id, a.kind, func.count(func.distinct(a.email_key)))
            .where(a.campaign_id.in_(ids), a.kind.in_(list(kinds)))
            .group_by(a.campaign_id, a.kind)
        ):
            found.setdefault(cid, {})[kinds[kind]] = int(n)
        return found

    def opens_and_clicks(conn: Connection) -> Counted:
        names = {"open": "opens", "click": "clicks"}
        found: Counted = {}
        for cid, kind, n in conn.execute(
            select(e.campaign_id, e.type, func.count(func.distinct(e.email_key)))
            .where(e.campaign_id.in_(ids))
            .group_by(e.campaign_id, e.type)
        ):
            if kind in names:
                found.setdefault(cid, {})[names[kind]] = int(n)
        return found

    return [not_proxy, activity, opens_and_clicks]


def combine_counts(campaign_ids: Sequence[str], parts: Iterable[Counted]) -> dict[str, RecipientCounts]:
    """The counts of `count_reads`' results: the openers whose every open was a proxy's are those
    without an open that is not one."""
    found: Counted = {i: {} for i in campaign_ids}
    for part in parts:
        for cid, values in part.items():
            found[cid].update(values)
    for values in found.values():
        not_proxy = values.pop("not_proxy", 0)
        if "opens" in values:
            values["proxy_opens"], values["opens"] = values["opens"] - not_proxy, not_proxy
    return {cid: RecipientCounts(**values) for cid, values in found.items()}


def candidates(
    conn: Connection,
    *,
    sent_at: Mapping[str, int],
    orders_from_us: int | None,
    orders_until_us: int | None,
    window_us: int,
    paid_statuses: Sequence[str],
    currency: str | None,
    net_of_refunds: bool,
    opens: bool,
    proxy_opens: bool,
) -> Iterator[Candidate]:
    """Every paid order placed in [from, until) paired with each open or click in its attribution window
    (both ends inclusive) of one of the campaigns in `sent_at` (campaign id -> its send time, UTC µs);
    an order without one is not returned.

    The campaigns are matched here, not joined in SQL: a join with the small campaign table leads both
    planners astray (PostgreSQL, without statistics on it, probed every event: 34 s at a million)."""
    o, e = orders.c, events.c
    amount = o.total_e4 - o.refunded_e4 if net_of_refunds else o.total_e4
    revenue = case((o.currency == currency, amount), else_=null()) if currency is not None else null()
    kinds = ["open", "click"] if opens else ["click"]
    # SQLite plans without statistics and would scan every event (through the campaign index) probing
    # orders, 5 s at a million contacts; an expression on the orders' key leaves it one way: each paid
    # order's events by their primary key, 1 s. PostgreSQL hashes the two tables and needs no hint.
    key = o.email_key.concat("") if conn.dialect.name == "sqlite" else o.email_key
    touch = and_(
        e.email_key == key,
        e.type.in_(kinds),
        e.at <= o.created_at,
        e.at >= o.created_at - literal(window_us),
    )
    if opens and not proxy_opens:
        touch = and_(touch, ~and_(e.type == "open", _proxy(e)))
    query = (
        select(o.source, o.order_id, o.email_key, o.created_at, revenue, e.at, e.type, e.campaign_id)
        .select_from(orders.join(events, touch))
        .where(o.status.in_(list(paid_statuses)))
    )
    if orders_from_us is not None:
        query = query.where(o.created_at >= orders_from_us)
    if orders_until_us is not None:
        query = query.where(o.created_at < orders_until_us)
    for source, order_id, email_key, created, rev, at, kind, cid in conn.execute(query):
        sent = sent_at.get(cid)
        if sent is not None:
            yield Candidate(source, order_id, email_key, created, rev, at, kind, sent, cid)


@dataclass(frozen=True, slots=True, kw_only=True)
class LatestCampaign:
    """The audience's most recently sent campaign with Mailchimp's own figures (unique opens and clicks
    include machine opens), cheap enough to read once a cycle."""

    result: StoredResult
    unique_opens: int
    proxy_opens: int  # every open Mailchimp flags as a proxy's (not per recipient)
    unique_clicks: int
    unsubscribed: int
    bounces: int


def latest(conn: Connection, list_id: str) -> LatestCampaign | None:
    c = campaign_results.c
    row = conn.execute(
        select(c.mc_campaign_id, c.title, c.sent_at, c.recipients, c.target, c.campaign, c.segment, c.unique_opens,
               c.proxy_opens, c.unique_clicks, c.unsubscribed, c.bounces)
        .where(c.list_id == list_id, c.sent_at.is_not(None))
        .order_by(c.sent_at.desc(), c.mc_campaign_id.desc())
        .limit(1)
    ).first()  # fmt: skip
    if row is None:
        return None
    result = StoredResult(mc_campaign_id=row[0], title=row[1], sent_at_us=row[2], recipients=int(row[3]),
                          target=row[4], campaign=row[5], segment=row[6])  # fmt: skip
    return LatestCampaign(result=result, unique_opens=int(row[7]), proxy_opens=int(row[8]),
                          unique_clicks=int(row[9]), unsubscribed=int(row[10]), bounces=int(row[11]))  # fmt: skip
