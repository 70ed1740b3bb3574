"""What the stored memberships rest on, so a look at their as-of time reads them instead of evaluating.

A compute records here (in segmail_meta) its run, its as-of time, a digest of its rules and a stamp of
the data it read. `segments export --as-of T` serves the stored rows when all of these are the same
now: the same rules over the same data at the same T give the same memberships, so a million-contact
export costs a read of the stored table, not an evaluation.

The data stamp is what every change to the rules' inputs moves. An import, an edit, a refund, a
retention pass or an erased order lists its contacts in `feature_dirty`, and only a compute on the
feature cache empties it (store.features): a non-empty list means "changed since", and no stamp is
given at all. An erasure deletes the contact's rows outright, so the number of contacts is part of
the stamp; the newest data time, the feature cache's fingerprint, the reporting currency and the
prediction fit in force at T complete it. Anything not covered makes the stamps differ, and the look
evaluates as before: a miss costs time, never a wrong row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy import Connection, func, select

from segmail.store.currency import reporting_currency
from segmail.store.db import get_meta, set_meta
from segmail.store.features import any_stale
from segmail.store.predict_fits import fit_for
from segmail.store.schema import contacts
from segmail.store.writer import FINGERPRINT_KEY, LATEST_KEY

BASIS_KEY: Final = "memberships_basis"
_FETCH: Final = 20_000  # rows per fetch while streaming


def stored_pairs(conn: Connection) -> Iterator[tuple[str, str]]:
    """(email_key, segment) of the stored memberships in key order, straight from the driver: an
    export of a million rows spends its time writing them, not wrapping each in a Row."""
    dbapi: Any = conn.connection.dbapi_connection
    # PostgreSQL: a named (server-side) cursor, so the client holds one batch, not the whole table
    cursor = dbapi.cursor(name="segmail_memberships") if conn.dialect.name == "postgresql" else dbapi.cursor()
    try:
        cursor.execute("SELECT email_key, segment FROM memberships ORDER BY segment, email_key")
        while batch := cursor.fetchmany(_FETCH):
            yield from batch
    finally:
        cursor.close()


def data_stamp(conn: Connection, *, as_of_us: int, currency: str | None) -> dict[str, Any] | None:
    """The data an evaluation at `as_of_us` reads, in a few values; None while some contact is stale."""
    if any_stale(conn):
        return None
    found = fit_for(conn, as_of_us)
    return {
        "contacts": int(conn.execute(select(func.count()).select_from(contacts)).scalar_one()),
        "latest": get_meta(conn, LATEST_KEY),
        "features": get_meta(conn, FINGERPRINT_KEY),
        "currency": reporting_currency(conn, currency),
        "fit": None if found is None else found[0],
    }


def record(conn: Connection, *, run_id: int, basis: dict[str, Any] | None) -> None:
    """The stored memberships are run `run_id`'s, resting on `basis` (None: on nothing vouched for)."""
    set_meta(conn, BASIS_KEY, None if basis is None else {"run": run_id, **basis})


def recorded(conn: Connection) -> dict[str, Any] | None:
    """What the last compute recorded: {"run": id, **basis}, or None."""
    found = get_meta(conn, BASIS_KEY)
    return found if isinstance(found, dict) else None


# The companion record an incremental compute (segments.incremental) starts from: where the stored
# memberships' verdicts came from (as-of time, rules, the shop statistics the rules called, the feature
# cache's fingerprint). Kept apart from BASIS_KEY, which answers another question (are the stored rows
# what an evaluation at T gives now) and is None whenever data is stale.
VERDICTS_KEY: Final = "memberships_verdicts"


def record_verdicts(conn: Connection, verdicts: dict[str, Any] | None) -> None:
    """What the stored memberships' verdicts rest on; None: nothing an incremental compute may start from."""
    set_meta(conn, VERDICTS_KEY, verdicts)


def recorded_verdicts(conn: Connection) -> dict[str, Any] | None:
    found = get_meta(conn, VERDICTS_KEY)
    return found if isinstance(found, dict) else None
