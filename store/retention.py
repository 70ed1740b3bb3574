"""Retention: deleting events, send history and run logs older than `[privacy]` keeps, a chunk at a time.

Every call deletes at most about `batch` rows in the caller's (short) transaction, so a large first
clean-up never holds the database for long. The big tables are walked by their key (events by
contact, the ledger through its recipient index), the position kept in `segmail_meta`, so a pass
that was cut short (the service stopped, the job's chunk budget ran out) resumes where it stopped
and one pass reads each row once. What is never deleted, whatever its age:
- a ledger row of an `on_enter` mail whose entry still stands (the member is still in the segment
  with that entry time): it is the exactly-once record, and without it the planner would mail them again;
- a ledger row still `planned` (its bucket is being sent) and a bucket that is not final or that a
  kept ledger row points to;
- the newest run of each kind: run numbers continue from the largest one (store/runs.py).
Deleting old opens and clicks can change a contact's features only where every open (or click) goes;
those contacts' features are marked stale in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite

from segmail.store import feature_lock
from segmail.store.db import get_meta, set_meta
from segmail.store.erasure import secure_delete
from segmail.store.ledger import FINAL_BUCKET
from segmail.store.schema import (
    events,
    feature_dirty,
    features,
    memberships,
    meta,
    runs,
    send_buckets,
    send_ledger,
    send_unsent,
)

STREAMS: Final = ("events", "send_ledger", "send_unsent", "send_buckets", "runs")  # in this order
_POSITION = "retention_position:"
Work = Callable[[str, str | None], int]  # (after, upto) -> rows deleted in that key range


def delete_chunk(conn: Connection, stream: str, *, cutoff_us: int, batch: int) -> tuple[int, bool]:
    """Delete up to about `batch` rows of `stream` older than `cutoff_us`: (rows deleted, stream finished)."""
    with secure_delete(conn):
        if stream == "events":
            return _walk(conn, stream, events.c.email_key, batch, lambda a, u: _events(conn, a, u, cutoff_us))
        if stream == "send_ledger":
            return _walk(
                conn, stream, send_ledger.c.email_key, batch, lambda a, u: _ledger(conn, a, u, cutoff_us)
            )
        if stream == "send_unsent":
            return _some(conn, send_unsent, send_unsent.c.recorded_at < cutoff_us, batch)
        if stream == "send_buckets":
            b = send_buckets.c
            kept = exists().where(send_ledger.c.bucket_id == b.bucket_id)
            return _some(
                conn, send_buckets, and_(b.slot_at < cutoff_us, b.status.in_(FINAL_BUCKET), ~kept), batch
            )
        if stream == "runs":
            newest = select(func.max(runs.c.id)).group_by(runs.c.kind)
            where = and_(runs.c.started_at < cutoff_us, runs.c.status != "running", runs.c.id.not_in(newest))
            return _some(conn, runs, where, batch)
    raise ValueError(f"no retention stream {stream!r}; known: {', '.join(STREAMS)}")


def _walk(conn: Connection, stream: str, key: Any, batch: int, work: Work) -> tuple[int, bool]:
    """One key range of about `batch` rows after the saved position; saves the next position."""
    after = str(get_meta(conn, _POSITION + stream) or "")
    upto = conn.execute(
        select(key).where(key > after).order_by(key).offset(batch).limit(1)
    ).scalar_one_or_none()
    deleted = work(after, upto)
    if upto is None:  # the walk reached the end: the next pass starts from the beginning
        conn.execute(delete(meta).where(meta.c.key == _POSITION + stream))
        return deleted, True
    set_meta(conn, _POSITION + stream, upto)
    return deleted, False


def _in_range(column: Any, after: str, upto: str | None) -> ColumnElement[bool]:
    return column > after if upto is None else and_(column > after, column <= upto)


def _events(conn: Connection, after: str, upto: str | None, cutoff_us: int) -> int:
    f = features.c
    # a contact whose newest open (or click) goes loses that feature: rebuild it at the next compute
    losing = select(f.email_key).where(
        _in_range(f.email_key, after, upto), or_(f.last_open_at < cutoff_us, f.last_click_at < cutoff_us)
    )
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    feature_lock.writing(conn)
    conn.execute(insert(feature_dirty).from_select(["email_key"], losing).on_conflict_do_nothing())
    where = and_(_in_range(events.c.email_key, after, upto), events.c.at < cutoff_us)
    return int(conn.execute(delete(events).where(where)).rowcount)


def _ledger(conn: Connection, after: str, upto: str | None, cutoff_us: int) -> int:
    led = send_ledger.c
    live = exists().where(  # the entry this on_enter mail was for still stands
        memberships.c.email_key == led.email_key,
        led.occurrence == literal("enter:") + cast(memberships.c.entered_at, String),
    )
    where = and_(
        _in_range(led.email_key, after, upto), led.slot_at < cutoff_us, led.status != "planned", ~live
    )
    return int(conn.execute(delete(send_ledger).where(where)).rowcount)


def _some(conn: Connection, table: Table, where: ColumnElement[bool], batch: int) -> tuple[int, bool]:
    """Up to `batch` rows of a small table matching `where`, by primary key."""
    pk = list(table.primary_key.columns)
    found = [tuple(r) for r in conn.execute(select(*pk).where(where).limit(batch))]
    if not found:
        return 0, True
    target = pk[0].in_([r[0] for r in found]) if len(pk) == 1 else tuple_(*pk).in_(found)
    conn.execute(delete(table).where(target))
    return len(found), len(found) < batch
