"""`forget` in the store, on SQLite and PostgreSQL: the person is nowhere afterwards, segments and campaign
counts are as if they had never been there, and no import brings them back."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import create_engine, select, text

from segmail.jobs.importer import import_csv
from segmail.jobs.privacy import ErasureRequest, erase
from segmail.store import audit
from segmail.store.erasure import ERASED_PREFIX, TABLE_ACTIONS
from segmail.store.schema import contacts, metadata, orders, suppressions
from segmail.store.suppression import SECRET_KEY
from tests.conftest import T
from tests.privacy_data import (
    JANE,
    JANE_KEY,
    OTHERS,
    add_jane,
    base,
    campaign_counts,
    count_rows,
    found_anywhere,
    mail_history,
    segments,
)
from tests.shop import config

JANE_HASH = hashlib.md5(JANE_KEY.encode()).hexdigest()  # her Mailchimp subscriber id


def forget(store, *emails, **kw):
    req = ErasureRequest(emails=emails, **kw)
    return erase(store, config(), req, now=T, command="segmail forget", api=None, mode="skip")


def test_every_table_has_a_declared_fate():
    """A new table must say what an erasure does to it (store/erasure.py TABLE_ACTIONS)."""
    assert set(TABLE_ACTIONS) == {t.name for t in metadata.sorted_tables}


@pytest.fixture
def shop_with_jane(store):
    """Segments of the shop without her, then the same shop with her data everywhere."""
    shop = base(store)
    shop.flush(T)
    without = segments(store)
    add_jane(shop)
    shop.flush(T)
    with_her = segments(store)
    mail_history(store)
    assert JANE_KEY in with_her["vip"] and with_her["vip"] - {JANE_KEY} != without["vip"], (
        "the test needs her to move the VIP threshold"
    )
    return without


def test_after_forget_the_email_is_nowhere_and_segments_are_as_without_her(store, store_url, shop_with_jane):
    without = shop_with_jane
    orders_before = count_rows(store, orders)
    counts_before = campaign_counts(store)
    assert found_anywhere(store_url, [JANE_KEY, JANE_HASH])  # the search finds her before

    result = forget(store, JANE)

    assert found_anywhere(store_url, [JANE_KEY, JANE_HASH, "Jane.Doe"]) == []
    assert result.people == result.found == 1 and result.newly_suppressed == 1
    for table in ("contacts", "events", "memberships", "esp_memberships", "esp_push_errors", "features",
                  "send_unsent", "orders", "send_ledger"):  # fmt: skip
        assert result.rows.get(table), table
    # segments as if she had never been imported: same members, VIP threshold and repurchase median
    assert segments(store) == without
    # campaign counts unchanged: the ledger and bucket rows stay, nobody in them
    assert campaign_counts(store) == counts_before
    with store.engine.connect() as conn:
        kept = (
            conn.execute(select(orders).where(orders.c.email_key.startswith(ERASED_PREFIX))).mappings().all()
        )
    assert count_rows(store, orders) == orders_before and len(kept) == 4
    assert len({o["email_key"] for o in kept}) == 1  # one anonymous customer: repeat buying survives
    assert {o["total_e4"] for o in kept} == {4_000_000} and all(o["categories"] == "" for o in kept)
    assert all(o["created_at"] % 86_400_000_000 == 0 and o["country"] is None for o in kept)


def test_the_suppression_list_holds_a_keyed_hash_and_the_audit_no_email(store, store_url, shop_with_jane):
    forget(store, JANE)
    with store.engine.connect() as conn:
        (entry,) = conn.execute(select(suppressions.c.email_hash)).scalars().all()
        log = audit.entries(conn)
    plain = {hashlib.sha256(JANE_KEY.encode()).hexdigest(), hashlib.md5(JANE_KEY.encode()).hexdigest()}
    assert len(entry) == 64 and entry not in plain  # HMAC under the store's secret, not a plain hash
    assert [e["kind"] for e in log] == ["suppression", "erasure"]
    assert log[1]["people"] == 1 and log[1]["rows"]["contacts"] == 1 and log[1]["command"] == "segmail forget"
    assert JANE_KEY not in json.dumps(log, default=str).lower()


def test_a_reimport_does_not_bring_her_back(store, tmp_path, shop_with_jane):
    forget(store, JANE)
    people = tmp_path / "contacts.csv"
    people.write_text(
        f"email,status\n{JANE},subscribed\n{OTHERS[0]},subscribed\nnew@shop.example,subscribed\n"
    )
    sales = tmp_path / "orders.csv"
    sales.write_text(
        "order_id,email,created_at,total,currency,status\n"
        f"9001,{JANE_KEY},2026-06-01T10:00:00Z,99.00,EUR,paid\n9002,new@shop.example,2026-06-01T10:00:00Z,5.00,EUR,paid\n"
    )
    first = import_csv(store, people, "contacts", now=T)
    second = import_csv(store, sales, "orders", now=T)
    assert (first.suppressed, first.written, second.suppressed, second.written) == (1, 2, 1, 1)
    with store.engine.connect() as conn:
        keys = set(conn.execute(select(contacts.c.email_key)).scalars())
        owners = set(conn.execute(select(orders.c.email_key)).scalars())
    assert JANE_KEY not in keys | owners and "new@shop.example" in keys | owners


def test_forgetting_a_stranger_suppresses_them_and_is_idempotent(store, store_url):
    base(store).flush(T)
    first = forget(store, "Nobody@Example.org")
    again = forget(store, "nobody@example.org")
    assert (first.people, first.found, first.newly_suppressed, first.rows) == (1, 0, 1, {})
    assert (again.newly_suppressed, again.rows) == (0, {})
    assert count_rows(store, suppressions) == 1


def test_shopify_orders_to_redact_are_anonymised_whoever_holds_them(store):
    shop = base(store)
    shop.flush(T)
    with store.engine.begin() as conn:
        conn.execute(
            orders.update()
            .where(orders.c.email_key == OTHERS[1])
            .values(source="shopify", order_id="450789469")
        )
    result = forget(store, order_ids=("450789469",), request="shopify customers/redact")
    assert result.people == 1 and result.rows["contacts"] == 1  # the owner of the named order is the customer
    with store.engine.connect() as conn:
        assert not conn.execute(select(orders).where(orders.c.order_id == "450789469")).first()
        assert conn.execute(select(contacts).where(contacts.c.email_key == OTHERS[1])).first() is None


def test_shop_redact_deletes_the_shops_orders_and_cursors(store):
    shop = base(store)
    shop.flush(T)
    with store.engine.begin() as conn:
        conn.execute(orders.update().where(orders.c.email_key.in_(OTHERS[:5])).values(source="shopify"))
        conn.execute(
            text(
                "INSERT INTO cursors (source, stream, value, updated_at) VALUES ('shopify', 'orders', 'c', 1)"
            )
        )
    result = forget(store, whole_source="shopify", request="shopify shop/redact")
    assert result.people == 0 and result.rows == {"orders": 7, "cursors": 1}
    with store.engine.connect() as conn:
        assert conn.execute(select(orders).where(orders.c.source == "shopify")).first() is None
        assert conn.execute(select(contacts)).first() is not None  # Mailchimp's contacts are not the shop's


def test_the_sqlite_file_holds_no_trace_after_a_checkpoint_and_vacuum(tmp_path):
    from segmail.store.db import open_store

    url = f"sqlite:///{tmp_path / 'file.db'}"
    store = open_store(url)
    try:
        shop = base(store)
        shop.flush(T)
        add_jane(shop)
        shop.flush(T)
        segments(store)
        mail_history(store)
        forget(store, JANE)
    finally:
        store.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("file.db")).lower()
    assert JANE_KEY.encode() not in raw and JANE_HASH.encode() not in raw and b"secret-hobby" not in raw
    assert OTHERS[0].encode() in raw  # the search does find what is still there
    assert SECRET_KEY.encode() in raw
