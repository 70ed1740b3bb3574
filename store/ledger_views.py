"""The send ledger read for a person: a campaign's buckets with their recipients' states, and its skips by rule.

Reads only; store/ledger.py writes. Every query starts from an indexed column (the ledger's primary
key leads with the campaign, `ix_send_ledger_bucket`), so a page stays quick on a million-row ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from segmail.store.codec import from_us
from segmail.store.schema import send_buckets, send_ledger


@dataclass(frozen=True, slots=True)
class BucketState:
    bucket_id: str
    slot_at: Any  # datetime (UTC)
    send_at: Any  # datetime (UTC)
    variant: dict[str, Any]
    recipients: int
    status: str
    mc_campaign_id: str | None
    error: str | None
    ledger: dict[str, int]  # the bucket's ledger rows per status


def buckets(conn: Connection, campaign: str, *, limit: int = 50) -> list[BucketState]:
    """The campaign's latest buckets (by send time), each with its ledger rows counted per status."""
    b = send_buckets.c
    rows = conn.execute(
        select(
            b.bucket_id, b.slot_at, b.send_at, b.variant, b.recipients, b.status, b.mc_campaign_id, b.error
        )
        .where(b.campaign == campaign)
        .order_by(b.send_at.desc(), b.bucket_id)
        .limit(limit)
    ).all()
    ids = [r.bucket_id for r in rows]
    counts: dict[str, dict[str, int]] = {i: {} for i in ids}
    if ids:
        lc = send_ledger.c
        for bucket_id, status, n in conn.execute(
            select(lc.bucket_id, lc.status, func.count())
            .where(lc.bucket_id.in_(ids))
            .group_by(lc.bucket_id, lc.status)
        ):
            counts[bucket_id][status] = int(n)
    return [
        BucketState(
            bucket_id=r.bucket_id,
            slot_at=from_us(r.slot_at),
            send_at=from_us(r.send_at),
            variant=json.loads(r.variant),
            recipients=int(r.recipients),
            status=r.status,
            mc_campaign_id=r.mc_campaign_id,
            error=r.error,
            ledger=counts[r.bucket_id],
        )
        for r in rows
    ]


def skips(conn: Connection, campaign: str) -> dict[str, int]:
    """Recipients the ledger records as skipped for the campaign, per rule (frequency_cap, late, status …)."""
    lc = send_ledger.c
    rows = conn.execute(
        select(lc.reason, func.count())
        .where(lc.campaign == campaign, lc.status == "skipped")
        .group_by(lc.reason)
        .order_by(func.count().desc())
    )
    return {str(reason or "unknown"): int(n) for reason, n in rows}
