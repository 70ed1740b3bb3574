"""The privacy audit log: every erasure, suppression, access export and retention pass, without anyone's data.

An entry says when, what kind, which request (`cli`, `shopify customers/redact from x.myshopify.com`,
`mailchimp: member deleted there`), the command and its options (never its arguments, which may be
addresses), how many people and how many rows per table. It answers "did you act on the request of
3 March, and what did you remove?" without keeping what was removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select

from segmail.store.schema import privacy_audit

KINDS: Final = ("erasure", "suppression", "access", "retention")


@dataclass(frozen=True, kw_only=True)
class Entry:
    kind: str
    request: str
    command: str
    people: int
    rows: Mapping[str, int]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")


def record(conn: Connection, entry: Entry, *, now_us: int) -> None:
    conn.execute(
        insert(privacy_audit).values(
            at=now_us, kind=entry.kind, request=entry.request[:255], command=entry.command[:255],
            people=entry.people, rows=json.dumps(dict(entry.rows), sort_keys=True),
        )
    )  # fmt: skip


def summary(conn: Connection) -> dict[str, dict[str, int]]:
    """Per kind: entries, people and the time of the last one (UTC µs), for `segmail status`."""
    a = privacy_audit.c
    query = select(a.kind, func.count(), func.coalesce(func.sum(a.people), 0), func.max(a.at)).group_by(
        a.kind
    )
    return {
        kind: {"entries": int(n), "people": int(people), "last_at": int(last)}
        for kind, n, people, last in conn.execute(query)
    }


def entries(conn: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """The latest entries, newest first, with their row counts decoded."""
    query = select(privacy_audit).order_by(privacy_audit.c.id.desc()).limit(limit)
    return [{**row, "rows": json.loads(row["rows"])} for row in conn.execute(query).mappings()]
