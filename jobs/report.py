"""The reports, assembled: store reads (store/report_*.py) handed to the report logic (reports/).

Each report is one read-only pass over the store for a period; `[report]` says how revenue is
attributed and counted, `[mailchimp] list_id` which campaigns are the audience's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from segmail.jobs.config import AppConfig
from segmail.jobs.experiments import window_us
from segmail.reports import campaigns as campaign_logic
from segmail.reports import segments as segment_logic
from segmail.reports.attribution import Attributed, attribute
from segmail.reports.campaign_lift import with_lift
from segmail.reports.money import amount
from segmail.reports.periods import Period
from segmail.reports.targets import OTHER, SEGMAIL
from segmail.store import report_campaigns, report_segments, report_session
from segmail.store.codec import from_us, to_us
from segmail.store.currency import reporting_currency
from segmail.store.db import Store
from segmail.store.experiment_outcomes import GroupOutcome, experiment_outcomes

if TYPE_CHECKING:
    from sqlalchemy import Connection


@dataclass(frozen=True)
class CampaignReport:
    period: Period
    currency: str | None
    rows: list[campaign_logic.CampaignRow]


@dataclass(frozen=True)
class SegmentReport:
    period: Period
    currency: str | None
    rows: list[segment_logic.SegmentRow]
    movements: dict[tuple[str, str], int] | None  # None: not asked for (segment_report(movements=False))
    steps: list[report_segments.Step]  # what every compute up to `until` changed: sizes at any instant


@dataclass(frozen=True)
class MovementReport:
    period: Period
    movements: dict[tuple[str, str], int]


def _window_us(config: AppConfig) -> int:
    return int(config.report.attribution_window / timedelta(microseconds=1))


def attributed_orders(
    conn: Connection,
    config: AppConfig,
    *,
    currency: str | None,
    orders_from_us: int | None,
    orders_until_us: int | None,
) -> Iterable[Attributed]:
    """Every paid order placed in [from, until) that is attributed to one of the audience's campaigns."""
    rs = config.report
    audience = report_campaigns.audience_campaigns(conn, config.mailchimp.list_id)
    sent_at = {c.mc_campaign_id: c.sent_at_us for c in audience if c.sent_at_us is not None}
    rows = report_campaigns.candidates(
        conn, sent_at=sent_at, orders_from_us=orders_from_us, orders_until_us=orders_until_us,
        window_us=_window_us(config), paid_statuses=rs.statuses(config.segments.paid_statuses), currency=currency,
        net_of_refunds=rs.net_of_refunds, opens=rs.attribute_opens, proxy_opens=rs.attribute_proxy_opens,
    )  # fmt: skip
    return attribute(rows, window_us=_window_us(config), opens=rs.attribute_opens)


def campaign_report(store: Store, config: AppConfig, period: Period) -> CampaignReport:
    """Campaigns sent in the period; their attributed orders count whenever they were placed."""
    with report_session.reading(store) as conn:
        currency = reporting_currency(conn, config.shop.currency)
        chosen = campaign_logic.in_period(
            report_campaigns.audience_campaigns(conn, config.mailchimp.list_id), period
        )
    ids = {c.mc_campaign_id for c in chosen}
    first = min((c.sent_at_us for c in chosen if c.sent_at_us is not None), default=None)
    ours = sorted({campaign_logic.group_key(c) for c in chosen if c.target == SEGMAIL})

    def attributed(conn: Connection) -> list[Attributed]:
        if first is None:
            return []
        found = attributed_orders(conn, config, currency=currency, orders_from_us=first, orders_until_us=None)
        return [a for a in found if a.touch.campaign_id in ids]

    def outcomes(conn: Connection) -> list[GroupOutcome]:
        if not ours:
            return []
        return experiment_outcomes(
            conn, window_us=window_us(config), paid_statuses=config.report.statuses(config.segments.paid_statuses),
            currency=config.shop.currency, campaigns=ours, since_us=to_us(period.since), until_us=to_us(period.until),
        )  # fmt: skip

    reads = report_campaigns.count_reads(sorted(ids))
    found = report_session.concurrently(store, [  # the longest first, so that two workers end about together
        attributed, *reads, outcomes, lambda conn: report_campaigns.variants_of(conn, sorted(ids)) if ours else {},
    ])  # fmt: skip
    orders, experiments, variants = found[0], found[-2], found[-1]
    counts = report_campaigns.combine_counts(sorted(ids), found[1:-2])
    rows = campaign_logic.campaign_rows(chosen, counts, orders)
    return CampaignReport(
        period, currency, with_lift(rows, experiments, _by_variant(chosen, variants, counts, orders))
    )


def _by_variant(
    chosen: list[report_campaigns.StoredResult],
    variants: dict[str, tuple[str, str]],
    counts: Any,
    orders: list[Attributed],
) -> dict[tuple[str, str, str], campaign_logic.CampaignRow]:
    """(campaign, phase, variant) -> the row of that variant's own Mailchimp campaigns: its opens, clicks,
    unsubscribes, bounces and attributed orders."""
    split: dict[tuple[str, str], list[report_campaigns.StoredResult]] = {}
    for c in chosen:
        if c.mc_campaign_id in variants:
            split.setdefault(variants[c.mc_campaign_id], []).append(c)
    return {
        (row.campaign_id, phase, variant): row
        for (phase, variant), members in split.items()
        for row in campaign_logic.campaign_rows(members, counts, orders)
    }


def _paid(config: AppConfig, currency: str | None) -> report_segments.PaidOrders:
    rs = config.report
    return report_segments.PaidOrders(
        statuses=rs.statuses(config.segments.paid_statuses),
        currency=currency,
        net_of_refunds=rs.net_of_refunds,
    )


def segment_report(
    store: Store, config: AppConfig, period: Period, *, movements: bool = True
) -> SegmentReport:
    """The segment rows, and the movements between segments unless `movements` is false (the rows do not
    need them: `report segments` without `--plot` leaves out what it would not show)."""
    since, until = to_us(period.since), to_us(period.until)
    with report_session.reading(store) as conn:
        currency = reporting_currency(conn, config.shop.currency)
    paid = _paid(config, currency)

    def steps_and_moves(
        conn: Connection,
    ) -> tuple[list[report_segments.Step], dict[tuple[str, str], int] | None]:
        steps = report_segments.run_steps(conn, until_us=until)
        return steps, _movements(conn, steps, since_us=since, until_us=until) if movements else None

    def attributed(conn: Connection) -> dict[str, report_segments.Revenue]:
        audience = report_campaigns.audience_campaigns(conn, config.mailchimp.list_id)
        orders = attributed_orders(
            conn, config, currency=currency, orders_from_us=since, orders_until_us=until
        )
        return segment_logic.attributed_by_segment(orders, {c.mc_campaign_id: c.segment for c in audience})

    # the longest first, so that two workers end about together
    touched, during, end, (steps, moves) = report_session.concurrently(store, [
        attributed,
        lambda conn: report_segments.while_member_revenue(conn, since_us=since, until_us=until, paid=paid),
        lambda conn: report_segments.end_member_revenue(conn, since_us=since, until_us=until, paid=paid),
        steps_and_moves,
    ])  # fmt: skip
    sizes = segment_logic.sizes(steps, since_us=since, until_us=until)
    names = [d.name for d in config.segment_defs.values() if d.enabled]
    names += sorted(set(sizes) - set(names))
    rows = segment_logic.segment_rows(names, sizes, end, during, touched)
    return SegmentReport(period, currency, rows, moves, steps)


def _movements(
    conn: Connection, steps: list[report_segments.Step], *, since_us: int, until_us: int
) -> dict[tuple[str, str], int]:
    names = sorted({s.segment for s in steps})
    patterns = report_segments.change_patterns(conn, since_us=since_us, until_us=until_us, segments=names)
    return segment_logic.movements(patterns, names)


def movement_report(store: Store, period: Period) -> MovementReport:
    since, until = to_us(period.since), to_us(period.until)
    with report_session.reading(store) as conn:
        steps = report_segments.run_steps(conn, until_us=until)
        return MovementReport(period, _movements(conn, steps, since_us=since, until_us=until))


@dataclass(frozen=True)
class SizeSeries:
    days: list[datetime]  # the end of each day of the period (UTC midnight after it)
    sizes: dict[str, list[int]]  # per segment, members after the last compute by each of `days`


def daily_sizes(report: SegmentReport) -> SizeSeries:
    """The report's segment sizes at the end of each day of its period."""
    p = report.period
    days = [p.since + timedelta(days=d + 1) for d in range((p.until - p.since).days)]
    return SizeSeries(days, segment_logic.sizes_at(report.steps, [to_us(d) for d in days]))


def last_campaign(store: Store, config: AppConfig) -> dict[str, Any] | None:
    """The audience's most recently sent campaign, for `/metrics` and `segmail status`: Mailchimp's
    figures and the revenue attributed to it so far (only orders since its send are read)."""
    with report_session.reading(store) as conn:
        found = report_campaigns.latest(conn, config.mailchimp.list_id)
        if found is None or found.result.sent_at_us is None:
            return None
        c = found.result
        currency = reporting_currency(conn, config.shop.currency)
        orders = [
            a
            for a in attributed_orders(
                conn, config, currency=currency, orders_from_us=c.sent_at_us, orders_until_us=None
            )
            if a.touch.campaign_id == c.mc_campaign_id
        ]
    sent = from_us(c.sent_at_us)
    assert sent is not None
    return {
        "campaign": campaign_logic.group_key(c), "mc_campaign_id": c.mc_campaign_id, "segment": c.segment or OTHER,
        "sent_at": sent.isoformat(), "recipients": c.recipients, "opens": found.unique_opens,
        "proxy_opens": found.proxy_opens, "clicks": found.unique_clicks, "unsubscribes": found.unsubscribed,
        "bounces": found.bounces, "attributed_orders": len(orders), "currency": currency,
        "attributed_revenue": str(amount(sum(a.order.revenue_e4 or 0 for a in orders))),
    }  # fmt: skip
