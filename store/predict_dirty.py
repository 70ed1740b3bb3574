"""Which buyers' prediction scores a write may have changed, logged by the writers of orders.

A compute with prediction rules used to find out whether any paid order had changed by scanning every
order (a count and the latest `updated_at`): 0.4 s at 1.4 million orders, every cycle, most of the
predictive compute's extra cost. Instead every writer of orders logs what it touched, in the same
transaction as the rows, and the scoring (segments/predictive.py) reads the log, rescores who it names
and empties the part its T has passed.

A row is an order's owner and `created_at` — before the write and after it, so an order that moves to
another person or another day rescores both sides. Orders placed before the UTC day of the stored scores'
T are logged as one row for the oldest of them with no owner (`UNKNOWN`): whoever's scores they touch, a
scoring that reaches them rescores everyone anyway (the yardstick, the buyers as they stood at the start
of T's day, changed), and a bulk import of history stays one row instead of a million. Rows placed after T stay
until a later T passes them, so an order written early but dated in the future is scored when its time
comes. Writers that cannot say whose orders moved (erasure, a shop's redaction) log `everything`.

Writes made while no scores exist are not logged: the first scoring reads every order anyway, and like
every scoring of all buyers logs the orders dated after its T itself (`restart`), whose rows may
never have been written (no scores yet) or were consumed by a scoring at a later T. Like the
feature cache's stale list (store.feature_lock), the log trusts that orders change only through
segmail's writers (store.writer, store.erasure); a migration that rewrites orders must log `everything`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, func, select

from segmail.store.codec import US_PER_DAY
from segmail.store.schema import orders, predict_dirty
from segmail.store.upsert import insert_ignore

UNKNOWN = ""  # the owner of a row standing for orders whose owners were not listed

__all__ = ["UNKNOWN", "consume", "due", "everything", "note", "restart"]


def note(conn: Connection, touched: Iterable[tuple[str, int]], *, scored_at_us: int) -> None:
    """Log orders a write touched, as (owner, created_at) before and after the write; `scored_at_us` is
    the T of the stored scores (store.predict_scores.made_at)."""
    day_start = scored_at_us // US_PER_DAY * US_PER_DAY
    rows: set[tuple[str, int]] = set()
    oldest: int | None = None
    for key, at in touched:
        if at >= day_start:
            rows.add((key, at))
        elif oldest is None or at < oldest:
            oldest = at
    if oldest is not None:
        rows.add((UNKNOWN, oldest))
    insert_ignore(conn, predict_dirty, [{"email_key": k, "created_at": t} for k, t in sorted(rows)])


def restart(conn: Connection, as_of_us: int) -> None:
    """After a scoring of every buyer at T, the log is exactly the orders dated after T: those of T's day
    one by one (a scoring later that day rescores their buyers), the later ones as one row (a scoring
    on a later day rescores everyone anyway). Two scans of the orders, in a scoring that read them all;
    nothing logged before is needed any more (what it said about orders up to T is in the scores)."""
    conn.execute(delete(predict_dirty))
    o = orders.c
    next_day = as_of_us // US_PER_DAY * US_PER_DAY + US_PER_DAY
    rows = {(str(k), int(t)) for k, t in conn.execute(
        select(o.email_key, o.created_at).where(o.created_at > as_of_us, o.created_at < next_day)
    )}  # fmt: skip
    later = conn.execute(select(func.min(o.created_at)).where(o.created_at >= next_day)).scalar_one()
    if later is not None:
        rows.add((UNKNOWN, int(later)))
    insert_ignore(conn, predict_dirty, [{"email_key": k, "created_at": t} for k, t in sorted(rows)])


def everything(conn: Connection) -> None:
    """Every buyer's scores may have changed: the next scoring rescores everyone."""
    insert_ignore(conn, predict_dirty, [{"email_key": UNKNOWN, "created_at": 0}])


def due(conn: Connection, as_of_us: int) -> list[tuple[str, int]]:
    """The logged orders placed at or before T (what a scoring at T must take into account)."""
    t = predict_dirty.c
    found = conn.execute(select(t.email_key, t.created_at).where(t.created_at <= as_of_us))
    return [(str(k), int(at)) for k, at in found]


def consume(conn: Connection, as_of_us: int) -> None:
    """Forget the logged orders placed at or before T, once a scoring at T took them into account."""
    conn.execute(delete(predict_dirty).where(predict_dirty.c.created_at <= as_of_us))
