"""`segmail import`: stream CSV files (or the CSVs in a zip) into the store in batches, reporting bad rows.

Every table of the file is opened and its format detected before anything is written, so an
unusable file fails as a whole. A large table is parsed and encoded in a child process while this
process writes, joined by a small bounded queue: parsing and the database's work overlap on two
cores, and memory stays bounded by a few batches whatever the file size. Small tables are parsed
in-process (starting a process would cost more than it saves). Both paths run the same batch
generator.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from segmail.connector.csv_files import CsvReader, ReadOptions
from segmail.connector.csv_tables import CsvFileError, TableRef, table_refs
from segmail.connector.records import Order, Record, RowProblem
from segmail.jobs.progress import byte_progress
from segmail.store.codec import to_us
from segmail.store.currency import known_shop_currency
from segmail.store.db import Store
from segmail.store.writer import Encoded, encode, write_encoded

if TYPE_CHECKING:
    from sqlalchemy import Connection

BATCH = 20_000  # rows per batch handed from the parser to the writer: bounded memory
TRANSACTION_ROWS = 200_000  # rows per transaction: each touched page written fewer times
PARALLEL_FROM_BYTES = 8 << 20
QUEUE_DEPTH = 3


class ImportFailed(Exception):
    """The import stopped partway (the reading process failed); what was written stays, a re-run continues."""


def import_zone(name: str | None) -> str | None:
    """`--timezone` checked: an IANA zone name, or CsvFileError naming the option."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CsvFileError(f"--timezone {name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return name


@dataclass
class ImportSummary:
    file: str
    kind: str
    rows_read: int = 0
    written: int = 0
    suppressed: int = 0  # records of erased people, dropped (store/suppression.py)
    skipped: int = 0
    warnings: int = 0
    problems: list[RowProblem] = field(default_factory=list)  # first `keep_problems` only
    tables: list[str] = field(default_factory=list)  # how each table was read, one line each
    currencies: Counter[str] = field(default_factory=Counter)  # orders read, by currency
    shop_currency: str | None = None

    @property
    def accepted(self) -> int:
        return self.rows_read - self.skipped


@dataclass
class Batch:
    rows: Encoded
    records: int
    problems: list[RowProblem]
    position: int
    currencies: Counter[str]


def _encoded(
    reader: CsvReader,
    records: list[Record],
    problems: list[RowProblem],
    position: int,
    *,
    source: str,
    now_us: int,
) -> Batch:
    currencies = Counter(r.currency for r in records if isinstance(r, Order))
    rows = encode(records, source=source, now_us=now_us, omit=reader.omitted)
    return Batch(rows, len(records), problems, position, currencies)


def batches(ref: TableRef, options: ReadOptions, *, source: str, now_us: int) -> Iterator[Batch]:
    """The table as encoded batches of at most BATCH records, with the problems met on the way."""
    with CsvReader(ref, options.kind, options) as reader:
        records: list[Record] = []
        problems: list[RowProblem] = []
        for item in reader:
            if isinstance(item, RowProblem):
                problems.append(item)
                continue
            records.append(item)
            if len(records) >= BATCH:
                yield _encoded(reader, records, problems, reader.position(), source=source, now_us=now_us)
                records, problems = [], []
        yield _encoded(reader, records, problems, reader.size, source=source, now_us=now_us)


def _produce(ref: TableRef, options: ReadOptions, source: str, now_us: int, out: Any) -> None:
    """Child process body: every batch, then None; an exception is sent as its message."""
    try:
        for batch in batches(ref, options, source=source, now_us=now_us):
            out.put(batch)
        out.put(None)
    except BaseException as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def _from_child(ref: TableRef, options: ReadOptions, *, source: str, now_us: int) -> Iterator[Batch]:
    ctx = multiprocessing.get_context("spawn")  # no inherited database connections in the child
    channel = ctx.Queue(maxsize=QUEUE_DEPTH)
    child = ctx.Process(
        target=_produce, args=(ref, options, source, now_us, channel), name="segmail-csv", daemon=True
    )
    child.start()
    try:
        while (item := channel.get()) is not None:
            if isinstance(item, str):
                raise ImportFailed(f"{ref.name}: reading failed: {item}")
            yield item
    finally:
        child.terminate()
        child.join()
        channel.close()


class _Transactions:
    """Batches written in transactions of about TRANSACTION_ROWS records each.

    On a large SQLite store a commit costs about a rewrite of every page the transaction touched
    (into the WAL, then back at the checkpoint); twenty thousand keys spread over a million-row
    B-tree touch nearly every leaf, so fewer, larger transactions write each page fewer times.
    What was committed stays if the import stops; a re-run continues (upserts are idempotent).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conn: Connection | None = None
        self._rows = 0

    def connection(self, rows: int) -> Connection:
        """The open transaction's connection for `rows` more records; committed first when full."""
        if self._conn is not None and self._rows + rows > TRANSACTION_ROWS:
            self._commit()
        if self._conn is None:
            self._conn = self._store.engine.connect()
            self._conn.begin()
        self._rows += rows
        return self._conn

    def _commit(self) -> None:
        assert self._conn is not None
        self._conn.commit()
        self._conn.close()
        self._conn, self._rows = None, 0

    def __enter__(self) -> _Transactions:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if self._conn is None:
            return
        if kind is None:
            self._commit()
        else:
            self._conn.rollback()
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class _Plan:
    ref: TableRef
    source: str
    size: int


def import_csv(
    store: Store,
    path: Path,
    kind: str,
    *,
    now: datetime,
    source: str | None = None,
    fmt: str | None = None,
    timezone: str | None = None,
    shop_currency: str | None = None,
    statuses: Mapping[str, str] | None = None,
    keep_problems: int = 1_000,
    on_problem: Callable[[RowProblem], None] | None = None,
    on_table: Callable[[str], None] | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import one file (every CSV in it, for a zip); raises CsvFileError before writing anything if unusable.

    `source` defaults to the format's (csv, shopify, woocommerce, mailchimp), so orders from a
    shop's export and from its API land on the same keys. `shop_currency` defaults to what the
    store knows (from a shop API pull); orders in another currency are reported.
    """
    now_us = to_us(now)
    if shop_currency is None:
        with store.engine.connect() as conn:
            shop_currency = known_shop_currency(conn)
    options = ReadOptions(
        kind=kind, format=fmt, timezone=timezone, shop_currency=shop_currency, statuses=statuses
    )
    summary = ImportSummary(file=str(path), kind=kind, shop_currency=shop_currency)
    plans: list[_Plan] = []
    for ref in table_refs(path):  # every header and file-level check before any write
        with CsvReader(ref, kind, options) as reader:
            summary.tables.append(reader.describe())
            plans.append(_Plan(ref, source or reader.format.source, reader.size))
    for line in summary.tables:
        if on_table is not None:
            on_table(line)
    done = 0
    with byte_progress(f"import {kind}", sum(p.size for p in plans)) as advance:
        for plan in plans:
            in_child = parallel if parallel is not None else plan.size >= PARALLEL_FROM_BYTES
            produce = _from_child if in_child else batches
            with _Transactions(store) as tx:
                for batch in produce(plan.ref, options, source=plan.source, now_us=now_us):
                    _count_problems(summary, batch.problems, keep_problems, on_problem)
                    if batch.records:
                        written = write_encoded(tx.connection(batch.records), batch.rows)
                        summary.written += written.records
                        summary.suppressed += written.suppressed
                        summary.rows_read += batch.records
                        summary.currencies.update(batch.currencies)
                    advance(done + batch.position)
            done += plan.size
    return summary


def summary_lines(summary: ImportSummary) -> list[str]:
    """What the user is told after an import: the counts, and orders whose currency is not the shop's."""
    suppressed = f", {summary.suppressed} suppressed (erased people)" if summary.suppressed else ""
    lines = [
        f"{summary.kind}: {summary.rows_read} rows read, {summary.written} written{suppressed}, "
        f"{summary.skipped} skipped, {summary.warnings} warning(s) — {summary.file}"
    ]
    shop, seen = summary.shop_currency, summary.currencies
    if len(seen) > 1 or (shop is not None and seen and set(seen) != {shop}):
        counts = ", ".join(f"{code} {n}" for code, n in sorted(seen.items()))
        if shop is None:
            lines.append(
                f"orders by currency: {counts}; set [shop] currency: money features count one currency only"
            )
        else:
            other = sum(n for code, n in seen.items() if code != shop)
            lines.append(
                f"orders by currency: {counts}; the shop reports in {shop}: {other} order(s) in other "
                "currencies are kept but left out of money features"
            )
    return lines


def _count_problems(
    summary: ImportSummary,
    problems: list[RowProblem],
    keep: int,
    on_problem: Callable[[RowProblem], None] | None,
) -> None:
    for problem in problems:
        if problem.severity == "error":
            summary.skipped += 1
            summary.rows_read += 1
        else:
            summary.warnings += 1
        if len(summary.problems) < keep:
            summary.problems.append(problem)
        if on_problem is not None:
            on_problem(problem)
