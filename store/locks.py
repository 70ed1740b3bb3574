"""One active instance per store: a file lock for SQLite, an advisory lock for PostgreSQL.

Both locks die with their holder (the kernel drops a dead process's flock; PostgreSQL drops a
closed session's advisory locks), so a crashed instance never blocks the next one and no lease
timing has to be trusted. For PostgreSQL the lock session asks the server to probe a silent
client with TCP keepalives, so a vanished machine loses its lock within `failover_after`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger("segmail.service")

# pg_try_advisory_lock key: a constant, "segmail" in ASCII; one lock per database.
ADVISORY_KEY = 0x7365676D61696C


class Leadership(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...

    def describe(self) -> str: ...


class FileLeadership:
    """`flock` on `<store>.lock`: advisory, per open file, released by the kernel when the holder dies."""

    def __init__(self, path: Path, *, identity: str) -> None:
        self.path = path
        self.identity = identity
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, self.identity.encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def describe(self) -> str:
        return f"file lock {self.path}"

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"


class AdvisoryLeadership:
    """A session-level `pg_try_advisory_lock` on a dedicated connection that is never pooled."""

    def __init__(self, url: str, *, failover_after: timedelta) -> None:
        seconds = max(1, int(failover_after.total_seconds()))
        idle, interval, count = max(1, seconds // 3), max(1, seconds // 6), 3
        self._engine: Engine = create_engine(
            make_url(url),
            poolclass=NullPool,
            connect_args={
                # the client side notices a dead server or network as fast as the server side does
                "keepalives": 1,
                "keepalives_idle": idle,
                "keepalives_interval": interval,
                "keepalives_count": count,
                "tcp_user_timeout": seconds * 1000,
                "connect_timeout": max(2, seconds // 3),
            },
        )
        self._server_keepalive = (idle, interval, count)
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            idle, interval, count = self._server_keepalive
            # server side: a silent holder's session — and with it the lock — ends within failover_after
            conn.exec_driver_sql(f"SET tcp_keepalives_idle = {idle}")
            conn.exec_driver_sql(f"SET tcp_keepalives_interval = {interval}")
            conn.exec_driver_sql(f"SET tcp_keepalives_count = {count}")
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": ADVISORY_KEY},
            ).scalar()
            self._conn.commit()
        except Exception as exc:  # the session is gone, and the lock with it
            log.error("lost the connection holding the leadership lock: %s", type(exc).__name__)
            self._drop()
            return False
        if not held:
            self._drop()
        return bool(held)

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                self._conn.commit()
            except Exception:
                pass
            self._drop()
        self._engine.dispose()

    def describe(self) -> str:
        return "PostgreSQL advisory lock"


def identity() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def leadership_for(store_url: str, *, failover_after: timedelta) -> Leadership:
    url = make_url(store_url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLeadership(store_url, failover_after=failover_after)
    database = url.database
    if not database or database == ":memory:":
        raise ValueError("the service needs a file or PostgreSQL store, not an in-memory one")
    return FileLeadership(Path(database + ".lock"), identity=identity())
