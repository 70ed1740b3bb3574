"""Test-then-winner decisions: once a broadcast's test has ended everywhere, pick the winner and store it.

Orchestration only. When is decided by sending/experiments.py (`decide_at`), the figures are read by
store/experiment_outcomes.py (clicks on each test bucket's own Mailchimp campaign, or paid revenue in the
conversion window up to now), the rule is reports/causal.py's `decide_winner`, and the decision with
its figures goes to store/experiment_decisions.py, once: a second instance deciding at the same moment
finds the first one's row and uses it. The send planner only ever reads the stored winner.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from segmail.jobs.config import AppConfig
from segmail.reports.causal import CLICK_RATE, ArmFigures, decide_winner
from segmail.sending.campaigns import CampaignDef
from segmail.sending.experiments import decide_at
from segmail.sending.plan import TEST
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.experiment_decisions import StoredDecision, decision, record_decision
from segmail.store.experiment_outcomes import click_outcomes, experiment_outcomes

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("segmail.send")


def occurrence(campaign: CampaignDef) -> str:
    assert campaign.date is not None, "test-then-winner is for `at` broadcasts"
    return campaign.date.isoformat()


def stored_winner(store: Store, campaign: CampaignDef) -> str | None:
    """The decided winner of a test-then-winner broadcast; None before the decision (or without a test).
    A winner since renamed or removed from the config gives way to the first variant, as no clear
    winner would."""
    if campaign.ab_test is None:
        return None
    with store.engine.connect() as conn:
        found = decision(conn, campaign.name, occurrence(campaign))
    if found is None:
        return None
    names = [v.name for v in campaign.variants]
    if found.winner not in names:
        log.warning(
            "campaign %s: its winner %r is no longer a variant; %s goes out",
            campaign.name,
            found.winner,
            names[0],
        )
        return names[0]
    return found.winner


def decide_due(store: Store, config: AppConfig, *, now: datetime) -> list[StoredDecision]:
    """Decide every enabled test-then-winner broadcast whose decision time has come and has no decision."""
    made = []
    for campaign in config.enabled_campaigns:
        if campaign.ab_test is None or campaign.date is None:
            continue
        if now < decide_at(campaign.date, config.send.lead):
            continue
        with store.engine.begin() as conn:
            if decision(conn, campaign.name, occurrence(campaign)) is not None:
                continue
            made.append(_decide(conn, config, campaign, now=now))
    return made


def _decide(conn: Connection, config: AppConfig, campaign: CampaignDef, *, now: datetime) -> StoredDecision:
    test = campaign.ab_test
    assert test is not None
    arms = arm_figures(conn, config, campaign, cutoff_us=to_us(now))
    result = decide_winner(arms, test.winner_metric)
    stored = record_decision(
        conn,
        StoredDecision(
            campaign=campaign.name, occurrence=occurrence(campaign), decided_at=to_us(now),
            metric=test.winner_metric, winner=result.winner, clear=result.clear, decision=result.decision,
            figures=result.figures,
        ),
    )  # fmt: skip
    log.info("campaign %s: %s", campaign.name, stored.decision)
    return stored


def arm_figures(
    conn: Connection, config: AppConfig, campaign: CampaignDef, *, cutoff_us: int
) -> list[ArmFigures]:
    """Each variant's test-phase figures on the campaign's winner metric, in config order."""
    test = campaign.ab_test
    assert test is not None
    day = occurrence(campaign)
    found: dict[str, ArmFigures] = {}
    if test.winner_metric == CLICK_RATE:
        for c in click_outcomes(
            conn, campaign=campaign.name, occurrence=day, ab_phase=TEST, cutoff_us=cutoff_us
        ):
            found[c.variant] = ArmFigures(
                variant=c.variant,
                recipients=c.recipients,
                total=float(c.clickers),
                total_sq=float(c.clickers),
            )
    else:
        outcomes = experiment_outcomes(
            conn, window_us=window_us(config), paid_statuses=config.segments.paid_statuses,
            currency=config.shop.currency, campaigns=[campaign.name], cutoff_us=cutoff_us,
        )  # fmt: skip
        for g in outcomes:
            if g.occurrence == day and g.ab_phase == TEST and g.group == "sent":
                found[g.variant] = ArmFigures(
                    variant=g.variant, recipients=g.recipients, total=float(g.revenue), total_sq=g.revenue_sq
                )
    empty = ArmFigures(variant="", recipients=0, total=0.0, total_sq=0.0)
    return [found.get(v.name) or _named(empty, v.name) for v in campaign.variants]


def _named(arm: ArmFigures, name: str) -> ArmFigures:
    return ArmFigures(variant=name, recipients=arm.recipients, total=arm.total, total_sq=arm.total_sq)


def window_us(config: AppConfig) -> int:
    """`[report] conversion_window` in microseconds, as the store compares instants."""
    return config.report.conversion_window // timedelta(microseconds=1)
