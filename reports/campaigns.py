"""`segmail report campaigns`: one row per campaign (and variant), with what its recipients did and the
revenue attributed to it.

A segmail campaign is one row however many Mailchimp campaigns (send buckets: one per send instant and
rendered variant) it took: its buckets sent in the period are added up. A campaign sent in Mailchimp is
a row of its own. `variant`, `holdout` and the `lift*` columns are left empty here; the holdout and
A/B test reports fill them (their rows are these, replaced field by field).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from segmail.reports.attribution import Attributed
from segmail.reports.money import amount, per
from segmail.reports.periods import Period
from segmail.reports.targets import OTHER, SEGMAIL
from segmail.store.codec import from_us
from segmail.store.report_campaigns import RecipientCounts, StoredResult

COLUMNS: Final = (
    "campaign_id", "title", "sent_at", "segment", "variant", "recipients", "holdout", "opens", "clicks",
    "unsubscribes", "bounces", "attributed_orders", "attributed_revenue", "revenue_per_recipient", "lift",
    "lift_low", "lift_high", "proxy_opens", "target",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class CampaignRow:
    campaign_id: str  # segmail's campaign name, or the Mailchimp campaign id of one sent there
    title: str
    sent_at: datetime  # the first send in the period
    segment: str  # the targeted segment, or "other"
    target: str  # segmail | tag | other
    recipients: int
    opens: int  # recipients with an open that is not a machine (proxy) open
    proxy_opens: int  # recipients whose only opens are machine opens
    clicks: int
    unsubscribes: int
    bounces: int
    attributed_orders: int
    attributed_revenue: Decimal
    revenue_per_recipient: Decimal | None
    variant: str | None = None
    holdout: int | None = None
    lift: Decimal | None = None
    lift_low: Decimal | None = None
    lift_high: Decimal | None = None
    verdict: str | None = field(default=None, compare=False)  # the lift in plain words (not a column)
    mailchimp_ids: tuple[str, ...] = field(default=(), compare=False)  # the Mailchimp campaigns added up

    def values(self) -> dict[str, Any]:
        """Column -> value, in COLUMNS order (None: not applicable)."""
        return {c: getattr(self, c) for c in COLUMNS}


def group_key(c: StoredResult) -> str:
    """The row a Mailchimp campaign belongs to: its segmail campaign, else itself."""
    return c.campaign if c.target == SEGMAIL and c.campaign else c.mc_campaign_id


def in_period(campaigns: Iterable[StoredResult], period: Period) -> list[StoredResult]:
    return [c for c in campaigns if c.sent_at_us is not None and period.contains(_at(c))]


def _at(c: StoredResult) -> datetime:
    at = from_us(c.sent_at_us)
    assert at is not None
    return at


def campaign_rows(
    campaigns: Sequence[StoredResult],
    counts: Mapping[str, RecipientCounts],
    attributed: Iterable[Attributed],
) -> list[CampaignRow]:
    """`campaigns` (those sent in the period) as rows, in the order of their first send."""
    orders: dict[str, int] = {}
    revenue: dict[str, int] = {}
    for a in attributed:
        cid = a.touch.campaign_id
        orders[cid] = orders.get(cid, 0) + 1
        revenue[cid] = revenue.get(cid, 0) + (a.order.revenue_e4 or 0)
    groups: dict[str, list[StoredResult]] = {}
    for c in sorted(campaigns, key=lambda c: (c.sent_at_us or 0, c.mc_campaign_id)):
        groups.setdefault(group_key(c), []).append(c)
    return [_row(key, members, counts, orders, revenue) for key, members in groups.items()]


def _row(
    key: str,
    members: list[StoredResult],
    counts: Mapping[str, RecipientCounts],
    orders: Mapping[str, int],
    revenue: Mapping[str, int],
) -> CampaignRow:
    first = members[0]
    ids = tuple(c.mc_campaign_id for c in members)
    got = [counts.get(i, RecipientCounts()) for i in ids]
    recipients = sum(c.recipients for c in members)
    money = sum(revenue.get(i, 0) for i in ids)
    return CampaignRow(
        campaign_id=key,
        title=first.campaign if first.target == SEGMAIL and first.campaign else first.title,
        sent_at=_at(first),
        segment=first.segment or OTHER,
        target=first.target or OTHER,
        recipients=recipients,
        opens=sum(g.opens for g in got),
        proxy_opens=sum(g.proxy_opens for g in got),
        clicks=sum(g.clicks for g in got),
        unsubscribes=sum(g.unsubscribes for g in got),
        bounces=sum(g.bounces for g in got),
        attributed_orders=sum(orders.get(i, 0) for i in ids),
        attributed_revenue=amount(money),
        revenue_per_recipient=per(money, recipients),
        mailchimp_ids=ids,
    )
