"""The send ledger: buckets (one Mailchimp campaign each) and one row per campaign, recipient and occurrence.

A send job's skips, holdouts and buckets are written in one transaction before any ESP call
(`write_slot`), and Mailchimp's ids each in its own as soon as they are known, so a process killed at
any point leaves a ledger that says exactly what to continue. A held-out recipient's row (status
`holdout`) is what keeps them out of every later plan of the occurrence, exactly like a sent one's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, String, cast, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnElement

from segmail.store.driver_rows import stream_rows
from segmail.store.schema import contacts, memberships, orders, send_buckets, send_ledger

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


class Entry(NamedTuple):
    """One recipient's ledger row as the planner decided it, before the bucket it joins is known."""

    email_key: str
    occurrence: str
    slot_at: int  # UTC µs: the send instant, or the planned slot of a skip
    timezone: str
    tz_source: str
    reason: str | None
    variant: str = ""  # the A/B variant ("" without variants)
    ab_phase: str = ""  # "test" | "winner" in a test-then-winner broadcast


@dataclass(frozen=True, kw_only=True)
class NewBucket:
    """A bucket to write; its id is `prefix-N`, N the buckets that already hold this slot and mail."""

    prefix: str
    slot_at: int  # the job slot (UTC µs)
    send_at: int
    variant: str  # JSON: what next_batch counts by
    title: str  # the Mailchimp campaign title, without its " [bucket id]" end
    entries: tuple[Entry, ...]


@dataclass(frozen=True, kw_only=True)
class SlotWrite:
    """Everything one send job writes before its first ESP call."""

    campaign: str
    created_at: int
    skips: tuple[Entry, ...] = ()
    holdouts: tuple[Entry, ...] = ()  # held out: status holdout, never sent
    buckets: tuple[NewBucket, ...] = ()


@dataclass(frozen=True)
class NotCreated:
    """A bucket another run got to first (some of its recipients, or its id): theirs stand."""

    prefix: str
    planned: int
    left: tuple[Entry, ...]  # its recipients no ledger row holds: nobody is going to mail them


@dataclass(frozen=True)
class SlotWritten:
    created: tuple[tuple[str, int], ...]  # (bucket id, recipients), in plan order
    not_created: tuple[NotCreated, ...]
    skips_taken: bool  # another run had recorded (some of) these skips: none of them were written
    held_out: int = 0  # holdout rows written by this call (those another run wrote are left as they are)


def write_slot(conn: Connection, write: SlotWrite) -> SlotWritten:
    """The skips, the holdouts, then each bucket with its ledger rows, in the caller's transaction.

    The ledger's primary key makes a recipient's (campaign, occurrence) unique, so a second planner
    fails instead of doubling. Each part goes in under a savepoint: a part whose key another run
    (or an older bucket id) holds is left out and reported, and the rest is still written. Holdouts
    go in row by row (a row another run holds is kept as it is), so each is written exactly once.
    """
    skip_rows = [_row(write, e, bucket_id=None, status="skipped") for e in write.skips]
    skips_taken = bool(skip_rows) and not _unless_taken(
        conn, lambda: conn.execute(send_ledger.insert(), skip_rows)
    )
    held_out = _insert_new(conn, [_row(write, e, bucket_id=None, status="holdout") for e in write.holdouts])
    created: list[tuple[str, int]] = []
    not_created: list[NotCreated] = []
    for bucket in write.buckets:
        bucket_id = _write_bucket(conn, write, bucket)
        if bucket_id is not None:
            created.append((bucket_id, len(bucket.entries)))
            continue
        have = ledger_keys(conn, campaign=write.campaign, occurrences={e.occurrence for e in bucket.entries})
        left = tuple(e for e in bucket.entries if (e.email_key, e.occurrence) not in have)
        not_created.append(NotCreated(bucket.prefix, len(bucket.entries), left))
    return SlotWritten(tuple(created), tuple(not_created), skips_taken, held_out)


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Ledger rows whose key no row holds yet (INSERT ... ON CONFLICT DO NOTHING); how many went in."""
    if not rows:
        return 0
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(send_ledger).on_conflict_do_nothing().returning(send_ledger.c.email_key)
    return len(conn.execute(stmt, rows).all())


def _write_bucket(conn: Connection, write: SlotWrite, bucket: NewBucket) -> str | None:
    batch = next_batch(conn, campaign=write.campaign, slot_us=bucket.slot_at, variant=bucket.variant)
    bucket_id = f"{bucket.prefix}-{batch}"
    row = {
        "bucket_id": bucket_id, "campaign": write.campaign, "slot_at": bucket.slot_at, "send_at": bucket.send_at,
        "variant": bucket.variant, "recipients": len(bucket.entries), "status": "planned",
        "title": f"{bucket.title} [{bucket_id}]"[:255], "created_at": write.created_at, "updated_at": write.created_at,
    }  # fmt: skip
    rows = [_row(write, e, bucket_id=bucket_id, status="planned") for e in bucket.entries]

    def insert() -> None:
        conn.execute(send_buckets.insert(), [row])
        if rows:
            conn.execute(send_ledger.insert(), rows)

    return bucket_id if _unless_taken(conn, insert) else None


def _row(write: SlotWrite, e: Entry, *, bucket_id: str | None, status: str) -> dict[str, Any]:
    return {
        "campaign": write.campaign, "email_key": e.email_key, "occurrence": e.occurrence, "bucket_id": bucket_id,
        "slot_at": e.slot_at, "timezone": e.timezone, "tz_source": e.tz_source, "status": status,
        "reason": e.reason, "created_at": write.created_at, "variant": e.variant, "ab_phase": e.ab_phase,
    }  # fmt: skip


def _unless_taken(conn: Connection, insert: Callable[[], object]) -> bool:
    """`insert` under a savepoint; False (and nothing of it kept) when a unique key it needs is taken."""
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and not getattr(raw, "in_transaction", True):
        # pysqlite opens its transaction lazily, at the first write; a SAVEPOINT before that would
        # open one of its own, committed by its RELEASE whatever the outer transaction then does
        conn.exec_driver_sql("BEGIN")
    try:
        with conn.begin_nested():
            insert()
    except IntegrityError:
        return False
    return True


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
