"""Unsent errors in the store: recorded per recipient, cleared when bucketed, summed for status and metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, case, delete, exists, func, select, update

from segmail.store.driver_rows import stream_rows
from segmail.store.ledger import ACTIVE_LEDGER
from segmail.store.schema import contacts, send_buckets, send_ledger, send_unsent
from segmail.store.upsert import upsert

KEY = ("campaign", "email_key", "occurrence")
# The reason codes schema v4's backfill wrote (sending/unsent.py names them): a migration keeps the
# values it was written with, and the store does not import the layer above it.
V4_BUCKET_FAILED, V4_CAMPAIGN_REMOVED = "bucket_failed", "campaign_removed"


class Unsent(NamedTuple):
    """One recipient left without a campaign's mail, and why (a send_unsent row)."""

    campaign: str
    email_key: str
    occurrence: str
    reason: str
    detail: str | None
    bucket_id: str | None
    slot_at: int
    recorded_at: int


def record(conn: Connection, rows: Sequence[Unsent]) -> None:
    """A repeat (the same campaign, recipient and occurrence) updates the row."""
    upsert(conn, send_unsent, [r._asdict() for r in rows], KEY)


def record_bucket(conn: Connection, bucket_id: str, *, reason: str, detail: str | None, at_us: int) -> int:
    """Every recipient of a bucket that will never be sent; their ledger rows become `unsent`, so the
    frequency cap no longer counts a mail that never went out."""
    rows = conn.execute(
        select(send_ledger.c.campaign, send_ledger.c.email_key, send_ledger.c.occurrence, send_ledger.c.slot_at)
        .where(send_ledger.c.bucket_id == bucket_id)
    ).all()  # fmt: skip
    record(conn, [Unsent(c, k, o, reason, detail, bucket_id, s, at_us) for c, k, o, s in rows])
    conn.execute(update(send_ledger).where(send_ledger.c.bucket_id == bucket_id).values(status="unsent"))
    return len(rows)


def clear_bucketed(conn: Connection, campaign: str) -> int:
    """Recipients of the campaign who are in a live bucket after all (a retry after a failed write, a
    fixed template) are no longer unsent."""
    u, led = send_unsent, send_ledger
    bucketed = exists().where(
        led.c.campaign == u.c.campaign, led.c.email_key == u.c.email_key,
        led.c.occurrence == u.c.occurrence, led.c.status.in_(ACTIVE_LEDGER),
    )  # fmt: skip
    return int(conn.execute(delete(u).where(u.c.campaign == campaign, bucketed)).rowcount or 0)


def summary(conn: Connection) -> list[dict[str, Any]]:
    """Unsent recipients per campaign and reason, with when the last one was recorded (UTC µs)."""
    u = send_unsent
    rows = conn.execute(
        select(u.c.campaign, u.c.reason, func.count(), func.max(u.c.recorded_at))
        .group_by(u.c.campaign, u.c.reason)
        .order_by(u.c.campaign, u.c.reason)
    ).all()
    return [
        {"campaign": c, "reason": r, "recipients": int(n), "last_recorded_at": int(at)}
        for c, r, n, at in rows
    ]


def listing(conn: Connection, campaign: str | None) -> Iterator[tuple[Any, ...]]:
    """(email, campaign, occurrence, reason, slot_at, recorded_at, detail) of every unsent recipient."""
    u = send_unsent
    query = (
        select(contacts.c.email, u.c.campaign, u.c.occurrence, u.c.reason, u.c.slot_at, u.c.recorded_at, u.c.detail)
        .join(contacts, contacts.c.email_key == u.c.email_key)
        .order_by(u.c.campaign, u.c.slot_at, u.c.email_key)
    )  # fmt: skip
    if campaign is not None:
        query = query.where(u.c.campaign == campaign)
    return stream_rows(conn, query)


def acknowledge(conn: Connection, campaign: str | None, *, recorded_until_us: int) -> int:
    """An operator dealt with them: the rows go (the ledger keeps what happened to each recipient).
    Rows recorded after `recorded_until_us` stay: the operator has not seen them yet."""
    query = delete(send_unsent).where(send_unsent.c.recorded_at <= recorded_until_us)
    if campaign is not None:
        query = query.where(send_unsent.c.campaign == campaign)
    return int(conn.execute(query).rowcount or 0)


def backfill(conn: Connection) -> None:
    """Schema v3 → v4: buckets that failed or were cancelled before unsent errors were recorded."""
    b, led = send_buckets, send_ledger
    dead = b.c.status.in_(("failed", "cancelled"))
    reason = case((b.c.status == "cancelled", V4_CAMPAIGN_REMOVED), else_=V4_BUCKET_FAILED)
    rows = (
        select(led.c.campaign, led.c.email_key, led.c.occurrence, reason, b.c.error, b.c.bucket_id, led.c.slot_at, b.c.updated_at)
        .join(b, b.c.bucket_id == led.c.bucket_id)
        .where(dead)
    )  # fmt: skip
    columns = [*KEY, "reason", "detail", "bucket_id", "slot_at", "recorded_at"]
    conn.execute(send_unsent.insert().from_select(columns, rows))
    conn.execute(
        update(led).where(led.c.bucket_id.in_(select(b.c.bucket_id).where(dead))).values(status="unsent")
    )
