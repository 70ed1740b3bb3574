"""The reports' rows under their full column names, and the CSV `segmail report --format csv` writes.

One place for both readers of the rows: the CLI (csv, json and the table) and the workspace's Reports
page, whose CSV downloads are this same text, byte for byte, for the same period.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from segmail.jobs.report import CampaignReport, SegmentReport
from segmail.reports import campaigns, segments


@dataclass(frozen=True, slots=True)
class Rows:
    columns: Sequence[str]
    rows: list[dict[str, Any]]  # column -> value (None: not applicable)


def text(value: Any) -> str:
    """A value as the CSV writes it: empty for None, a UTC instant as ISO 8601 with Z, money as its decimal."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def campaign_rows(report: CampaignReport) -> Rows:
    return Rows(campaigns.COLUMNS, [r.values() for r in report.rows])


def segment_rows(report: SegmentReport) -> Rows:
    return Rows(segments.COLUMNS, [r.values() for r in report.rows])


def movement_rows(movements: Mapping[tuple[str, str], int]) -> Rows:
    rows = [{"from": a, "to": b, "members": n} for (a, b), n in movements.items()]
    return Rows(segments.MOVEMENT_COLUMNS, rows)


def write_csv(stream: TextIO, rows: Rows) -> None:
    """A header row, then one line per row (\\n line ends, whatever the platform)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(rows.columns)
    writer.writerows([[text(r[c]) for c in rows.columns] for r in rows.rows])


def csv_text(rows: Rows) -> str:
    buffer = io.StringIO()
    write_csv(buffer, rows)
    return buffer.getvalue()
