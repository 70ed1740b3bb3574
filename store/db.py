"""Opening the store: engine per URL, SQLite pragmas, schema creation and migration."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from segmail.store import segment_history, unsent
from segmail.store.job_table import move_job_references
from segmail.store.schema import (
    STAT_INDEXES,
    ab_decisions,
    campaign_activity,
    campaign_results,
    events,
    features,
    meta,
    metadata,
    order_gaps,
    predict_fits,
    privacy_audit,
    send_unsent,
    suppressions,
)

Migration = Callable[[Connection], None]


def _v2_mailchimp_columns(conn: Connection) -> None:
    """v1 → v2: Mailchimp's view of a contact (its time zone and country guesses, when it last saw it)."""
    for column, kind in (
        ("mc_timezone", "VARCHAR(64)"),
        ("mc_country", "VARCHAR(2)"),
        ("mc_seen_at", "BIGINT"),
    ):
        conn.exec_driver_sql(f"ALTER TABLE contacts ADD COLUMN {column} {kind}")


def _v3_order_address(conn: Connection) -> None:
    """v2 → v3: the order's billing/shipping country and province (time-zone guesses for buyers)."""
    for column, kind in (("country", "VARCHAR(2)"), ("province", "VARCHAR(64)")):
        conn.exec_driver_sql(f"ALTER TABLE orders ADD COLUMN {column} {kind}")


def _v4_unsent_errors(conn: Connection) -> None:
    """v3 → v4: the send_unsent table, filled from buckets that failed or were cancelled before it
    existed. Bucket ids stay as they were: a resumed old bucket is read by its stored id, title and
    segment id, so only new buckets carry the campaign in their id."""
    send_unsent.create(conn, checkfirst=True)
    unsent.backfill(conn)


def _v5_money_orders(conn: Connection) -> None:
    """v4 → v5: the features cache counts orders in the reporting currency apart (rebuilt at next compute)."""
    conn.exec_driver_sql("ALTER TABLE features ADD COLUMN money_orders_count INTEGER NOT NULL DEFAULT 0")


def _v6_segmail_import_root(conn: Connection) -> None:
    """v5 → v6: stored scheduler jobs name their functions under the `segmail.` import root."""
    move_job_references(conn)


def _v7_predict_fits(conn: Connection) -> None:
    """v6 → v7: the predict_fits table, each `predict fit`'s parameters with its as-of and data size."""
    predict_fits.create(conn, checkfirst=True)


def _v8_experiments(conn: Connection) -> None:
    """v7 → v8: each ledger row's A/B variant and test phase ("" for rows before), and the table of
    test-then-winner decisions (sending/experiments.py). Status "holdout" needs no column. Columns a
    store already has are left alone, so the step is safe on a store stamped older than its tables."""
    have = {c["name"] for c in inspect(conn).get_columns("send_ledger")}
    for column, kind in (("variant", "VARCHAR(64)"), ("ab_phase", "VARCHAR(8)")):
        if column not in have:
            conn.exec_driver_sql(f"ALTER TABLE send_ledger ADD COLUMN {column} {kind} NOT NULL DEFAULT ''")
    ab_decisions.create(conn, checkfirst=True)


def _v9_privacy(conn: Connection) -> None:
    """v8 → v9: the suppression list (keyed hashes of erased people) and the privacy audit log (issue 15)."""
    suppressions.create(conn, checkfirst=True)
    privacy_audit.create(conn, checkfirst=True)


def _v10_reports(conn: Connection) -> None:
    """v9 → v10: segment history (backfilled with the current memberships as entries), the campaign
    results the sync pulls from Mailchimp's reports (filled from the next sync on), and the events'
    index by campaign (about 6 s for 3 million events)."""
    segment_history.create_and_backfill(conn)
    campaign_results.create(conn, checkfirst=True)
    campaign_activity.create(conn, checkfirst=True)
    by_campaign = next(i for i in events.indexes if i.name == "ix_events_campaign")
    by_campaign.create(conn, checkfirst=True)


def _v11_prediction_log_and_stat_indexes(conn: Connection) -> None:
    """v10 → v11: the day's buyers table of the prediction cache is gone (the writers now log the orders
    they touch, store/predict_dirty.py; it held email keys, so it must not outlive its use), and the
    shop statistics read value indexes of the feature cache (about 2 s at 1M contacts, once)."""
    conn.exec_driver_sql("DROP TABLE IF EXISTS predict_today")
    for table in (features, order_gaps):
        for index in table.indexes:
            if index.name in STAT_INDEXES:
                index.create(conn, checkfirst=True)


# MIGRATIONS[i] upgrades a store at version i+1 to version i+2. Append, never edit or reorder.
# New tables need no step: they are created after the steps run.
MIGRATIONS: list[Migration] = [
    _v2_mailchimp_columns,
    _v3_order_address,
    _v4_unsent_errors,
    _v5_money_orders,
    _v6_segmail_import_root,
    _v7_predict_fits,
    _v8_experiments,
    _v9_privacy,
    _v10_reports,
    _v11_prediction_log_and_stat_indexes,
]
SCHEMA_VERSION = len(MIGRATIONS) + 1


class StoreError(RuntimeError):
    """The store cannot be opened or is at a schema this version does not know."""


class StoreUrlError(StoreError):
    """store.url names no database segmail can use: a config error (exit 2), not an outage."""


@dataclass(frozen=True, kw_only=True)
class Store:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def driver_error(exc: BaseException) -> BaseException | None:
    """The database driver's own error behind a failed statement (what a user is shown), or None when
    `exc` did not come from the database."""
    if not isinstance(exc, DBAPIError):
        return None
    return exc.orig if exc.orig is not None else exc


def redact_url(url: str) -> str:
    """The URL with any password masked, for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable store URL>"


DEFAULT_CACHE_MIB = 256


def engine_for(url: str, *, cache_mib: int = DEFAULT_CACHE_MIB) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, cache_mib))
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise StoreUrlError(
        f"store.url: unsupported database {parsed.get_backend_name()!r}; use sqlite or postgresql"
    )


def _sqlite_pragmas(dbapi_conn: Any, cache_mib: int) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers (status, export) never block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute(f"PRAGMA cache_size={-1024 * int(cache_mib)}")  # in KiB; large caches speed up compute
    cur.execute("PRAGMA threads=2")  # large sorts (GROUP BY, ORDER BY) may use a second core
    cur.close()


def open_store(
    url: str, *, migrations: Sequence[Migration] | None = None, cache_mib: int = DEFAULT_CACHE_MIB
) -> Store:
    """Connect, create a fresh schema or migrate an older one; refuse a newer or foreign one."""
    try:
        engine = engine_for(url, cache_mib=cache_mib)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreUrlError(
            f"store.url: cannot use {redact_url(url)}: {type(exc).__name__}; expected a URL such as "
            "sqlite:////var/lib/segmail/segmail.db or postgresql://user@host/db"
        ) from None
    try:
        with engine.begin() as conn:
            migrate(conn, MIGRATIONS if migrations is None else migrations)
    except StoreError:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        detail = str(exc).split("\n", 1)[0].replace(make_url(url).password or "\0", "***")
        raise StoreError(
            f"cannot open the store at {redact_url(url)}: {type(exc).__name__}: {detail} — check store.url "
            "(or SEGMAIL_STORE_URL) and that the database is reachable"
        ) from None
    return Store(engine=engine)


def migrate(conn: Connection, migrations: Sequence[Migration]) -> int:
    target = len(migrations) + 1
    tables = set(inspect(conn).get_table_names())
    if meta.name not in tables:
        known = {t.name for t in metadata.sorted_tables}
        if tables & known:
            raise StoreError(
                f"the database has segmail-like tables ({', '.join(sorted(tables & known))}) but no "
                f"{meta.name} table; refusing to touch it"
            )
        metadata.create_all(conn)
        _set_version(conn, target)
        return target
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one_or_none()
    if row is None:
        raise StoreError(f"{meta.name} has no schema_version; refusing to guess the schema")
    current = int(row)
    if current > target:
        raise StoreError(
            f"the store is at schema version {current}, newer than this segmail knows ({target}); "
            "upgrade segmail"
        )
    for version in range(current, target):
        migrations[version - 1](conn)
        _set_version(conn, version + 1)
    metadata.create_all(conn)  # tables added by this version's schema but no migration (new caches)
    return target


def _set_version(conn: Connection, version: int) -> None:
    conn.execute(meta.delete().where(meta.c.key == "schema_version"))
    conn.execute(meta.insert().values(key="schema_version", value=str(version)))


def get_meta(conn: Connection, key: str) -> Any:
    raw = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()
    return None if raw is None else json.loads(raw)


def set_meta(conn: Connection, key: str, value: Any) -> None:
    conn.execute(meta.delete().where(meta.c.key == key))
    conn.execute(meta.insert().values(key=key, value=json.dumps(value)))
