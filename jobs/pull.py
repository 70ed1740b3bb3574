"""The one pull loop: a page source (connector/source.py) into the store, resumably.

It reads the cursor saved for the stream, hands it to the source (which applies its own look-back),
and stores each page with the cursor that covers it in one transaction, so a pull killed at any
point resumes after its last stored page. One log line per stored page; a stop requested between
pages ends the pull there (jobs/stopping.py), with everything read so far stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from segmail.connector.records import Record
from segmail.connector.source import Page, PageSource
from segmail.jobs.stopping import StopCheck, check, never
from segmail.store import cursors
from segmail.store.codec import to_us
from segmail.store.db import Store
from segmail.store.writer import write_records

if TYPE_CHECKING:  # annotations only: SQL stays in store/
    from sqlalchemy.engine import Connection

R = TypeVar("R", bound=Record)
KEEP_PROBLEMS: Final = 1000  # problems kept for the summary; every one is logged and counted


@dataclass(frozen=True, kw_only=True)
class Stream(Generic[R]):
    """Where one source's pages go in the store, and how its pull is told in the log."""

    source: str  # each record's `source` in the store, and the namespace of its cursor
    name: str  # the cursor's stream within the source: "orders", "members:<list id>"
    item: str  # one record, for the line that reports a skipped one: "Mailchimp member", "shopify order"
    noun: str  # records, for the progress line: "members", "orders"
    log: logging.Logger
    # more writes inside a page's transaction, e.g. the currency a Shopify page's amounts are in
    on_page: Callable[[Connection, Page[R]], None] | None = None


@dataclass
class PullSummary:
    source: str
    pages: int = 0
    records: int = 0
    skipped: int = 0
    suppressed: int = 0  # records of erased people, dropped (store/suppression.py)
    erased: int = 0  # people the source no longer has at all, erased here (jobs/gone.py)
    problems: list[str] = field(default_factory=list)  # the first KEEP_PROBLEMS
    cursor: str | None = None  # the one saved last (or found at the start)

    @property
    def orders(self) -> int:
        """A shop pull's `records`, under the name its readers use."""
        return self.records


def pull(
    store: Store,
    source: PageSource[R],
    stream: Stream[R],
    *,
    now: datetime,
    stop: StopCheck = never,
) -> PullSummary:
    summary = PullSummary(source=stream.source)
    with store.engine.begin() as conn:
        summary.cursor = cursors.get_cursor(conn, stream.source, stream.name)
    for page in source.pages(summary.cursor):
        for problem in page.problems:
            stream.log.warning("skipped a %s: %s", stream.item, problem)
        summary.problems += page.problems[: max(0, KEEP_PROBLEMS - len(summary.problems))]
        summary.skipped += len(page.problems)
        with store.engine.begin() as conn:  # the page and the cursor that covers it, together
            written = write_records(conn, page.records, source=stream.source, now_us=to_us(now))
            if stream.on_page is not None:
                stream.on_page(conn, page)
            if page.cursor is not None and page.cursor != summary.cursor:
                cursors.set_cursor(conn, stream.source, stream.name, page.cursor, now_us=to_us(now))
                summary.cursor = page.cursor
        summary.pages += 1
        summary.records += len(page.records) - written.suppressed
        summary.suppressed += written.suppressed
        suppressed = f", {summary.suppressed} suppressed" if summary.suppressed else ""
        stream.log.info(
            "%s pull: page %d stored, %d %s so far (%d skipped%s), cursor %s", stream.source, summary.pages,
            summary.records, stream.noun, summary.skipped, suppressed, summary.cursor or "(none yet)",
        )  # fmt: skip
        check(stop)  # the page and its cursor are stored: a safe place to stop
    return summary
