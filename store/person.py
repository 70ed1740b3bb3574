"""Everything the store holds about one person, read for an access request (`segmail export-person`).

Each part is the person's rows as stored, with times as ISO 8601 UTC and money as decimal strings; the
jobs layer adds what only the config knows (tag names) and shapes the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, select

from segmail.store import suppression
from segmail.store.codec import from_e4, from_us
from segmail.store.schema import (
    contacts,
    esp_memberships,
    esp_push_errors,
    events,
    memberships,
    orders,
    send_buckets,
    send_ledger,
    send_unsent,
)

_TIMES = {"opted_in_at", "updated_at", "mc_seen_at", "created_at", "at", "entered_at", "confirmed_at",
          "slot_at", "send_at", "recorded_at"}  # fmt: skip


def _value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in _TIMES:
        moment = from_us(int(value))
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")
    if column.endswith("_e4"):
        return str(from_e4(int(value)))
    if column == "categories":
        return [c for c in str(value).split("|") if c]
    return value


def _rows(conn: Connection, table: Table, email_key: str, order_by: Sequence[str]) -> list[dict[str, Any]]:
    query = select(table).where(table.c.email_key == email_key).order_by(*(table.c[c] for c in order_by))
    return [
        {k: _value(k, v) for k, v in row.items() if k != "email_key"}
        for row in conn.execute(query).mappings()
    ]


def person(conn: Connection, email_key: str) -> dict[str, Any]:
    """The person's rows in every table that holds people; empty lists (and no contact) for a stranger."""
    contact = conn.execute(select(contacts).where(contacts.c.email_key == email_key)).mappings().first()
    mails = select(
        send_ledger,
        send_buckets.c.mc_campaign_id,
        send_buckets.c.send_at,
        send_buckets.c.status.label("bucket_status"),
    ).outerjoin(send_buckets, send_buckets.c.bucket_id == send_ledger.c.bucket_id)
    mails = mails.where(send_ledger.c.email_key == email_key).order_by(
        send_ledger.c.slot_at, send_ledger.c.campaign
    )
    return {
        "contact": None if contact is None else {k: _value(k, v) for k, v in contact.items()},
        "orders": _rows(conn, orders, email_key, ["created_at", "source", "order_id"]),
        "events": _rows(conn, events, email_key, ["at", "type", "campaign_id"]),
        "segments": _rows(conn, memberships, email_key, ["segment"]),
        "tags_confirmed": _rows(conn, esp_memberships, email_key, ["segment"]),
        "tag_push_errors": _rows(conn, esp_push_errors, email_key, ["segment"]),
        "mails": [
            {k: _value(k, v) for k, v in row.items() if k != "email_key"}
            for row in conn.execute(mails).mappings()
        ],
        "unsent": _rows(conn, send_unsent, email_key, ["slot_at", "campaign"]),
        "suppressed": bool(suppression.suppressed(conn, [email_key])),
    }


def orders_by_id(conn: Connection, source: str, order_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Orders named by the shop (Shopify's `orders_requested`), whoever they are stored under."""
    o = orders.c
    query = select(orders).where(o.source == source, o.order_id.in_(list(order_ids))).order_by(o.created_at)
    return [
        {k: _value(k, v) for k, v in row.items() if k != "email_key"}
        for row in conn.execute(query).mappings()
    ]
