"""APScheduler's job table in the store's own database: the service's schedule survives restarts.

The table is APScheduler's (its SQLAlchemyJobStore creates and writes it); segmail reads only the
id and next run time, never the pickled job, so `segmail status` works without the job's code (the one exception, a
migration that rewrites the function references in it, is store/job_table.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import inspect, text

from segmail.store.db import Store
from segmail.store.job_table import JOBS_TABLE


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    id: str
    next_run_time: datetime | None  # None while the job is paused


def job_store(store: Store) -> SQLAlchemyJobStore:
    return SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE)


def next_jobs(store: Store, *, limit: int = 20) -> list[ScheduledJob]:
    """Scheduled jobs, soonest first, read without unpickling them; none before the service first ran."""
    with store.engine.begin() as conn:
        if JOBS_TABLE not in inspect(conn).get_table_names():
            return []
        rows = conn.execute(
            text(f"SELECT id, next_run_time FROM {JOBS_TABLE} ORDER BY next_run_time LIMIT :n"), {"n": limit}
        ).all()
    return [
        ScheduledJob(str(r[0]), datetime.fromtimestamp(r[1], UTC) if r[1] is not None else None) for r in rows
    ]
