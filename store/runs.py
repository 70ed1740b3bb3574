"""The run log: one row per job run with its status, counts and error."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from segmail.store.codec import from_us, to_us
from segmail.store.schema import runs

# pg_advisory_xact_lock key serialising run numbers: "runs" in ASCII (the leader lock uses "segmail").
RUN_NUMBER_LOCK = 0x72756E73


def start_run(conn: Connection, *, kind: str, as_of: datetime, now: datetime) -> int:
    """Log a run under the next number, max(id) + 1, taken inside the caller's transaction.

    Users read these numbers ("cycle run 3", "compute run 4"), so they count 1, 2, 3 … without gaps
    on both databases. An autoincrement id does not: PostgreSQL never hands out again a sequence value
    whose insert rolled back (a failed compute, whose transaction rolls back before the failure is
    logged). With max + 1 a rolled-back number is simply taken by the next run. On PostgreSQL a
    transaction-scoped advisory lock makes a concurrent writer wait for the holder's commit or
    rollback instead of computing the same number; SQLite already serialises writers.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(RUN_NUMBER_LOCK)))
    next_id = select(func.coalesce(func.max(runs.c.id), 0) + 1).scalar_subquery()
    return int(
        conn.execute(
            insert(runs)
            .values(
                id=next_id, kind=kind, as_of=to_us(as_of), started_at=to_us(now), status="running", stats="{}"
            )
            .returning(runs.c.id)
        ).scalar_one()
    )


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
