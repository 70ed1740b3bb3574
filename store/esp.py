"""What the ESP (Mailchimp) has confirmed, and what still has to be pushed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Table, and_, case, delete, exists, func, select

from segmail.store.schema import contacts, esp_memberships, esp_push_errors, memberships
from segmail.store.upsert import insert_ignore, upsert


@dataclass(frozen=True)
class PendingCounts:
    to_add: int
    to_remove: int
    not_in_audience: int  # desired members Mailchimp has never shown us: skipped, never created


@dataclass(frozen=True)
class SegmentCounts:
    members: int  # desired (the stored memberships)
    tagged: int  # Mailchimp confirmed
    pending: PendingCounts


# `desired` is the stored `memberships` table, or an evaluation's temporary table of the same shape
# (a dry run compares what would be desired with what Mailchimp has confirmed).


def _in_audience(m: Table) -> ColumnElement[bool]:
    return exists().where(contacts.c.email_key == m.c.email_key, contacts.c.mc_seen_at.is_not(None))


def _confirmed(m: Table) -> ColumnElement[bool]:
    e = esp_memberships
    return exists().where(e.c.segment == m.c.segment, e.c.email_key == m.c.email_key)


def _undesired(m: Table) -> ColumnElement[bool]:
    e = esp_memberships
    return ~exists().where(and_(m.c.segment == e.c.segment, m.c.email_key == e.c.email_key))


def pending_counts(conn: Connection, segment: str, desired: Table = memberships) -> PendingCounts:
    m, e = desired, esp_memberships
    to_add = conn.execute(
        select(func.count()).where(m.c.segment == segment, ~_confirmed(m), _in_audience(m))
    ).scalar_one()
    skipped = conn.execute(
        select(func.count()).where(m.c.segment == segment, ~_confirmed(m), ~_in_audience(m))
    ).scalar_one()
    to_remove = conn.execute(
        select(func.count()).where(e.c.segment == segment, _undesired(desired))
    ).scalar_one()
    return PendingCounts(int(to_add), int(to_remove), int(skipped))


def segment_counts(conn: Connection) -> dict[str, SegmentCounts]:
    """Every segment's members, confirmed tags and pending changes (those of `pending_counts`) in two
    passes, one over the desired memberships and one over the confirmed ones, instead of three counts
    per segment: the contact is looked up only for a member Mailchimp has not confirmed."""
    m, e = memberships, esp_memberships
    unconfirmed = e.c.email_key.is_(None)
    desired = conn.execute(
        select(
            m.c.segment,
            func.count(),
            func.count(e.c.email_key),
            func.count(case((and_(unconfirmed, _in_audience(m)), 1))),
        )
        .select_from(m.outerjoin(e, and_(e.c.segment == m.c.segment, e.c.email_key == m.c.email_key)))
        .group_by(m.c.segment)
    ).all()
    confirmed = conn.execute(
        select(e.c.segment, func.count(), func.count(case((_undesired(m), 1)))).group_by(e.c.segment)
    ).all()
    seen: dict[str, tuple[int, int, int]] = {str(s): (int(n), int(c), int(a)) for s, n, c, a in desired}
    tags: dict[str, tuple[int, int]] = {str(s): (int(n), int(r)) for s, n, r in confirmed}
    out = {}
    for segment in sorted(seen.keys() | tags.keys()):
        members, confirmed_members, to_add = seen.get(segment, (0, 0, 0))
        tagged, to_remove = tags.get(segment, (0, 0))
        skipped = members - confirmed_members - to_add
        out[segment] = SegmentCounts(members, tagged, PendingCounts(to_add, to_remove, skipped))
    return out


def pending_adds(conn: Connection, segment: str, desired: Table = memberships) -> Iterator[str]:
    """Desired members of `segment` Mailchimp has not confirmed, that are in the audience, in key order."""
    m = desired
    query = (
        select(m.c.email_key)
        .where(m.c.segment == segment, ~_confirmed(m), _in_audience(m))
        .order_by(m.c.email_key)
    )
    yield from conn.execute(query).scalars()


def pending_removes(conn: Connection, segment: str, desired: Table = memberships) -> Iterator[str]:
    """Members Mailchimp has confirmed in `segment` that are no longer desired, in key order."""
    e = esp_memberships
    query = select(e.c.email_key).where(e.c.segment == segment, _undesired(desired)).order_by(e.c.email_key)
    yield from conn.execute(query).scalars()


def confirm(
    conn: Connection,
    segment: str,
    *,
    added: Iterable[str],
    removed: Iterable[str],
    refused: Mapping[str, tuple[str, str]],
    now_us: int,
) -> None:
    """Record one chunk Mailchimp answered: confirmed adds and removes, and per-email refusals."""
    added, removed = list(added), list(removed)
    insert_ignore(
        conn, esp_memberships, [{"segment": segment, "email_key": k, "confirmed_at": now_us} for k in added]
    )
    if removed:
        conn.execute(
            delete(esp_memberships).where(
                esp_memberships.c.segment == segment, esp_memberships.c.email_key.in_(removed)
            )
        )
    done = added + removed
    if done:
        conn.execute(
            delete(esp_push_errors).where(
                esp_push_errors.c.segment == segment, esp_push_errors.c.email_key.in_(done)
            )
        )
    rows = [
        {"segment": segment, "email_key": k, "action": action, "error": error, "at": now_us}
        for k, (action, error) in refused.items()
    ]
    upsert(conn, esp_push_errors, rows, ["segment", "email_key"])
