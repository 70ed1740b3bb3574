"""The send ledger: buckets (one Mailchimp campaign each) and one row per campaign, recipient and occurrence.

Rows are written before any ESP call and Mailchimp's ids as soon as they are known, each in its own
transaction, so a process killed at any point leaves a ledger that says exactly what to continue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, String, cast, func, literal, select, update
from sqlalchemy.sql.expression import ColumnElement

from store.schema import contacts, memberships, orders, send_buckets, send_ledger

FINAL_BUCKET = ("scheduled", "sent", "failed", "cancelled")
ACTIVE_LEDGER = ("planned", "scheduled", "sent")


class RecipientRow(NamedTuple):  # a million per plan: a tuple is the cheapest record
    email_key: str
    email: str
    status: str
    entered_at: int
    mc_timezone: str | None
    timezone: str | None
    mc_country: str | None
    country: str | None
    language: str | None
    order_address: str | None  # "COUNTRY|PROVINCE" of the latest order with an address


def occurrence_expr(trigger: str, day: str | None) -> ColumnElement[Any]:
    if trigger == "at":
        return literal(day or "")
    return literal("enter:") + cast(memberships.c.entered_at, String)


def recipients(
    conn: Connection, *, campaign: str, segment: str, trigger: str, day: str | None, since_us: int | None
) -> Iterator[RecipientRow]:
    """Members of `segment` without a ledger row for this campaign's occurrence, with what the
    time-zone chain and the variants need; streamed, so a million members never sit in one list."""
    occurrence = occurrence_expr(trigger, day)
    latest = (
        select(func.coalesce(orders.c.country, "") + literal("|") + func.coalesce(orders.c.province, ""))
        .where(orders.c.email_key == memberships.c.email_key, orders.c.country.is_not(None))
        .order_by(orders.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
        .label("order_address")
    )
    done = (
        select(literal(1))
        .where(
            send_ledger.c.campaign == campaign,
            send_ledger.c.email_key == memberships.c.email_key,
            send_ledger.c.occurrence == occurrence,
        )
        .exists()
    )
    query = (
        select(
            memberships.c.email_key,
            contacts.c.email,
            contacts.c.status,
            memberships.c.entered_at,
            contacts.c.mc_timezone,
            contacts.c.timezone,
            contacts.c.mc_country,
            contacts.c.country,
            contacts.c.language,
            latest,
        )
        .join(contacts, contacts.c.email_key == memberships.c.email_key)
        .where(memberships.c.segment == segment, ~done)
        .order_by(memberships.c.email_key)  # the key order SQLite stores them in: a stable plan output
    )
    if since_us is not None:
        query = query.where(memberships.c.entered_at >= since_us)
    for row in stream_rows(conn, query):
        yield RecipientRow._make(row)


def stream_rows(conn: Connection, query: Select[Any], *, batch: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """Plain tuples straight from the driver's cursor, for queries that return a million rows.

    SQLAlchemy's Result/Row layer costs about 2.5 µs a row, as much as everything else the send
    planner does; these columns need no type processing, so the rows are read from the DBAPI cursor
    (a named, server-side one on PostgreSQL, so memory stays flat) in batches.
    """
    compiled = query.compile(dialect=conn.dialect)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if compiled.positiontup is not None:  # qmark (sqlite3)
        params: Any = [compiled.params[name] for name in compiled.positiontup]
    else:  # pyformat (psycopg)
        params = compiled.params
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor(name=f"segmail_stream_{id(compiled):x}")
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:  # a caller that stops early must not leave a server-side cursor open
        cursor.close()


def occurrence_of(trigger: str, day: str | None, entered_at: int) -> str:
    return day or "" if trigger == "at" else f"enter:{entered_at}"


def recent_mail_times(conn: Connection, *, start_us: int, end_us: int) -> dict[str, list[int]]:
    """Slots of every active ledger row in the window, per recipient (the frequency cap's input)."""
    rows = conn.execute(
        select(send_ledger.c.email_key, send_ledger.c.slot_at).where(
            send_ledger.c.slot_at >= start_us,
            send_ledger.c.slot_at <= end_us,
            send_ledger.c.status.in_(ACTIVE_LEDGER),
        )
    )
    out: dict[str, list[int]] = {}
    for key, at in rows:
        out.setdefault(key, []).append(int(at))
    return out


def ledger_keys(conn: Connection, *, campaign: str, occurrences: Iterable[str]) -> set[tuple[str, str]]:
    """(email_key, occurrence) of the campaign's ledger rows for these occurrences, whatever their status."""
    rows = conn.execute(
        select(send_ledger.c.email_key, send_ledger.c.occurrence).where(
            send_ledger.c.campaign == campaign, send_ledger.c.occurrence.in_(sorted(occurrences))
        )
    )
    return {(k, o) for k, o in rows}


def next_batch(conn: Connection, *, campaign: str, slot_us: int, variant: str) -> int:
    """Recipients planned after a bucket for the same slot and mail went out get a new bucket."""
    return int(
        conn.execute(
            select(func.count()).where(
                send_buckets.c.campaign == campaign,
                send_buckets.c.slot_at == slot_us,
                send_buckets.c.variant == variant,
            )
        ).scalar_one()
    )


def insert_bucket(conn: Connection, bucket: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
    conn.execute(send_buckets.insert(), [bucket])
    if rows:
        conn.execute(send_ledger.insert(), list(rows))


def insert_skips(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(send_ledger.insert(), list(rows))


def update_bucket(conn: Connection, bucket_id: str, **values: Any) -> None:
    conn.execute(update(send_buckets).where(send_buckets.c.bucket_id == bucket_id).values(**values))


def set_ledger_status(conn: Connection, bucket_id: str, status: str) -> None:
    conn.execute(update(send_ledger).where(send_ledger.c.bucket_id == bucket_id).values(status=status))


def unfinished_buckets(conn: Connection, campaign: str | None = None) -> list[dict[str, Any]]:
    query = select(send_buckets).where(send_buckets.c.status.not_in(FINAL_BUCKET))
    if campaign is not None:
        query = query.where(send_buckets.c.campaign == campaign)
    return [dict(r) for r in conn.execute(query.order_by(send_buckets.c.created_at)).mappings()]


def bucket_emails(conn: Connection, bucket_id: str) -> list[str]:
    rows = conn.execute(
        select(contacts.c.email)
        .join(send_ledger, send_ledger.c.email_key == contacts.c.email_key)
        .where(send_ledger.c.bucket_id == bucket_id)
        .order_by(contacts.c.email_key)
    )
    return [r[0] for r in rows]


def bucket(conn: Connection, bucket_id: str) -> dict[str, Any]:
    row = conn.execute(select(send_buckets).where(send_buckets.c.bucket_id == bucket_id)).mappings().one()
    return {**row, "variant": json.loads(row["variant"])}


def chunked(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
