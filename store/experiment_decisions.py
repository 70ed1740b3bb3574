"""Test-then-winner decisions: written once per campaign and occurrence, read by planning and reports.

The key (campaign, occurrence) makes the decision unique: when two instances decide at once, the
second insert does nothing and both go on with the stored row, so the rest of the audience can only
ever get one winner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from segmail.store.schema import ab_decisions


@dataclass(frozen=True, kw_only=True)
class StoredDecision:
    campaign: str
    occurrence: str
    decided_at: int  # UTC µs
    metric: str
    winner: str
    clear: bool  # False: no clear winner, so the first variant
    decision: str
    figures: Mapping[str, Any]


def record_decision(conn: Connection, d: StoredDecision) -> StoredDecision:
    """Store `d` unless a decision for its campaign and occurrence exists; the stored one either way."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    row = {
        "campaign": d.campaign, "occurrence": d.occurrence, "decided_at": d.decided_at, "metric": d.metric,
        "winner": d.winner, "clear": int(d.clear), "decision": d.decision,
        "figures": json.dumps(d.figures, sort_keys=True),
    }  # fmt: skip
    conn.execute(insert(ab_decisions).values(row).on_conflict_do_nothing())
    stored = decision(conn, d.campaign, d.occurrence)
    assert stored is not None
    return stored


def decision(conn: Connection, campaign: str, occurrence: str) -> StoredDecision | None:
    found = decisions(conn, campaigns=[campaign], occurrence=occurrence)
    return found[0] if found else None


def decisions(
    conn: Connection, *, campaigns: Sequence[str] | None = None, occurrence: str | None = None
) -> list[StoredDecision]:
    t = ab_decisions.c
    query = select(ab_decisions).order_by(t.campaign, t.occurrence)
    if campaigns is not None:
        query = query.where(t.campaign.in_(list(campaigns)))
    if occurrence is not None:
        query = query.where(t.occurrence == occurrence)
    return [
        StoredDecision(
            campaign=r.campaign,
            occurrence=r.occurrence,
            decided_at=int(r.decided_at),
            metric=r.metric,
            winner=r.winner,
            clear=bool(r.clear),
            decision=r.decision,
            figures=json.loads(r.figures),
        )
        for r in conn.execute(query)
    ]
