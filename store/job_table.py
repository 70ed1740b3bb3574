"""The name of APScheduler's job table, and the one-time rewrite of the function references stored in it.

APScheduler pickles each job with its function as a textual reference
(`module:function`) and imports that module when it loads the job. Version 0.1 stored
`jobs.send:send_job`; since segmail installs under one import root the module is
`segmail.jobs.send`, and a job naming the old path would fail to load and be dropped (a planned
send lost). The store migration to v6 rewrites those references once, in place.
"""

from __future__ import annotations

import pickle
from typing import Final

from sqlalchemy import Connection, inspect, text

JOBS_TABLE: Final = "segmail_jobs"
# the import roots of version 0.1, each now under `segmail.`
_OLD_ROOTS = frozenset({"connector", "store", "segments", "sending", "jobs", "sandbox"})


def rooted(reference: str) -> str:
    """`jobs.send:send_job` → `segmail.jobs.send:send_job`; any other reference is returned as it is."""
    module = reference.split(":", 1)[0]
    return f"segmail.{reference}" if module.split(".", 1)[0] in _OLD_ROOTS else reference


def move_job_references(conn: Connection) -> int:
    """Rewrite every stored job's function reference to the `segmail.` root; returns how many changed.

    The pickles are segmail's own (written by APScheduler in this store), the same trust APScheduler
    itself gives them when it loads a job. Protocol and the rest of the job state are kept.
    """
    if JOBS_TABLE not in inspect(conn).get_table_names():
        return 0
    changed = 0
    rows = conn.execute(text(f"SELECT id, job_state FROM {JOBS_TABLE}")).all()
    for job_id, blob in rows:
        state = pickle.loads(blob)
        func = state.get("func")
        if isinstance(func, str) and rooted(func) != func:
            state["func"] = rooted(func)
            conn.execute(
                text(f"UPDATE {JOBS_TABLE} SET job_state = :s WHERE id = :i"),
                {"s": pickle.dumps(state, pickle.HIGHEST_PROTOCOL), "i": job_id},
            )
            changed += 1
    return changed
