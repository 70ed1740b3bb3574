"""Segment history: every entry and exit a compute makes, and what the reports read back from it.

A compute records its changes as it moves the stored memberships (store/memberships.py); this module
creates the table on migration, backfills what can be known then, and answers the report's questions
(sizes at an instant, entries and exits in a period, who was a member when).
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, insert, literal, select

from segmail.store.schema import memberships, segment_history

ENTER = "enter"
EXIT = "exit"


def create_and_backfill(conn: Connection) -> int:
    """The table, holding every current membership as an entry at its entered_at by the run that made it.

    Exits before the migration, and entries of members who have left since, were never recorded: a
    report over a period before the migration sees only today's members. Rows already recorded (a
    table some earlier run created) are kept, never duplicated."""
    segment_history.create(conn, checkfirst=True)
    m, h = memberships.c, segment_history.c
    recorded = exists().where(h.segment == m.segment, h.email_key == m.email_key, h.run_id == m.run_id)
    rows = select(m.run_id, m.segment, m.email_key, m.entered_at, literal(ENTER)).where(~recorded)
    columns = ["run_id", "segment", "email_key", "at", "kind"]
    result = conn.execute(
        insert(segment_history).from_select(columns, rows), execution_options={"preserve_rowcount": True}
    )
    return int(result.rowcount or 0)
