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
    conn: Connection,
    run_id: int,
    *,
    now: datetime,
    stats: dict[str, Any],
    error: str | None = None,
    status: str | None = None,
) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=to_us(now),
            status=status or ("failed" if error else "ok"),
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


def mark_crashed(conn: Connection, kind: str, *, now: datetime) -> list[int]:
    """Runs of `kind` still 'running' belong to a process that died: close them as crashed.

    Only the active instance calls this (it holds the lock), so no live run is ever closed.
    """
    ids = [
        int(i)
        for i in conn.execute(
            select(runs.c.id).where(runs.c.kind == kind, runs.c.status == "running")
        ).scalars()
    ]
    if ids:
        conn.execute(
            update(runs)
            .where(runs.c.id.in_(ids))
            .values(status="crashed", finished_at=to_us(now), error="the process stopped during this run")
        )
    return ids


def recent_runs(conn: Connection, kind: str, *, limit: int = 10) -> list[dict[str, Any]]:
    rows = conn.execute(select(runs).where(runs.c.kind == kind).order_by(runs.c.id.desc()).limit(limit))
    return [{**r, "stats": json.loads(r["stats"])} for r in rows.mappings()]
