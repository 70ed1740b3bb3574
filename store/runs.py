"""The run log: one row per job run with its status, counts and error."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from store.codec import from_us, to_us
from store.schema import runs


def start_run(conn: Connection, *, kind: str, as_of: datetime, now: datetime) -> int:
    result = conn.execute(
        insert(runs).values(
            kind=kind, as_of=to_us(as_of), started_at=to_us(now), status="running", stats="{}"
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def finish_run(
    conn: Connection, run_id: int, *, now: datetime, stats: dict[str, Any], error: str | None = None
) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=to_us(now),
            status="failed" if error else "ok",
            stats=json.dumps(stats, sort_keys=True, default=str),
            error=error,
        )
    )


def last_run(conn: Connection, kind: str, *, status: str = "ok") -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(runs)
            .where(runs.c.kind == kind, runs.c.status == status)
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {**row, "as_of": from_us(row["as_of"]), "stats": json.loads(row["stats"])}
