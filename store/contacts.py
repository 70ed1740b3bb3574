"""Single contacts read by key: for `segments explain`, `segmail render --email`, the demo's hints and the
workspace's member search."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, select

from segmail.store.schema import contacts, memberships


@dataclass(frozen=True, slots=True)
class ContactRow:
    """The stored fields of one contact that a mail may show; None where the store has no value."""

    email: str
    status: str
    first_name: str | None
    last_name: str | None
    language: str | None
    country: str | None  # the contact's own (from the shop or the import)
    mc_country: str | None  # Mailchimp's guess


def find(conn: Connection, email_key: str) -> ContactRow | None:
    c = contacts.c
    row = conn.execute(
        select(c.email, c.status, c.first_name, c.last_name, c.language, c.country, c.mc_country).where(
            c.email_key == email_key
        )
    ).first()
    return None if row is None else ContactRow(*row)


def status_of(conn: Connection, email_key: str) -> str | None:
    """The contact's status, or None when the store has no such contact."""
    query = select(contacts.c.status).where(contacts.c.email_key == email_key)
    return conn.execute(query).scalar_one_or_none()


def example_member(conn: Connection, *, prefer_segment: str) -> str | None:
    """The address of a contact in some segment: subscribed first, then members of `prefer_segment`, by key."""
    return conn.execute(
        select(contacts.c.email)
        .join(memberships, memberships.c.email_key == contacts.c.email_key)
        .order_by(
            contacts.c.status != "subscribed", memberships.c.segment != prefer_segment, contacts.c.email_key
        )
        .limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Found:
    email_key: str
    email: str
    status: str


SEARCH_END = "\U0010ffff"  # sorts after every character an email key can hold


def search(conn: Connection, prefix: str, *, limit: int = 20) -> list[Found]:
    """Contacts whose key starts with `prefix` (lower case), in key order: a range on the primary key,
    so a million contacts answer as fast as a thousand (LIKE would not use the index on PostgreSQL)."""
    c = contacts.c
    key = prefix.strip().lower()
    query = select(c.email_key, c.email, c.status).order_by(c.email_key).limit(limit)
    if key:
        query = query.where(and_(c.email_key >= key, c.email_key < key + SEARCH_END))
    return [Found(*row) for row in conn.execute(query)]
