"""Writing connector records: idempotent upserts by natural key, marking features stale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from connector.records import Contact, Event, Order, Record
from store.codec import to_e4, to_us
from store.schema import contacts, events, feature_dirty, orders
from store.upsert import insert_ignore, upsert


def write_records(conn: Connection, records: Sequence[Record], *, source: str, now_us: int) -> int:
    """Write one batch of records (any mix of kinds); the last record with a given key wins."""
    contact_rows: dict[str, dict[str, Any]] = {}
    order_rows: dict[str, dict[str, Any]] = {}
    event_rows: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for r in records:
        if isinstance(r, Order):
            order_rows[r.order_id] = {
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
            }
        elif isinstance(r, Event):
            at = to_us(r.at)
            campaign = r.campaign_id or ""
            event_rows[(r.email_key, r.type, at, campaign)] = {
                "email_key": r.email_key,
                "type": r.type,
                "at": at,
                "campaign_id": campaign,
            }
        elif isinstance(r, Contact):
            contact_rows[r.email_key] = {
                "email_key": r.email_key,
                "email": r.email,
                "status": r.status,
                "opted_in_at": None if r.opted_in_at is None else to_us(r.opted_in_at),
                "timezone": r.timezone,
                "country": r.country,
                "language": r.language,
                "first_name": r.first_name,
                "last_name": r.last_name,
                "source": source,
                "updated_at": now_us,
            }
    previous_owners: set[str] = set()
    if order_rows:  # an order moved to another email makes the old owner's features stale too
        previous_owners = set(
            conn.execute(
                select(orders.c.email_key).where(
                    orders.c.source == source, orders.c.order_id.in_(list(order_rows))
                )
            ).scalars()
        )
    upsert(conn, contacts, list(contact_rows.values()), ["email_key"])
    upsert(conn, orders, list(order_rows.values()), ["source", "order_id"])
    insert_ignore(conn, events, list(event_rows.values()))
    keys = {
        *previous_owners,
        *contact_rows,
        *(o["email_key"] for o in order_rows.values()),
        *(k[0] for k in event_rows),
    }
    insert_ignore(conn, feature_dirty, [{"email_key": k} for k in sorted(keys)])
    return len(contact_rows) + len(order_rows) + len(event_rows)
