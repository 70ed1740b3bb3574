"""What the mail caused: holdout lift and A/B verdicts from the experiment outcomes, in plain words. Pure.

**Lift** is the difference in revenue per recipient, mailed minus held out, over the conversion window
after each recipient's slot (`[report] conversion_window`), in the reporting currency, net of refunds:
what the mail added per recipient it went to. Its 95 % interval is Welch's (reports/intervals.py); the
conversion rate difference (at least one paid order; two-proportion z-interval) is given beside it.
The held-out recipients of an occurrence (and test phase) are one comparison group for every variant:
whom the mail would have gone to is random, and a held-out recipient's outcome cannot depend on the
variant they were not sent, so pooling them loses nothing and keeps the intervals narrow.

An **A/B comparison** sets each variant against the first (config order) on the same figures; a
**test-then-winner** decision (`decide_winner`) picks the variant with the best `winner_metric` only
when its interval against every other variant lies above 0, and otherwise falls back to the first
variant, saying "no clear winner". No correction for several comparisons is made: with two variants,
the usual case, there is only one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from segmail.reports.intervals import (
    LEVEL,
    POWER,
    Interval,
    Sample,
    mean_difference,
    proportion_difference,
    sample_size_means,
)
from segmail.store.experiment_outcomes import GroupOutcome

CLICK_RATE, REVENUE_PER_RECIPIENT = "click_rate", "revenue_per_recipient"


@dataclass(frozen=True, kw_only=True)
class LiftRow:
    """One campaign occurrence (and test phase) and variant: mailed against held out."""

    campaign: str
    occurrence: str
    ab_phase: str
    variant: str
    recipients: int  # mailed
    holdout: int  # held out (the occurrence's and phase's, shared by its variants)
    converters: int
    holdout_converters: int
    revenue: Decimal  # of the mailed, in their conversion windows
    revenue_per_recipient: float | None
    holdout_revenue_per_recipient: float | None
    conversion_diff: Interval | None  # conversion rate, mailed minus held out
    lift: float | None  # revenue per recipient, mailed minus held out
    lift_low: float | None
    lift_high: float | None
    needed_per_group: int | None  # recipients per group to detect the observed lift (95 %/80 %)
    decision: str


def _sample(g: GroupOutcome | None) -> Sample:
    return Sample(n=0, total=0.0, total_sq=0.0) if g is None else Sample(
        n=g.recipients, total=float(g.revenue), total_sq=g.revenue_sq
    )  # fmt: skip


def lift_rows(
    outcomes: Sequence[GroupOutcome], *, level: float = LEVEL, power: float = POWER
) -> list[LiftRow]:
    """A row per campaign, occurrence, phase and variant that mailed anyone, in the outcomes' order."""
    holdouts: dict[tuple[str, str, str], list[GroupOutcome]] = defaultdict(list)
    for g in outcomes:
        if g.group == "holdout":
            holdouts[(g.campaign, g.occurrence, g.ab_phase)].append(g)
    rows = []
    for g in outcomes:
        if g.group != "sent":
            continue
        held = holdouts.get((g.campaign, g.occurrence, g.ab_phase), [])
        pooled = _pool(held) if held else None
        rows.append(_lift_row(g, pooled, level=level, power=power))
    return rows


def _pool(groups: Sequence[GroupOutcome]) -> GroupOutcome:
    first = groups[0]
    return GroupOutcome(
        campaign=first.campaign, occurrence=first.occurrence, ab_phase=first.ab_phase, variant="",
        group="holdout", recipients=sum(g.recipients for g in groups), converters=sum(g.converters for g in groups),
        revenue=sum((g.revenue for g in groups), Decimal(0)), revenue_sq=sum(g.revenue_sq for g in groups),
    )  # fmt: skip


def _lift_row(sent: GroupOutcome, held: GroupOutcome | None, *, level: float, power: float) -> LiftRow:
    a, b = _sample(sent), _sample(held)
    interval = mean_difference(a, b, level=level) if held is not None else None
    conversion = (
        proportion_difference(sent.converters, sent.recipients, held.converters, held.recipients, level=level)
        if held is not None
        else None
    )
    needed = None
    if interval is not None:
        needed = sample_size_means(
            interval.estimate, a.variance or 0.0, b.variance or 0.0, level=level, power=power
        )
    return LiftRow(
        campaign=sent.campaign, occurrence=sent.occurrence, ab_phase=sent.ab_phase, variant=sent.variant,
        recipients=sent.recipients, holdout=b.n, converters=sent.converters,
        holdout_converters=held.converters if held else 0, revenue=sent.revenue,
        revenue_per_recipient=a.mean, holdout_revenue_per_recipient=b.mean if held else None,
        conversion_diff=conversion, lift=interval.estimate if interval else None,
        lift_low=interval.low if interval else None, lift_high=interval.high if interval else None,
        needed_per_group=needed, decision=lift_decision(interval, held is not None, needed),
    )  # fmt: skip


def lift_decision(interval: Interval | None, has_holdout: bool, needed: int | None) -> str:
    if not has_holdout:
        return "no holdout: set holdout_percent to measure what the mail caused"
    if interval is None:
        return "too few recipients for an interval (each group needs at least 2)"
    pct = f"{interval.level:.0%}"
    span = f"{pct} interval {interval.low:+.2f} to {interval.high:+.2f}, {interval.method}"
    if interval.significant:
        verb = "added" if interval.estimate > 0 else "cost"
        return f"significant: the mail {verb} {abs(interval.estimate):.2f} per recipient ({span})"
    if needed is None:
        return f"not significant: no difference in revenue per recipient ({span})"
    return (
        f"not significant: the interval of the lift {interval.estimate:+.2f} per recipient contains 0 ({span}); "
        f"about {needed:,} recipients in each group would detect a lift this size ({pct} confidence, 80 % power)"
    )


# ---- A/B -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ArmFigures:
    """One variant's figures on one metric: recipients, and the successes (click_rate) or the revenue
    sum and sum of squares (revenue_per_recipient)."""

    variant: str
    recipients: int
    total: float
    total_sq: float

    @property
    def estimate(self) -> float | None:
        return self.total / self.recipients if self.recipients else None


def compare(a: ArmFigures, b: ArmFigures, metric: str, *, level: float = LEVEL) -> Interval | None:
    """a minus b on `metric`: click_rate with the two-proportion interval, revenue with Welch's."""
    if metric == CLICK_RATE:
        return proportion_difference(int(a.total), a.recipients, int(b.total), b.recipients, level=level)
    return mean_difference(
        Sample(n=a.recipients, total=a.total, total_sq=a.total_sq),
        Sample(n=b.recipients, total=b.total, total_sq=b.total_sq),
        level=level,
    )


@dataclass(frozen=True, kw_only=True)
class WinnerDecision:
    winner: str
    clear: bool
    decision: str
    figures: Mapping[str, Any]  # what the decision was made on, stored with it


def decide_winner(arms: Sequence[ArmFigures], metric: str, *, level: float = LEVEL) -> WinnerDecision:
    """The best variant when its interval against every other lies above 0, else the first (arms' order)."""
    first = arms[0].variant
    ranked = [a for a in arms if a.estimate is not None]
    best = max(ranked, key=lambda a: a.estimate or 0.0, default=None)  # the first of equals wins a tie
    comparisons = [
        (o, compare(best, o, metric, level=level)) for o in arms if best is not None and o is not best
    ]
    clear = (
        best is not None and bool(comparisons) and all(i is not None and i.low > 0 for _, i in comparisons)
    )
    figures = {
        "metric": metric, "level": level,
        "arms": [{"variant": a.variant, "recipients": a.recipients, "total": a.total, "total_sq": a.total_sq,
                  "estimate": a.estimate} for a in arms],
        "comparisons": [{"variant": best.variant if best else "", "vs": o.variant,
                         **({"estimate": i.estimate, "low": i.low, "high": i.high, "method": i.method, "df": i.df}
                            if i is not None else {})} for o, i in comparisons],
    }  # fmt: skip
    shown = "; ".join(
        f"{best.variant if best else ''} - {o.variant}: {i.estimate:+.4f} ({i.low:+.4f} to {i.high:+.4f})"
        if i is not None
        else f"{o.variant}: too few recipients"
        for o, i in comparisons
    )
    if clear and best is not None:
        text = f"{best.variant} wins on {metric} ({level:.0%} intervals above 0: {shown})"
        return WinnerDecision(winner=best.variant, clear=True, decision=text, figures=figures)
    text = (
        f"no clear winner on {metric} ({shown or 'no figures'}): the first variant, {first}, goes to the rest"
    )
    return WinnerDecision(winner=first, clear=False, decision=text, figures=figures)


@dataclass(frozen=True, kw_only=True)
class AbRow:
    """A variant against the occurrence's first variant (the reference has no row of its own)."""

    campaign: str
    occurrence: str
    ab_phase: str
    variant: str
    reference: str
    recipients: int
    conversion_diff: Interval | None
    revenue_diff: Interval | None  # revenue per recipient, variant minus reference
    decision: str


def ab_rows(
    outcomes: Sequence[GroupOutcome],
    *,
    variant_order: Mapping[str, Sequence[str]] | None = None,
    level: float = LEVEL,
) -> list[AbRow]:
    """Each mailed variant against the first one of its campaign occurrence and phase; `variant_order`
    gives each campaign's variants in config order (default: by name)."""
    tests: dict[tuple[str, str, str], list[GroupOutcome]] = defaultdict(list)
    for g in outcomes:
        if g.group == "sent" and g.variant:
            tests[(g.campaign, g.occurrence, g.ab_phase)].append(g)
    rows = []
    for (campaign, occurrence, phase), groups in tests.items():
        order = list((variant_order or {}).get(campaign, ()))
        groups = sorted(
            groups, key=lambda g: (order.index(g.variant) if g.variant in order else len(order), g.variant)
        )
        ref = groups[0]
        for g in groups[1:]:
            conv = proportion_difference(
                g.converters, g.recipients, ref.converters, ref.recipients, level=level
            )
            rev = mean_difference(_sample(g), _sample(ref), level=level)
            rows.append(AbRow(
                campaign=campaign, occurrence=occurrence, ab_phase=phase, variant=g.variant, reference=ref.variant,
                recipients=g.recipients, conversion_diff=conv, revenue_diff=rev,
                decision=ab_decision(g.variant, ref.variant, rev, conv),
            ))  # fmt: skip
    return rows


def ab_decision(variant: str, reference: str, rev: Interval | None, conv: Interval | None) -> str:
    if rev is None:
        return f"{variant} vs {reference}: too few recipients for an interval"
    parts = [f"revenue per recipient {rev.estimate:+.2f} ({rev.low:+.2f} to {rev.high:+.2f}): {rev.verdict}"]
    if conv is not None:
        parts.append(
            f"conversion rate {conv.estimate:+.2%} ({conv.low:+.2%} to {conv.high:+.2%}): {conv.verdict}"
        )
    return f"{variant} vs {reference}: " + "; ".join(parts)
