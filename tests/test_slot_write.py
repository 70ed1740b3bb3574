"""A send job's skips and buckets go into the store in one transaction (store/ledger.py `write_slot`).

A part whose key another run holds is left out and reported (the others still go in), and nothing is
committed before the caller's transaction is: on SQLite the driver opens its transaction lazily, so a
savepoint taken before the first write would otherwise commit on its own.
"""

from __future__ import annotations

from sqlalchemy import select

from segmail.store import ledger
from segmail.store.ledger import Entry, NewBucket, SlotWrite
from segmail.store.schema import send_buckets, send_ledger

AT = 1_700_000_000_000_000


def entry(email, reason=None):
    return Entry(email, "2026-12-01", AT, "Europe/Berlin", "mailchimp", reason)


def bucket(prefix, *emails):
    return NewBucket(prefix=prefix, slot_at=AT, send_at=AT, variant=f'{{"k": "{prefix}"}}', title=f"t {prefix}",
                     entries=tuple(entry(e) for e in emails))  # fmt: skip


def rows(store, table):
    with store.engine.connect() as conn:
        return conn.execute(select(table)).mappings().all()


def test_a_bucket_whose_id_is_taken_is_left_out_and_the_others_are_written(store):
    with store.engine.begin() as conn:  # an older bucket (another campaign) holds the id c-two-0
        ledger.write_slot(
            conn, SlotWrite(campaign="other", created_at=AT, buckets=(bucket("c-two", "x@x.io"),))
        )
    write = SlotWrite(
        campaign="c", created_at=AT, skips=(entry("s@x.io", "late"),),
        buckets=(bucket("c-one", "a@x.io", "b@x.io"), bucket("c-two", "c@x.io"), bucket("c-three", "d@x.io")),
    )  # fmt: skip
    with store.engine.begin() as conn:
        written = ledger.write_slot(conn, write)
    assert written.created == (("c-one-0", 2), ("c-three-0", 1)) and not written.skips_taken
    (missed,) = written.not_created
    assert (missed.prefix, missed.planned, missed.left) == ("c-two", 1, (entry("c@x.io"),))
    ledger_rows = {
        (r["campaign"], r["email_key"]): (r["bucket_id"], r["status"]) for r in rows(store, send_ledger)
    }
    assert ledger_rows == {
        ("other", "x@x.io"): ("c-two-0", "planned"),
        ("c", "s@x.io"): (None, "skipped"),
        ("c", "a@x.io"): ("c-one-0", "planned"),
        ("c", "b@x.io"): ("c-one-0", "planned"),
        ("c", "d@x.io"): ("c-three-0", "planned"),
    }
    titles = {r["bucket_id"]: r["title"] for r in rows(store, send_buckets)}
    assert titles["c-one-0"] == "t c-one [c-one-0]"


def test_recipients_another_run_planned_keep_their_rows(store):
    with store.engine.begin() as conn:
        ledger.write_slot(conn, SlotWrite(campaign="c", created_at=AT, skips=(entry("s@x.io", "late"),),
                                          buckets=(bucket("c-one", "a@x.io"),)))  # fmt: skip
    again = SlotWrite(campaign="c", created_at=AT + 1, skips=(entry("s@x.io", "late"),),
                      buckets=(bucket("c-one", "a@x.io", "new@x.io"),))  # fmt: skip
    with store.engine.begin() as conn:
        written = ledger.write_slot(conn, again)
    assert written.skips_taken and written.created == ()
    (missed,) = written.not_created
    assert missed.left == (entry("new@x.io"),)  # a@x.io is in the other run's bucket: not unsent
    assert [r["bucket_id"] for r in rows(store, send_buckets)] == ["c-one-0"]


def test_nothing_is_kept_when_the_callers_transaction_rolls_back(store):
    write = SlotWrite(
        campaign="c", created_at=AT, buckets=(bucket("c-one", "a@x.io"), bucket("c-two", "b@x.io"))
    )
    with store.engine.connect() as conn, conn.begin() as tx:
        assert ledger.next_batch(conn, campaign="c", slot_us=AT, variant="{}") == 0  # a read first
        written = ledger.write_slot(conn, write)
        assert len(written.created) == 2
        tx.rollback()
    assert rows(store, send_buckets) == [] and rows(store, send_ledger) == []
