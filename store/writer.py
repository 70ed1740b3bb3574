"""Writing connector records: idempotent upserts by natural key, marking features stale.

Every import and pull writes here, so this is where the suppression list (store/suppression.py) is
applied: a record of an erased person is dropped before anything is stored, and counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from segmail.connector.records import Contact, Event, Member, Order, Record
from segmail.store import feature_lock, predict_dirty, suppression
from segmail.store.codec import to_e4, to_us
from segmail.store.currency import note_order_currencies
from segmail.store.db import get_meta, set_meta
from segmail.store.predict_scores import made_at
from segmail.store.schema import contacts, events, feature_dirty, orders
from segmail.store.upsert import insert_ignore, upsert


@dataclass
class Encoded:
    """A batch of records as store rows: plain values only, so it can cross a process boundary."""

    source: str
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # Mailchimp's columns only
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[tuple[str, str, int, str], dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.contacts) + len(self.members) + len(self.orders) + len(self.events)


def encode(
    records: Sequence[Record], *, source: str, now_us: int, omit: frozenset[str] = frozenset()
) -> Encoded:
    """Records → rows keyed by natural key; the last record with a given key wins.

    Contact columns in `omit` are left out, so the upsert keeps what is stored (a file that has
    no such column says nothing about it).
    """
    out = Encoded(source=source)
    for r in records:
        if isinstance(r, Order):
            out.orders[r.order_id] = _order_row(r, source=source, now_us=now_us)
        elif isinstance(r, Event):
            row = _event_row(r)
            out.events[(r.email_key, r.type, row["at"], row["campaign_id"])] = row
        elif isinstance(r, Member):
            out.members[r.email_key] = _member_row(r, source=source, now_us=now_us)
        elif isinstance(r, Contact):
            out.contacts[r.email_key] = _contact_row(r, source=source, now_us=now_us)
    if omit:
        for row in (*out.contacts.values(), *out.members.values()):
            for column in omit:
                row.pop(column, None)
    return out


def _order_row(r: Order, *, source: str, now_us: int) -> dict[str, Any]:
    return {
        "source": source,
        "order_id": r.order_id,
        "email_key": r.email_key,
        "created_at": to_us(r.created_at),
        "total_e4": to_e4(r.total),
        "refunded_e4": to_e4(r.refunded),
        "currency": r.currency,
        "status": r.status,
        "categories": f"|{'|'.join(r.categories)}|" if r.categories else "",
        "updated_at": now_us,
        "country": r.country,
        "province": r.province,
    }


def _event_row(r: Event) -> dict[str, Any]:
    return {"email_key": r.email_key, "type": r.type, "at": to_us(r.at), "campaign_id": r.campaign_id or ""}


def _member_row(r: Member, *, source: str, now_us: int) -> dict[str, Any]:
    """Mailchimp's view of a contact: its own timezone and country columns, and when it was last seen."""
    own = {"mc_timezone": r.timezone, "mc_country": r.country, "mc_seen_at": now_us}
    return {**_person_columns(r, source=source, now_us=now_us), **own}


def _contact_row(r: Contact, *, source: str, now_us: int) -> dict[str, Any]:
    own = {"timezone": r.timezone, "country": r.country}
    return {**_person_columns(r, source=source, now_us=now_us), **own}


def _person_columns(r: Contact | Member, *, source: str, now_us: int) -> dict[str, Any]:
    """The columns a contact and a Mailchimp member both set."""
    return {
        "email_key": r.email_key,
        "email": r.email,
        "status": r.status,
        "opted_in_at": None if r.opted_in_at is None else to_us(r.opted_in_at),
        "language": r.language,
        "first_name": r.first_name,
        "last_name": r.last_name,
        "source": source,
        "updated_at": now_us,
    }


@dataclass(frozen=True)
class Written:
    records: int  # stored (inserted, updated or unchanged)
    suppressed: int  # dropped: their person was erased and is on the suppression list


def write_records(conn: Connection, records: Sequence[Record], *, source: str, now_us: int) -> Written:
    return write_encoded(conn, encode(records, source=source, now_us=now_us))


def write_encoded(conn: Connection, batch: Encoded) -> Written:
    """Upsert one encoded batch, less suppressed people, and mark every touched contact's features stale."""
    feature_lock.writing(conn)  # before reading whether a cache exists (store.feature_lock)
    dropped = _drop_suppressed(conn, batch)
    cached = get_meta(conn, FINGERPRINT_KEY) is not None  # else no feature cache to keep fresh yet
    scored_at = made_at(conn)  # T of the stored prediction scores; None: none to keep fresh yet
    # an order moved to another email (or day) makes the old owner's features (and scores) stale too
    wanted = batch.orders and (cached or scored_at is not None)
    previous = _previous(conn, batch.source, list(batch.orders)) if wanted else []
    previous_owners = {k for k, _ in previous}
    # key order gives B-tree inserts locality (about 20 % faster on a large SQLite store)
    upsert(conn, contacts, [batch.contacts[k] for k in sorted(batch.contacts)], ["email_key"])
    # a member updates only the columns Mailchimp owns; the contact's own time zone etc. stay
    upsert(conn, contacts, [batch.members[k] for k in sorted(batch.members)], ["email_key"])
    upsert(conn, orders, sorted(batch.orders.values(), key=_order_key), ["source", "order_id"])
    insert_ignore(conn, events, [batch.events[k] for k in sorted(batch.events)])
    keys = {
        *previous_owners,
        *batch.contacts,
        *batch.members,
        *(o["email_key"] for o in batch.orders.values()),
        *(k[0] for k in batch.events),
    }
    if cached:
        insert_ignore(conn, feature_dirty, [{"email_key": k} for k in sorted(keys)])
    # else the feature cache was never built: the first compute builds every contact's features
    # (store.features.prepare), so listing stale ones would be a million wasted B-tree inserts
    if scored_at is not None and batch.orders:
        written = [(o["email_key"], o["created_at"]) for o in batch.orders.values()]
        predict_dirty.note(conn, [*previous, *written], scored_at_us=scored_at)
    note_order_currencies(conn, {o["currency"] for o in batch.orders.values()})
    stamps = [o["created_at"] for o in batch.orders.values()] + [k[2] for k in batch.events]
    if stamps:
        note_latest_data_at(conn, max(stamps))
    return Written(len(batch), dropped)


def _drop_suppressed(conn: Connection, batch: Encoded) -> int:
    """Remove the records of suppressed people from `batch`; returns how many were removed."""
    keys = {*batch.contacts, *batch.members, *(o["email_key"] for o in batch.orders.values())}
    keys.update(k[0] for k in batch.events)
    gone = suppression.suppressed(conn, keys)
    if not gone:
        return 0
    before = len(batch)
    batch.contacts = {k: row for k, row in batch.contacts.items() if k not in gone}
    batch.members = {k: row for k, row in batch.members.items() if k not in gone}
    batch.orders = {k: row for k, row in batch.orders.items() if row["email_key"] not in gone}
    batch.events = {k: row for k, row in batch.events.items() if k[0] not in gone}
    return before - len(batch)


def _previous(conn: Connection, source: str, order_ids: list[str]) -> list[tuple[str, int]]:
    """Current owner and `created_at` of these orders; one array parameter, not thousands of bound values
    (on SQLite both columns are in the natural key's index: no table lookup)."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT email_key, created_at FROM orders WHERE source = %s AND order_id = ANY(%s)"
        found = conn.exec_driver_sql(sql, (source, order_ids))
    else:
        sql = (
            "SELECT email_key, created_at FROM orders "
            "WHERE source = ? AND order_id IN (SELECT value FROM json_each(?))"
        )
        found = conn.exec_driver_sql(sql, (source, json.dumps(order_ids)))
    return [(str(k), int(at)) for k, at in found]


def _order_key(row: Mapping[str, Any]) -> tuple[str, int]:
    return row["email_key"], row["created_at"]


LATEST_KEY = "latest_data_at"
FINGERPRINT_KEY = "features_fingerprint"  # store.features: what the cache was built with; absent: no cache


def note_latest_data_at(conn: Connection, stamp_us: int) -> None:
    """Remember the newest order or event time ever written; a compute before it needs a point-in-time copy.

    Kept as a high-water mark (never lowered, even if an order is later moved back in time), so
    the check can only err towards the always-correct point-in-time path.
    """
    current = get_meta(conn, LATEST_KEY)
    if current is None or stamp_us > current:
        set_meta(conn, LATEST_KEY, stamp_us)
