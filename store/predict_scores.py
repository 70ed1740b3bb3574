"""Every buyer's prediction scores, the table the rules' prediction features read (joined to the features).

Scores depend on the fit, on T's date (T counts whole days) and on the paid orders up to T, so they are
a cache like `features`, keyed by a fingerprint of what they rest on: the fit, the day and settings, and
the paid orders up to T in two parts — those placed before T's UTC day and those placed on it (each
part's count and latest `updated_at`). Another fit, day or setting, or any change to an earlier order,
rebuilds every row; new orders of the day rescore only the day's buyers (segments/day_reference.py:
relative scores rank against the buyers as they stood at the start of the day, kept in
`predict_reference`); nothing new reuses the rows as they are, so a cycle pays only the join. Rows go
straight through the driver (SQLite `executemany`, PostgreSQL COPY): a million rows through
SQLAlchemy's insert would cost seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, FromClause, Table, and_, case, delete, func, insert, select

from segmail.store.db import get_meta, set_meta
from segmail.store.schema import orders, predict_reference, predict_today
from segmail.store.schema import predict_scores as scores
from segmail.store.upsert import insert_ignore

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FINGERPRINT_KEY = "predict_scores_fingerprint"
SCORE_COLUMNS = tuple(c.name for c in scores.columns)

__all__ = [
    "SCORE_COLUMNS",
    "count",
    "joined",
    "load_reference",
    "order_stamps",
    "replace",
    "replace_some",
    "save_reference",
    "scored_today",
    "scores",
    "set_today",
    "stored_fingerprint",
    "today_buyers",
]


def order_stamps(conn: Connection, *, day_start_us: int, as_of_us: int, paid: list[str]) -> dict[str, Any]:
    """Count and latest `updated_at` of the paid orders placed before T's day and on it up to T (one scan)."""
    o = orders.c
    earlier = o.created_at < day_start_us
    row = conn.execute(
        select(
            func.count(case((earlier, 1))),
            func.max(case((earlier, o.updated_at))),
            func.count(case((~earlier, 1))),
            func.max(case((~earlier, o.updated_at))),
        ).where(and_(o.created_at <= as_of_us, o.status.in_(paid)))
    ).one()
    stamp = [None if v is None else int(v) for v in row]
    return {"paid": sorted(paid), "before_day": stamp[:2], "today": stamp[2:]}


def stored_fingerprint(conn: Connection) -> dict[str, Any] | None:
    found = get_meta(conn, FINGERPRINT_KEY)
    return found if isinstance(found, dict) else None


def joined(features: Table) -> FromClause:
    """The features with each buyer's scores beside them; a contact without scores reads missing values."""
    return features.outerjoin(scores, scores.c.email_key == features.c.email_key)


def replace(conn: Connection, rows: Iterable[tuple[Any, ...]], wanted: dict[str, Any]) -> None:
    """Replace every score with `rows` (in SCORE_COLUMNS order) and record what they rest on."""
    conn.execute(delete(scores))
    _write(conn, rows)
    set_meta(conn, FINGERPRINT_KEY, wanted)


def replace_some(
    conn: Connection, keys: Collection[str], rows: Iterable[tuple[Any, ...]], wanted: dict[str, Any]
) -> None:
    """Replace the scores of these buyers with `rows` (a buyer without a row has no score any more)."""
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        conn.execute(delete(scores).where(scores.c.email_key.in_(ordered[start : start + _CHUNK])))
    _write(conn, rows)
    set_meta(conn, FINGERPRINT_KEY, wanted)


def _write(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
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


_CHUNK = 500


def save_reference(conn: Connection, columns: Mapping[str, npt.NDArray[np.float64]]) -> None:
    """The day's sorted reference values by kind, replacing the previous day's."""
    conn.execute(delete(predict_reference))
    rows = [
        {"name": name, "sorted_values": values.astype("<f8").tobytes()} for name, values in columns.items()
    ]
    conn.execute(insert(predict_reference), rows)


def load_reference(conn: Connection) -> dict[str, npt.NDArray[np.float64]]:
    """The columns save_reference stored, each in ascending order."""
    import numpy as np  # here: the rules engine imports this module, and NumPy costs start-up time

    t = predict_reference.c
    found = conn.execute(select(t.name, t.sorted_values))
    return {name: np.frombuffer(bytes(data), dtype="<f8").astype(np.float64) for name, data in found}


def today_buyers(conn: Connection, *, day_start_us: int, as_of_us: int, paid: list[str]) -> set[str]:
    """Who has a paid order placed on T's day up to T."""
    o = orders.c
    query = select(o.email_key).distinct()
    query = query.where(o.created_at >= day_start_us, o.created_at <= as_of_us, o.status.in_(paid))
    return set(conn.execute(query).scalars())


def scored_today(conn: Connection) -> set[str]:
    """The buyers whose stored scores were made with orders of their day (set_today)."""
    return set(conn.execute(select(predict_today.c.email_key)).scalars())


def set_today(conn: Connection, keys: Collection[str]) -> None:
    conn.execute(delete(predict_today))
    insert_ignore(conn, predict_today, [{"email_key": k} for k in sorted(keys)])


def count(conn: Connection) -> int:
    """Buyers with scores."""
    return int(conn.execute(select(func.count()).select_from(scores)).scalar_one())
