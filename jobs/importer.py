"""`segmail import`: stream a CSV file into the store in batches, reporting bad rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from connector.csv_files import CsvReader
from connector.records import Record, RowProblem
from jobs.progress import byte_progress
from store.codec import to_us
from store.db import Store
from store.writer import write_records

BATCH = 5_000


@dataclass
class ImportSummary:
    file: str
    kind: str
    rows_read: int = 0
    written: int = 0
    skipped: int = 0
    warnings: int = 0
    problems: list[RowProblem] = field(default_factory=list)  # first `keep_problems` only


def import_csv(
    store: Store,
    path: Path,
    kind: str,
    *,
    now: datetime,
    source: str = "csv",
    keep_problems: int = 1_000,
    on_problem: Callable[[RowProblem], None] | None = None,
) -> ImportSummary:
    """Import one file; raises CsvFileError before writing anything if the file is unusable."""
    with CsvReader(path, kind) as reader:
        summary = ImportSummary(file=str(path), kind=kind)
        batch: list[Record] = []
        now_us = to_us(now)

        def flush() -> None:
            with store.engine.begin() as conn:
                summary.written += write_records(conn, batch, source=source, now_us=now_us)
            batch.clear()

        with byte_progress(f"import {kind}", reader.size) as advance:
            for item in reader:
                if isinstance(item, RowProblem):
                    if item.severity == "error":
                        summary.skipped += 1
                        summary.rows_read += 1
                    else:
                        summary.warnings += 1
                    if len(summary.problems) < keep_problems:
                        summary.problems.append(item)
                    if on_problem is not None:
                        on_problem(item)
                    continue
                summary.rows_read += 1
                batch.append(item)
                if len(batch) >= BATCH:
                    flush()
                    advance(reader.position())
            if batch:
                flush()
            advance(reader.size)
    return summary
