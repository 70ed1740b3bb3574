"""The holdout and A/B columns of `report campaigns`: each segmail campaign's lift over the period.

A campaign's occurrences with slots in the period are pooled per test phase, variant and group (their
recipients, converters, revenue and sum of squares add up, which is what the intervals need), then
compared mailed against held out (reports.causal.lift_rows: Welch's interval on revenue per recipient
over `[report] conversion_window`). A campaign without variants gets the figures on its own row; one
with variants keeps its row (every variant together) and gains a row per variant with the figures
that can be split by variant: recipients, holdout, revenue per recipient and lift from the ledger, and
opens, clicks, unsubscribes, bounces and attributed revenue from the variant's own Mailchimp campaigns
(each bucket, hence each Mailchimp campaign, holds one variant). Each row that gets figures
gets their verdict in plain words too (reports.causal.lift_decision: "not significant" when the
interval contains 0), which the workspace shows beside the numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal

from segmail.reports.campaigns import CampaignRow
from segmail.reports.causal import LiftRow, lift_rows
from segmail.store.experiment_outcomes import GroupOutcome

PERIOD = "period"  # the occurrence every pooled outcome is filed under


def pooled(outcomes: Sequence[GroupOutcome]) -> list[GroupOutcome]:
    """The outcomes added up over occurrences, per campaign, phase, variant and group."""
    sums: dict[tuple[str, str, str, str], GroupOutcome] = {}
    for g in outcomes:
        key = (g.campaign, g.ab_phase, g.variant, g.group)
        before = sums.get(key)
        sums[key] = dataclasses.replace(
            g,
            occurrence=PERIOD,
            recipients=g.recipients + (before.recipients if before else 0),
            converters=g.converters + (before.converters if before else 0),
            revenue=g.revenue + (before.revenue if before else Decimal(0)),
            revenue_sq=g.revenue_sq + (before.revenue_sq if before else 0.0),
        )
    return list(sums.values())


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(f"{value:.2f}")


def with_lift(
    rows: Sequence[CampaignRow],
    outcomes: Sequence[GroupOutcome],
    by_variant: Mapping[tuple[str, str, str], CampaignRow] | None = None,
) -> list[CampaignRow]:
    """`rows` with holdout and lift filled where the campaign held anyone out or tested variants.

    `by_variant` (campaign, phase, variant) holds each variant's Mailchimp-side figures (its buckets'
    own Mailchimp campaigns); a variant without one in the period shows none (0)."""
    lifts: dict[str, list[LiftRow]] = {}
    for lift in lift_rows(pooled(outcomes)):
        lifts.setdefault(lift.campaign, []).append(lift)
    out: list[CampaignRow] = []
    for row in rows:
        found = lifts.get(row.campaign_id, [])
        plain = [f for f in found if not f.variant]
        if len(plain) == 1 and not any(f.variant for f in found):
            f = plain[0]
            out.append(
                dataclasses.replace(
                    row, holdout=f.holdout, lift=_money(f.lift), lift_low=_money(f.lift_low),
                    lift_high=_money(f.lift_high), verdict=f.decision,
                )
            )  # fmt: skip
            continue
        out.append(row)
        for f in sorted((f for f in found if f.variant), key=lambda f: (f.ab_phase, f.variant)):
            own = (by_variant or {}).get((row.campaign_id, f.ab_phase, f.variant))
            out.append(
                dataclasses.replace(
                    row,
                    variant=f.variant if not f.ab_phase else f"{f.variant} ({f.ab_phase})",
                    recipients=f.recipients,
                    holdout=f.holdout,
                    opens=own.opens if own else 0, proxy_opens=own.proxy_opens if own else 0,
                    clicks=own.clicks if own else 0, unsubscribes=own.unsubscribes if own else 0,
                    bounces=own.bounces if own else 0, attributed_orders=own.attributed_orders if own else 0,
                    attributed_revenue=own.attributed_revenue if own else Decimal(0),
                    revenue_per_recipient=_money(f.revenue_per_recipient),
                    lift=_money(f.lift), lift_low=_money(f.lift_low), lift_high=_money(f.lift_high),
                    verdict=f.decision,
                )
            )  # fmt: skip
    return out
