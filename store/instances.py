"""Service instances and their heartbeats: which one is active, which wait on standby.

The lock (file or advisory) decides who acts; these rows only tell people and standbys about it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from segmail.store.schema import instances


def beat(
    conn: Connection,
    *,
    instance_id: str,
    host: str,
    pid: int,
    role: str,
    started_us: int,
    now_us: int,
    version: str,
) -> None:
    changed = conn.execute(
        update(instances).where(instances.c.instance_id == instance_id).values(role=role, heartbeat_at=now_us)
    ).rowcount
    if not changed:
        conn.execute(
            instances.insert().values(
                instance_id=instance_id, host=host, pid=pid, role=role,
                started_at=started_us, heartbeat_at=now_us, version=version,
            )
        )  # fmt: skip


def listing(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(instances).order_by(instances.c.heartbeat_at.desc())).mappings()
    return [dict(r) for r in rows]


def forget_older_than(conn: Connection, cutoff_us: int) -> None:
    """Stopped or vanished instances linger for a while in `segmail status`, then go."""
    conn.execute(delete(instances).where(instances.c.heartbeat_at < cutoff_us))
