"""CSV import: bad rows named and skipped, good rows kept, idempotent, whole-file errors first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from segmail.connector.csv_files import CsvFileError, CsvReader
from segmail.connector.records import Contact, Order, RowProblem
from segmail.jobs.importer import import_csv
from segmail.store.schema import contacts, events, orders

NOW = datetime(2026, 6, 15, tzinfo=UTC)

CONTACTS = """email,status,opted_in_at,timezone,country,language,first_name,last_name,extra
 Jane.Doe@Example.com ,subscribed,2026-05-01T10:00:00Z,Europe/Berlin,de,de,Jane,Doe,x
bob@example.com,unsubscribed,,,,,,,
not-an-email,subscribed,2026-05-01T10:00:00Z,,,,,,
carol@example.com,subscribed,2026-13-45,,,,,,
dave@example.com,vip,2026-05-01T10:00:00Z,,,,,,
erin@example.com,subscribed,2026-05-01T10:00:00Z,Mars/Olympus,,,,,
frank@example.com,pending,2026-05-01 10:00:00,Asia/Kathmandu,XX,,,,
"""

ORDERS = """order_id,email,created_at,total,currency,status,refunded,categories
1001, JANE.doe@example.com,2026-05-02T10:00:00+02:00,59.90,eur,paid,,Boots|Coats
1002,bob@example.com,2026-05-03T10:00:00Z,12.3x,EUR,paid,0,
1003,bob@example.com,2026-05-03T10:00:00,10.00,EUR,paid,0,
1004,bob@example.com,2026-05-03T10:00:00Z,10.00,EUR,paid,20.00,
1005,guest@example.com,2026-05-04T10:00:00Z,100.00,EUR,partially_refunded,25.50,
,bob@example.com,2026-05-03T10:00:00Z,10.00,EUR,paid,0,
1006,bob@example.com,2026-05-03T10:00:00Z,10.00001,EUR,paid,0,
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_contacts_bad_rows_are_named_skipped_and_counted(store, tmp_path):
    path = write(tmp_path, "contacts.csv", CONTACTS)
    summary = import_csv(store, path, "contacts", now=NOW)
    reasons = {(p.line, p.severity): p.reason for p in summary.problems}
    assert summary.rows_read == 7 and summary.skipped == 4 and summary.warnings == 1
    assert reasons[(4, "error")] == "email is not a valid address"
    assert "opted_in_at '2026-13-45' is not an ISO 8601" in reasons[(5, "error")]
    assert "status 'vip' is not one of" in reasons[(6, "error")]
    assert "timezone 'Mars/Olympus' is not an IANA time zone" in reasons[(7, "error")]
    assert "country 'XX'" in reasons[(8, "warning")]
    assert all(p.file == str(path) for p in summary.problems)
    with store.engine.connect() as conn:
        rows = {r.email_key: r for r in conn.execute(select(contacts))}
    assert set(rows) == {"jane.doe@example.com", "bob@example.com", "frank@example.com"}
    jane = rows["jane.doe@example.com"]
    assert (jane.email, jane.country, jane.timezone, jane.first_name) == (
        "Jane.Doe@Example.com",
        "DE",
        "Europe/Berlin",
        "Jane",
    )
    assert rows["frank@example.com"].country is None  # dropped with a warning, row kept
    assert rows["bob@example.com"].opted_in_at is None


def test_problem_messages_never_echo_the_bad_email(tmp_path):
    path = write(tmp_path, "c.csv", "email,status,opted_in_at\nsecret person@@example.com,subscribed,\n")
    with CsvReader(path, "contacts") as reader:
        (problem,) = list(reader)
    assert isinstance(problem, RowProblem)
    assert "secret" not in str(problem)


def test_orders_parse_money_offsets_refunds_and_messy_emails(store, tmp_path):
    summary = import_csv(store, write(tmp_path, "orders.csv", ORDERS), "orders", now=NOW)
    reasons = {p.line: p.reason for p in summary.problems}
    assert summary.skipped == 5
    assert "total '12.3x' is not a decimal amount" in reasons[3]
    assert "has no UTC offset" in reasons[4]
    assert "refunded 20.00 is more than total 10.00" in reasons[5]
    assert reasons[7] == "order_id is empty"
    assert "total '10.00001' has more than four decimals" in reasons[8]
    with store.engine.connect() as conn:
        got = {r.order_id: r for r in conn.execute(select(orders))}
    assert set(got) == {"1001", "1005"}
    first = got["1001"]
    assert first.email_key == "jane.doe@example.com"
    assert first.total_e4 == 599_000 and first.currency == "EUR" and first.categories == "|boots|coats|"
    assert first.created_at == int(datetime(2026, 5, 2, 8, 0, tzinfo=UTC).timestamp() * 1_000_000)
    assert got["1005"].refunded_e4 == 255_000


def test_reimport_is_idempotent_and_edits_update_in_place(store, tmp_path):
    path = write(tmp_path, "orders.csv", ORDERS)
    import_csv(store, path, "orders", now=NOW)
    events_path = write(
        tmp_path,
        "events.csv",
        "email,type,at,campaign_id\na@example.com,open,2026-05-01T00:00:00Z,c1\nA@example.com ,OPEN,2026-05-01T00:00:00Z,c1\na@example.com,click,2026-05-01T00:00:00Z,\n",
    )
    import_csv(store, events_path, "events", now=NOW)

    def snapshot():
        with store.engine.connect() as conn:
            return (
                sorted(tuple(r) for r in conn.execute(select(orders).order_by(orders.c.order_id))),
                sorted(tuple(r) for r in conn.execute(select(events))),
            )

    before = snapshot()
    assert len(before[1]) == 2  # the duplicate open collapsed
    later = NOW + timedelta(days=3)  # a re-import on another day changes nothing, not even updated_at
    import_csv(store, path, "orders", now=later)
    import_csv(store, events_path, "events", now=later)
    assert snapshot() == before
    edited = write(
        tmp_path,
        "edit.csv",
        "order_id,email,created_at,total,currency,status,refunded\n1001,jane.doe@example.com,2026-05-02T10:00:00+02:00,59.90,EUR,refunded,59.90\n",
    )
    import_csv(store, edited, "orders", now=NOW)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar() == 2
        row = conn.execute(select(orders).where(orders.c.order_id == "1001")).one()
    assert (row.status, row.refunded_e4) == ("refunded", 599_000)


def test_missing_required_column_fails_before_anything_is_written(store, tmp_path):
    path = write(
        tmp_path, "orders.csv", "order_id,email,total,currency,status\n1,a@example.com,1.00,EUR,paid\n"
    )
    with pytest.raises(CsvFileError, match=r"orders.csv:1: missing required column\(s\) created_at"):
        import_csv(store, path, "orders", now=NOW)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar() == 0


def test_unreadable_and_empty_files_are_one_clear_error(tmp_path):
    with pytest.raises(CsvFileError, match="cannot read"):
        CsvReader(tmp_path / "absent.csv", "contacts")
    empty = write(tmp_path, "empty.csv", "")
    with pytest.raises(CsvFileError, match=r"empty\.csv: the file is empty"):
        CsvReader(empty, "contacts")


def test_reader_handles_bom_quotes_short_rows_and_blank_lines(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(
        b'\xef\xbb\xbfEmail,Status,Opted_In_At,Last_Name\n"x@example.com",subscribed,,"O\'Brien, Jr"\n\n'
        b"y@example.com,subscribed\nz@example.com,subscribed,,\xff\n"
    )
    with CsvReader(path, "contacts") as reader:
        items = list(reader)
    assert isinstance(items[0], Contact) and items[0].last_name == "O'Brien, Jr"
    assert isinstance(items[1], RowProblem) and items[1].line == 4 and "2 fields" in items[1].reason
    assert isinstance(items[2], Contact) and items[2].last_name == "\ufffd"


def test_order_record_types(tmp_path):
    path = write(
        tmp_path,
        "o.csv",
        "order_id,email,created_at,total,currency,status\n9,a@example.com,2026-01-01T00:00:00Z,1.5,usd,Completed\n",
    )
    with CsvReader(path, "orders") as reader:
        (order,) = list(reader)
    assert isinstance(order, Order)
    assert order.total == Decimal("1.5") and order.refunded == Decimal(0) and order.status == "completed"
    assert order.created_at.tzinfo is not None


def test_parallel_import_writes_exactly_what_the_in_process_import_writes(tmp_path):
    from segmail.sandbox.shopgen import generate_shop
    from segmail.store.db import open_store

    files = generate_shop(tmp_path / "shop", contacts=400, seed=2, as_of=NOW, messy_rows=True)
    results = []
    for parallel in (False, True):
        s = open_store(f"sqlite:///{tmp_path / f'p{parallel}.db'}")
        summaries = [
            import_csv(s, path, kind, now=NOW, parallel=parallel)
            for kind, path in (
                ("contacts", files.contacts),
                ("orders", files.orders),
                ("events", files.events),
            )
        ]
        with s.engine.connect() as conn:
            tables = [sorted(tuple(r) for r in conn.execute(select(t))) for t in (contacts, orders, events)]
        results.append(
            ([(x.rows_read, x.written, x.skipped, [str(p) for p in x.problems]) for x in summaries], tables)
        )
        s.dispose()
    assert results[0] == results[1]
    assert results[0][0][0][2] == 5  # the messy rows were reported by the child too


def test_contact_reimport_changes_nothing_but_a_real_edit_updates(store, tmp_path):
    path = write(tmp_path, "contacts.csv", CONTACTS)
    import_csv(store, path, "contacts", now=NOW)

    def rows():
        with store.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(contacts)))

    before = rows()
    import_csv(store, path, "contacts", now=NOW + timedelta(days=1))
    assert rows() == before
    edited = write(tmp_path, "edit.csv", "email,status,opted_in_at\nbob@example.com,cleaned,\n")
    import_csv(store, edited, "contacts", now=NOW + timedelta(days=2))
    with store.engine.connect() as conn:
        bob = conn.execute(select(contacts).where(contacts.c.email_key == "bob@example.com")).one()
    from segmail.store.codec import to_us

    assert bob.status == "cleaned" and bob.updated_at == to_us(NOW + timedelta(days=2))
