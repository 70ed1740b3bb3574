"""The store: created fresh, migrated step by step, newer or foreign schemas refused; secrets redacted."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, create_engine, inspect, text

from segmail.store.db import MIGRATIONS, SCHEMA_VERSION, StoreError, get_meta, open_store, redact_url


def _version(store) -> str:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT value FROM segmail_meta WHERE key = 'schema_version'")).scalar_one()


def test_fresh_store_has_every_table_at_the_current_version(store):
    names = set(inspect(store.engine).get_table_names())
    assert {"contacts", "orders", "events", "cursors", "memberships", "esp_memberships", "runs"} <= names
    assert _version(store) == str(SCHEMA_VERSION)


def test_sqlite_uses_wal(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    s.dispose()


def test_v1_store_is_migrated_to_the_current_schema_and_keeps_its_data(store_url):
    open_store(store_url, migrations=[]).dispose()  # stamped v1
    engine = create_engine(store_url)
    with engine.begin() as conn:  # make it look exactly like v1: no Mailchimp columns yet
        for column in ("mc_timezone", "mc_country", "mc_seen_at"):
            conn.execute(text(f"ALTER TABLE contacts DROP COLUMN {column}"))
        for column in ("country", "province"):
            conn.execute(text(f"ALTER TABLE orders DROP COLUMN {column}"))
        conn.execute(text("DROP TABLE send_unsent"))  # v4
        for index in ("ix_features_spend", "ix_order_gaps_gap"):  # v11
            conn.execute(text(f"DROP INDEX {index}"))
        conn.execute(text("ALTER TABLE features DROP COLUMN money_orders_count"))  # v5
        for table in ("segment_history", "campaign_results", "campaign_activity"):  # v10
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("DROP TABLE privacy_audit"))  # v9
        conn.execute(text("DROP TABLE suppressions"))
        for column in ("variant", "ab_phase"):  # v8
            conn.execute(text(f"ALTER TABLE send_ledger DROP COLUMN {column}"))
        conn.execute(text("DROP TABLE ab_decisions"))
        # v11 drops the day's buyers of the prediction cache (it holds email keys)
        conn.execute(text("CREATE TABLE predict_today (email_key VARCHAR(320) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO predict_today VALUES ('a@example.com')"))
        conn.execute(
            text(
                "INSERT INTO contacts (email_key, email, status, source, updated_at) "
                "VALUES ('a@example.com', 'A@example.com', 'subscribed', 'csv', 1)"
            )
        )
    engine.dispose()
    migrated = open_store(store_url)
    assert _version(migrated) == str(SCHEMA_VERSION) == "11"
    with migrated.engine.connect() as conn:
        assert "predict_today" not in inspect(conn).get_table_names()
        indexes = {i["name"] for t in ("features", "order_gaps") for i in inspect(conn).get_indexes(t)}
        assert {"ix_features_spend", "ix_order_gaps_gap"} <= indexes
        assert conn.execute(text("SELECT count(country) FROM orders")).scalar() == 0
        assert conn.execute(text("SELECT count(money_orders_count) FROM features")).scalar() == 0
    with migrated.engine.connect() as conn:
        row = conn.execute(text("SELECT email, mc_timezone, mc_seen_at FROM contacts")).one()
    assert tuple(row) == ("A@example.com", None, None)
    migrated.dispose()


def test_later_steps_run_in_order_once(store_url):
    open_store(store_url).dispose()
    applied: list[str] = []

    def add_note(conn: Connection) -> None:
        applied.append("add")
        conn.execute(text("ALTER TABLE cursors ADD COLUMN note VARCHAR(20)"))

    def fill_note(conn: Connection) -> None:
        applied.append("fill")
        conn.execute(text("UPDATE cursors SET note = 'migrated'"))

    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO cursors (source, stream, value, updated_at) VALUES ('csv', 's', 'v', 1)")
        )
    engine.dispose()
    steps = [*MIGRATIONS, add_note, fill_note]
    migrated = open_store(store_url, migrations=steps)
    assert applied == ["add", "fill"] and _version(migrated) == str(SCHEMA_VERSION + 2)
    with migrated.engine.connect() as conn:
        assert conn.execute(text("SELECT value, note FROM cursors")).one() == ("v", "migrated")
        assert get_meta(conn, "missing") is None
    migrated.dispose()
    open_store(store_url, migrations=steps).dispose()
    assert applied == ["add", "fill"]  # nothing re-applied


def test_newer_store_is_refused_not_dropped(store_url):
    open_store(store_url, migrations=[*MIGRATIONS, lambda conn: None]).dispose()
    newer, known = SCHEMA_VERSION + 1, SCHEMA_VERSION
    with pytest.raises(
        StoreError, match=rf"schema version {newer}, newer than this segmail knows \({known}\)"
    ):
        open_store(store_url)


def test_foreign_database_with_our_table_names_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE contacts (id INTEGER)"))
    engine.dispose()
    with pytest.raises(StoreError, match="refusing to touch it"):
        open_store(url)


def test_unopenable_store_names_the_url_without_its_password(tmp_path):
    with pytest.raises(StoreError) as info:
        open_store("postgresql://segmail:hunter2@127.0.0.1:1/nope")
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
