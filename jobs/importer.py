"""`segmail import`: stream a CSV file into the store in batches, reporting bad rows.

A large file is parsed and encoded in a child process while this process writes, joined by a
small bounded queue: parsing and the database's work overlap on two cores, and memory stays
bounded by a few batches whatever the file size. Small files are parsed in-process (starting a
process would cost more than it saves). Both paths run the same batch generator.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.csv_files import CsvReader
from connector.records import Record, RowProblem
from jobs.progress import byte_progress
from store.codec import to_us
from store.db import Store
from store.writer import Encoded, encode, write_encoded

BATCH = 20_000  # rows per transaction: fewer WAL checkpoints, bounded memory
PARALLEL_FROM_BYTES = 8 << 20
QUEUE_DEPTH = 3


@dataclass
class ImportSummary:
    file: str
    kind: str
    rows_read: int = 0
    written: int = 0
    skipped: int = 0
    warnings: int = 0
    problems: list[RowProblem] = field(default_factory=list)  # first `keep_problems` only


@dataclass
class Batch:
    rows: Encoded
    records: int
    problems: list[RowProblem]
    position: int


def batches(path: Path, kind: str, *, source: str, now_us: int) -> Iterator[Batch]:
    """The file as encoded batches of at most BATCH records, with the problems met on the way."""
    with CsvReader(path, kind) as reader:
        records: list[Record] = []
        problems: list[RowProblem] = []
        for item in reader:
            if isinstance(item, RowProblem):
                problems.append(item)
                continue
            records.append(item)
            if len(records) >= BATCH:
                yield Batch(
                    encode(records, source=source, now_us=now_us), len(records), problems, reader.position()
                )
                records, problems = [], []
        yield Batch(encode(records, source=source, now_us=now_us), len(records), problems, reader.size)


def _produce(path: Path, kind: str, source: str, now_us: int, out: Any) -> None:
    """Child process body: every batch, then None; an exception is sent as its message."""
    try:
        for batch in batches(path, kind, source=source, now_us=now_us):
            out.put(batch)
        out.put(None)
    except BaseException as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def _from_child(path: Path, kind: str, *, source: str, now_us: int) -> Iterator[Batch]:
    ctx = multiprocessing.get_context("spawn")  # no inherited database connections in the child
    channel = ctx.Queue(maxsize=QUEUE_DEPTH)
    child = ctx.Process(
        target=_produce, args=(path, kind, source, now_us, channel), name="segmail-csv", daemon=True
    )
    child.start()
    try:
        while (item := channel.get()) is not None:
            if isinstance(item, str):
                raise RuntimeError(f"{path}: reading failed: {item}")
            yield item
    finally:
        child.terminate()
        child.join()
        channel.close()


def import_csv(
    store: Store,
    path: Path,
    kind: str,
    *,
    now: datetime,
    source: str = "csv",
    keep_problems: int = 1_000,
    on_problem: Callable[[RowProblem], None] | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import one file; raises CsvFileError before writing anything if the file is unusable."""
    now_us = to_us(now)
    with CsvReader(path, kind) as reader:  # header and readability checked here, before any write
        size = reader.size
    if parallel is None:
        parallel = size >= PARALLEL_FROM_BYTES
    source_batches = (_from_child if parallel else batches)(path, kind, source=source, now_us=now_us)
    summary = ImportSummary(file=str(path), kind=kind)
    with byte_progress(f"import {kind}", size) as advance:
        for batch in source_batches:
            _count_problems(summary, batch.problems, keep_problems, on_problem)
            if batch.records:
                with store.engine.begin() as conn:
                    summary.written += write_encoded(conn, batch.rows)
                summary.rows_read += batch.records
            advance(batch.position)
    return summary


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
