"""The one pull loop (jobs/pull.py) and the page-source contract (connector/source.py).

A scripted source stands in for a connector: it records the cursor each read was handed, so the
tests check what the loop gives the source as well as what it stores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

import segmail.jobs.pull as pull_module
from segmail.connector.http import ConfigurationError, TransientError
from segmail.connector.mailchimp_members import MailchimpMembers
from segmail.connector.mailchimp_parse import MemberPage
from segmail.connector.records import Member, Order, OrderPage
from segmail.jobs.pull import KEEP_PROBLEMS, Stream, pull
from segmail.jobs.stopping import Interrupted
from segmail.store import cursors
from segmail.store.schema import orders
from tests.conftest import T

STREAM = Stream[Order](
    source="shopify",
    name="orders",
    item="shopify order",
    noun="orders",
    log=logging.getLogger("segmail.shop"),
)


def order(n: int) -> Order:
    return Order(order_id=str(n), email_key=f"c{n}@example.com", created_at=T - timedelta(hours=n),
                 total=Decimal("10.00"), currency="EUR", status="paid")  # fmt: skip


@dataclass
class Scripted:
    """A page source over scripted pages; with `fail_at`, that page's read fails once (a network error)."""

    script: list[OrderPage]
    fail_at: int | None = None
    given: list[str | None] = field(default_factory=list)
    served: int = 0

    def pages(self, cursor: str | None):
        self.given.append(cursor)
        start = 0 if cursor is None else 1 + next(i for i, p in enumerate(self.script) if p.cursor == cursor)
        for i in range(start, len(self.script)):
            if i == self.fail_at:
                self.fail_at = None  # the network is back for the next pull
                raise TransientError("Shopify orders: HTTP 503: unavailable, on every attempt")
            self.served += 1
            yield self.script[i]

    def close(self) -> None:
        pass


def scripted(n_pages: int, per_page: int = 3, **kw) -> Scripted:
    pages = [
        OrderPage(orders=[order(p * per_page + i) for i in range(per_page)], problems=[], cursor=f"c{p + 1}")
        for p in range(n_pages)
    ]
    return Scripted(script=pages, **kw)


def stored(store) -> tuple[int, str | None]:
    with store.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(orders)).scalar_one()
        return count, cursors.get_cursor(conn, "shopify", "orders")


def test_each_page_is_stored_with_its_cursor_and_the_next_pull_starts_from_it(store):
    source = scripted(3)
    summary = pull(store, source, STREAM, now=T)
    assert (summary.pages, summary.records, summary.orders, summary.cursor) == (3, 9, 9, "c3")
    assert stored(store) == (9, "c3")
    again = pull(store, source, STREAM, now=T)
    assert source.given == [None, "c3"] and again.pages == 0 and again.cursor == "c3"


def test_a_cursor_is_never_saved_without_its_page(store, monkeypatch):
    real = pull_module.write_records
    calls = []

    def dying(conn, records, **kw):
        written = real(conn, records, **kw)
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("killed inside the second page's transaction")
        return written

    monkeypatch.setattr(pull_module, "write_records", dying)
    with pytest.raises(RuntimeError):
        pull(store, scripted(3), STREAM, now=T)
    assert stored(store) == (3, "c1")  # the second page and its cursor were rolled back together


def test_a_pull_that_fails_mid_pages_resumes_after_its_last_stored_page(store):
    source = scripted(4, fail_at=2)
    with pytest.raises(TransientError):
        pull(store, source, STREAM, now=T)
    assert stored(store) == (6, "c2")
    summary = pull(store, source, STREAM, now=T)
    assert source.given == [None, "c2"]  # the source gets the saved cursor and applies its own look-back
    assert (summary.pages, summary.records) == (2, 6)
    assert stored(store) == (12, "c4") and source.served == 4  # no page read twice


def test_a_stop_takes_effect_between_pages(store):
    source = scripted(3)
    with pytest.raises(Interrupted):
        pull(store, source, STREAM, now=T, stop=lambda: source.served >= 1)
    assert source.served == 1  # the next page is not even asked for
    assert stored(store) == (3, "c1")


def test_a_page_without_a_cursor_keeps_the_saved_one(store):
    # a Shopify bulk import: only its last page carries a cursor, once everything before it is stored
    pages = [
        OrderPage(orders=[order(1)], problems=[], cursor=None),
        OrderPage(orders=[order(2)], problems=[], cursor=None),
    ]
    with pytest.raises(Interrupted):
        pull(store, Scripted(script=pages), STREAM, now=T, stop=lambda: True)
    assert stored(store) == (1, None)


def test_problems_are_logged_and_counted_and_the_first_ones_kept(store, caplog):
    bad = [f"order {i}: total is not a number" for i in range(KEEP_PROBLEMS)]
    pages = [OrderPage(orders=[order(1)], problems=bad, cursor="c1"),
             OrderPage(orders=[], problems=["order x: no email"], cursor="c1")]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="segmail.shop"):
        summary = pull(store, Scripted(script=pages), STREAM, now=T)
    assert summary.skipped == KEEP_PROBLEMS + 1 and summary.problems == bad
    assert "skipped a shopify order: order x: no email" in caplog.text
    lines = [r.getMessage() for r in caplog.records if "stored" in r.getMessage()]
    assert lines == [
        "shopify pull: page 1 stored, 1 orders so far (1000 skipped), cursor c1",
        "shopify pull: page 2 stored, 1 orders so far (1001 skipped), cursor c1",
    ]


def test_on_page_writes_in_the_pages_transaction(store):
    seen = []
    stream = Stream[Order](source="shopify", name="orders", item="order", noun="orders",
                           log=STREAM.log, on_page=lambda conn, page: seen.append(len(page.records)))  # fmt: skip
    pull(store, scripted(2, per_page=2), stream, now=T)
    assert seen == [2, 2]


# ---- the Mailchimp member source owns its look-back ------------------------------------------------


def at(minute: int) -> datetime:
    return datetime(2026, 2, 1, 10, minute, tzinfo=UTC)


def member(email: str, changed: datetime) -> Member:
    return Member(email=email, email_key=email, status="subscribed", last_changed=changed)


class FakeMembers:
    def __init__(self, pages: list[list[Member]]) -> None:
        self.script = pages
        self.since: list[datetime | None] = []

    def members(self, list_id: str, *, since: datetime | None):
        self.since.append(since)
        for ms in self.script:
            yield MemberPage(members=ms, problems=[], newest_change=max(m.last_changed for m in ms))


def test_member_source_reads_from_the_cursor_less_its_look_back_and_never_moves_it_back():
    api = FakeMembers([[member("a@x.io", at(25))], [member("b@x.io", at(35)), member("c@x.io", at(32))]])
    source = MailchimpMembers(api, "list1", lookback=timedelta(minutes=10))  # type: ignore[arg-type]
    pages = list(source.pages(at(30).isoformat()))
    assert api.since == [at(20)]
    # the first page is the look-back's re-read (older than the cursor): the cursor stays where it was
    assert [p.cursor for p in pages] == [at(30).isoformat(), at(35).isoformat()]
    list(MailchimpMembers(api, "list1").pages(None))
    assert api.since[-1] is None  # no cursor: the whole audience


def test_a_corrupt_cursor_names_its_source():
    source = MailchimpMembers(FakeMembers([]), "list1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"Mailchimp members cursor: .*no UTC offset"):
        list(source.pages("2026-02-01T10:00:00"))
