"""Every buyer's prediction scores, the table the rules' prediction features read (joined to the features).

Scores depend on the fit, on T's date (T counts whole days) and on the paid orders up to T, so they are
a cache like `features`: rebuilt when its fingerprint changes — another fit, another day, other
settings, or any order up to T written or removed since (their count and latest `updated_at`) — and
reused otherwise, so a cycle without new orders pays only the join. The rebuild goes straight
through the driver (SQLite `executemany`, PostgreSQL COPY): a million rows through SQLAlchemy's
insert would cost seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, FromClause, Table, and_, delete, func, select

from segmail.store.db import get_meta, set_meta
from segmail.store.schema import orders
from segmail.store.schema import predict_scores as scores

FINGERPRINT_KEY = "predict_scores_fingerprint"
SCORE_COLUMNS = tuple(c.name for c in scores.columns)

__all__ = ["SCORE_COLUMNS", "count", "fingerprint", "joined", "replace", "scores", "up_to_date"]


def fingerprint(
    conn: Connection, settings: dict[str, Any], *, as_of_us: int, paid: list[str]
) -> dict[str, Any]:
    """What the scores rest on: `settings` (fit, day, rate, currency) and the paid orders up to T."""
    o = orders.c
    count, latest = conn.execute(
        select(func.count(), func.max(o.updated_at)).where(and_(o.created_at <= as_of_us, o.status.in_(paid)))
    ).one()
    return {**settings, "paid": sorted(paid), "orders": [int(count), None if latest is None else int(latest)]}


def up_to_date(conn: Connection, wanted: dict[str, Any]) -> bool:
    """Whether the stored scores were built from exactly this fingerprint."""
    return bool(get_meta(conn, FINGERPRINT_KEY) == wanted)


def joined(features: Table) -> FromClause:
    """The features with each buyer's scores beside them; a contact without scores reads missing values."""
    return features.outerjoin(scores, scores.c.email_key == features.c.email_key)


def replace(conn: Connection, rows: Iterable[tuple[Any, ...]], wanted: dict[str, Any]) -> None:
    """Replace every score with `rows` (in SCORE_COLUMNS order) and record what they rest on."""
    conn.execute(delete(scores))
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor: Any = raw.cursor()  # sqlite3 takes an iterator of rows: no million-row list in memory
    try:
        if conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY {scores.name} ({', '.join(SCORE_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in SCORE_COLUMNS)
            cursor.executemany(f"INSERT INTO {scores.name} VALUES ({marks})", rows)
    finally:
        cursor.close()
    set_meta(conn, FINGERPRINT_KEY, wanted)


def count(conn: Connection) -> int:
    """Buyers with scores."""
    return int(conn.execute(select(func.count()).select_from(scores)).scalar_one())
