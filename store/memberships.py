"""Segment memberships: the desired ones of an evaluation (a temporary table) and the stored ones.

segments/ decides who belongs where (compiled rule conditions); this module only stages those
conditions' rows, moves the stored memberships onto them and reads either side back. Every move is
recorded in the segment history (store/segment_history.py) in the same transaction: the changes are
written there first and the stored memberships follow from those rows, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    MetaData,
    String,
    Table,
    exists,
    func,
    insert,
    literal,
    select,
)

from segmail.store.schema import memberships, segment_history
from segmail.store.segment_history import ENTER, EXIT

_STREAM_ROWS = 20_000  # rows fetched at a time when a whole side is streamed (exports)


@dataclass(frozen=True)
class SegmentChange:
    size: int
    entered: int
    left: int


def stage(
    conn: Connection,
    features: Table,
    conditions: Mapping[str, ColumnElement[bool]],
    rows: FromClause | None = None,
    rows_for: Collection[str] = (),
) -> Table:
    """A temporary table (segment, email_key) of the feature rows each segment's condition holds for.

    `rows` is what the conditions of the segments in `rows_for` read when more than `features` (the
    prediction scores joined to it); the others read the features alone, sparing them the join."""
    staging = Table(
        "tmp_desired",
        MetaData(),
        Column("segment", String(64), primary_key=True),
        Column("email_key", String(320), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    staging.drop(conn, checkfirst=True)
    staging.create(conn)
    for name, condition in conditions.items():
        matching = select(literal(name, String), features.c.email_key).select_from(
            rows if rows is not None and name in rows_for else features
        )
        conn.execute(insert(staging).from_select(["segment", "email_key"], matching.where(condition)))
    return staging


def _not_in(table: Table, other: Table) -> Any:
    return ~exists().where(other.c.segment == table.c.segment, other.c.email_key == table.c.email_key)


_HISTORY_COLUMNS = ["run_id", "segment", "email_key", "at", "kind"]
_COUNTED = {"preserve_rowcount": True}  # an INSERT ... SELECT's rowcount is kept only when asked for


def move_to(
    conn: Connection, staging: Table, segment: str, *, at_us: int, run_id: int, among: Table | None = None
) -> SegmentChange:
    """Make the stored members of `segment` equal the staged ones; who entered (at `at_us`) and left.

    Both are recorded in the segment history under `run_id`, and the stored memberships are then
    changed by exactly the recorded rows: the exits are deleted by the same condition that selected
    them (in the same transaction; nothing else moves memberships meanwhile: a compute holds the
    feature lock, which imports, erasure and retention wait for),
    the entries read back by their key prefix, run and segment. (Deleting the exits by reading them back
    from the history let PostgreSQL, whose statistics cannot know the run's fresh rows, join 40,000
    exits to 40,000 members by a nested loop: 90 s for one segment at 1M contacts.) With `among`
    (a table of keys; the staging holds only their rows), only those contacts move: everybody else keeps
    their stored membership, and the size is counted on the stored side."""
    m, s, h = memberships, staging, segment_history
    leaving = [m.c.segment == segment, _not_in(m, s)]
    if among is not None:
        leaving.append(m.c.email_key.in_(select(among.c.email_key)))
    exits = select(
        literal(run_id, Integer), m.c.segment, m.c.email_key, literal(at_us, BigInteger), literal(EXIT)
    ).where(*leaving)
    left = int(
        conn.execute(insert(h).from_select(_HISTORY_COLUMNS, exits), execution_options=_COUNTED).rowcount or 0
    )
    if left:
        deleted = int(conn.execute(m.delete().where(*leaving), execution_options=_COUNTED).rowcount or 0)
        if deleted != left:  # cannot happen while computes hold the feature lock (store.feature_lock)
            raise RuntimeError(f"segment {segment}: {left} exits recorded but {deleted} memberships deleted")
    entries = select(
        literal(run_id, Integer), s.c.segment, s.c.email_key, literal(at_us, BigInteger), literal(ENTER)
    ).where(s.c.segment == segment, _not_in(s, m))
    entered = int(
        conn.execute(insert(h).from_select(_HISTORY_COLUMNS, entries), execution_options=_COUNTED).rowcount
        or 0
    )
    if entered:
        new = select(h.c.segment, h.c.email_key, h.c.at, h.c.run_id).where(
            h.c.run_id == run_id, h.c.segment == segment, h.c.kind == ENTER
        )
        conn.execute(insert(m).from_select(["segment", "email_key", "entered_at", "run_id"], new))
    counted = s if among is None else m
    size = conn.execute(select(func.count()).where(counted.c.segment == segment)).scalar_one()
    return SegmentChange(size=int(size), entered=entered, left=left)


def drop_segments(conn: Connection, segments: Sequence[str], *, at_us: int, run_id: int) -> int:
    """Every stored membership of these segments, recorded as exits; how many went."""
    if not segments:
        return 0
    m = memberships
    exits = select(
        literal(run_id, Integer), m.c.segment, m.c.email_key, literal(at_us, BigInteger), literal(EXIT)
    ).where(m.c.segment.in_(segments))
    conn.execute(insert(segment_history).from_select(_HISTORY_COLUMNS, exits))
    return int(conn.execute(m.delete().where(m.c.segment.in_(segments))).rowcount or 0)


def _stream(conn: Connection, table: Table) -> Iterator[tuple[str, str]]:
    result = conn.execution_options(yield_per=_STREAM_ROWS).execute(
        select(table.c.email_key, table.c.segment).order_by(table.c.segment, table.c.email_key)
    )
    for row in result:
        yield row[0], row[1]


def staged_rows(conn: Connection, staging: Table) -> Iterator[tuple[str, str]]:
    """(email_key, segment) of a staged evaluation, ordered, streamed."""
    return _stream(conn, staging)


def stored_rows(conn: Connection) -> Iterator[tuple[str, str]]:
    """(email_key, segment) of the stored memberships, ordered, streamed."""
    return _stream(conn, memberships)


def entering(conn: Connection, staging: Table, segment: str) -> list[str]:
    """Keys staged in `segment` that are not stored members of it, in key order."""
    s = staging
    query = (
        select(s.c.email_key).where(s.c.segment == segment, _not_in(s, memberships)).order_by(s.c.email_key)
    )
    return list(conn.execute(query).scalars())


def leaving(conn: Connection, staging: Table, segment: str) -> list[str]:
    """Stored members of `segment` that are not staged in it, in key order."""
    m = memberships
    query = select(m.c.email_key).where(m.c.segment == segment, _not_in(m, staging)).order_by(m.c.email_key)
    return list(conn.execute(query).scalars())


def segment_size(conn: Connection, segment: str, *, entered_since_us: int | None = None) -> int:
    """Stored members of `segment`; with `entered_since_us`, only those who entered at or after it."""
    query = select(func.count()).where(memberships.c.segment == segment)
    if entered_since_us is not None:
        query = query.where(memberships.c.entered_at >= entered_since_us)
    return int(conn.execute(query).scalar_one())


def segments_of(conn: Connection, keys: Sequence[str], segments: Sequence[str]) -> dict[str, list[str]]:
    """The stored segments of each of `keys` among `segments`, read through the primary key (segment, email_key)."""
    m = memberships.c
    found: dict[str, list[str]] = {key: [] for key in keys}
    if not keys or not segments:
        return found
    rows = conn.execute(
        select(m.email_key, m.segment).where(m.segment.in_(list(segments)), m.email_key.in_(list(keys)))
    )
    for key, segment in rows:
        found[key].append(segment)
    return found


def members(conn: Connection, segment: str, *, after: str = "", limit: int = 50) -> list[tuple[str, int]]:
    """A page of a segment's stored members in key order: (email_key, entered_at µs) after `after`."""
    m = memberships.c
    rows = conn.execute(
        select(m.email_key, m.entered_at)
        .where(m.segment == segment, m.email_key > after)
        .order_by(m.email_key)
        .limit(limit)
    )
    return [(str(key), int(at)) for key, at in rows]
