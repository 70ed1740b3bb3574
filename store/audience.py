"""The contacts Mailchimp has shown segmail (a member pull set their `mc_seen_at`), for the gone-member check."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, func, select

from segmail.store.driver_rows import stream_rows
from segmail.store.schema import contacts


def seen_count(conn: Connection) -> int:
    query = select(func.count()).where(contacts.c.mc_seen_at.is_not(None))
    return int(conn.execute(query).scalar_one())


def seen_keys(conn: Connection) -> Iterator[str]:
    """Their email keys, streamed from the driver's cursor (an audience may hold millions)."""
    query = (
        select(contacts.c.email_key).where(contacts.c.mc_seen_at.is_not(None)).order_by(contacts.c.email_key)
    )
    for (key,) in stream_rows(conn, query):
        yield str(key)
