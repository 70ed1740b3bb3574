"""The store's figures for health, metrics and `segmail status`: counts per status, segment and table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from segmail.store.schema import contacts, esp_memberships, memberships, orders, send_buckets, send_ledger


@dataclass(frozen=True, slots=True)
class StoreCounts:
    members: dict[str, int]  # contacts per status
    orders: int
    segments: dict[str, int]  # stored members per segment
    tagged: dict[str, int]  # members Mailchimp confirmed tagged, per segment
    send_ledger: dict[str, int]  # ledger rows per status
    send_campaigns: dict[str, int]  # send buckets per status


def _counts(conn: Connection, column: ColumnElement[Any]) -> dict[str, int]:
    rows = conn.execute(select(column, func.count()).group_by(column)).all()
    return {str(key): int(n) for key, n in rows}


def counts(conn: Connection, *, segments: bool = True) -> StoreCounts:
    """One pass of group-by counts; read once per cycle, never per scrape (they scan whole tables).
    `segments=False` leaves the per-segment counts empty, for a caller that reads them with more
    (the workspace's overview: store.esp.segment_counts)."""
    return StoreCounts(
        members=_counts(conn, contacts.c.status),
        orders=int(conn.execute(select(func.count()).select_from(orders)).scalar_one()),
        segments=_counts(conn, memberships.c.segment) if segments else {},
        tagged=_counts(conn, esp_memberships.c.segment) if segments else {},
        send_ledger=_counts(conn, send_ledger.c.status),
        send_campaigns=_counts(conn, send_buckets.c.status),
    )
