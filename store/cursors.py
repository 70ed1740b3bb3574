"""Incremental-read cursors per (source, stream); saved in the same transaction as the data they cover."""

from __future__ import annotations

from sqlalchemy import Connection, select

from segmail.store.schema import cursors
from segmail.store.upsert import upsert


def get_cursor(conn: Connection, source: str, stream: str) -> str | None:
    return conn.execute(
        select(cursors.c.value).where(cursors.c.source == source, cursors.c.stream == stream)
    ).scalar_one_or_none()


def set_cursor(conn: Connection, source: str, stream: str, value: str, *, now_us: int) -> None:
    row = {"source": source, "stream": stream, "value": value, "updated_at": now_us}
    upsert(conn, cursors, [row], ["source", "stream"])
