"""Opening what people export: a CSV file, or each CSV in a zip, comma-, semicolon- or tab-separated.

The delimiter is chosen from the header line (the candidate that splits it into the most
columns; a tie goes to the comma), not by `csv.Sniffer`, whose guess depends on the data rows.
The encoding is UTF-8 (a byte-order mark is skipped), or UTF-16 after its byte-order mark (Excel's
"Unicode Text"); a file whose first 64 KiB are not UTF-8 is read as Windows-1252, the code page
Excel writes "CSV" in on Western-European Windows. Bytes that still do not decode become U+FFFD,
so a bad byte fails one field's check, not the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Final

from segmail.connector.records import RowProblem

DELIMITERS: Final = (",", ";", "\t")
DELIMITER_NAMES: Final = {",": "comma", ";": "semicolon", "\t": "tab"}
_SNIFF_BYTES: Final = 1 << 16
_SPREADSHEETS: Final = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".numbers"})

Getter = Callable[[str], str | None]
Item = tuple[int, Getter] | RowProblem  # a data row (line number, column getter) or a row-level problem


class CsvFileError(Exception):
    """The file as a whole cannot be imported (unreadable, not CSV, no known header); nothing is written."""


@dataclass(frozen=True)
class TableRef:
    """One CSV table: a file, or a member of a zip archive. Plain data, so it crosses processes."""

    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        """How problems name it: `file.csv`, or `export.zip:subscribed_x.csv`."""
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    @property
    def basename(self) -> str:
        return PurePosixPath(self.member).name if self.member else self.path.name


def table_refs(path: Path) -> list[TableRef]:
    """The file itself, or every CSV inside it when it is a zip archive (in archive order)."""
    if path.suffix.lower() in _SPREADSHEETS:
        raise CsvFileError(
            f"{path}: a spreadsheet, not CSV; save it as CSV (e.g. Excel: File > Save As > CSV UTF-8) "
            "and import that file"
        )
    if not zipfile.is_zipfile(path):
        if path.suffix.lower() == ".zip" and path.is_file():
            raise CsvFileError(f"{path}: not a readable zip archive (damaged or incomplete download?)")
        return [TableRef(path)]
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise CsvFileError(f"{path}: not a readable zip archive: {exc}") from None
    tables = [
        TableRef(path, m)
        for m in members
        if m.lower().endswith(".csv") and not m.startswith("__MACOSX/")  # macOS resource forks
    ]
    if not tables:
        held = ", ".join(members[:5]) + (", ..." if len(members) > 5 else "") or "nothing"
        raise CsvFileError(f"{path}: the zip archive holds no .csv file (it holds {held})")
    return tables


class Table:
    """An open CSV table: its header, delimiter and encoding, and its rows with line numbers."""

    def __init__(self, ref: TableRef) -> None:
        self.ref = ref
        self.name = ref.name
        self._archive: zipfile.ZipFile | None = None
        try:
            self._raw, self.size = self._open(ref)
            self.encoding = _encoding(self._raw)
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            self.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise CsvFileError(f"{ref.name}: cannot read: {reason}") from None
        self._text = io.TextIOWrapper(self._raw, encoding=self.encoding, errors="replace", newline="")
        first = self._text.readline()
        if not first.strip():
            self.close()
            raise CsvFileError(f"{ref.name}: the file is empty; expected a header row")
        self.delimiter = max(
            DELIMITERS, key=lambda d: len(_split(first, d))
        )  # max() keeps the first of a tie
        self._rows = csv.reader(itertools.chain([first], self._text), delimiter=self.delimiter)
        try:
            self.header = next(self._rows)
        except csv.Error as exc:
            self.close()
            raise CsvFileError(f"{ref.name}:1: not a CSV header: {exc}") from None

    def _open(self, ref: TableRef) -> tuple[IO[bytes], int]:
        if ref.member is None:
            raw = open(ref.path, "rb")  # noqa: SIM115 - closed by close()/__exit__
            return raw, os.fstat(raw.fileno()).st_size
        self._archive = zipfile.ZipFile(ref.path)
        return self._archive.open(ref.member), self._archive.getinfo(ref.member).file_size

    def items(self, names: list[str]) -> Iterator[Item]:
        """Each data row as (line, getter over `names`, the header's columns renamed), or a problem.

        Blank lines are not rows; a row with fewer fields than the header is a problem.
        """
        width, rows, name = len(self.header), self._rows, self.name
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowProblem(file=name, line=rows.line_num, reason=f"malformed CSV: {exc}")
                continue
            if len(row) < width:
                if not any(cell.strip() for cell in row):
                    continue
                yield RowProblem(
                    file=name, line=rows.line_num, reason=f"{len(row)} fields, the header has {width}"
                )
                continue
            yield rows.line_num, dict(zip(names, row, strict=False)).get

    def position(self) -> int:
        """Bytes consumed so far (read-ahead granularity), for progress bars."""
        return self._raw.tell() if not self._raw.closed else self.size

    def close(self) -> None:
        text = getattr(self, "_text", None)
        if text is not None and not text.closed:
            text.close()
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.close()
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _encoding(raw: IO[bytes]) -> str:
    head = raw.read(_SNIFF_BYTES)
    raw.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode Text" (tab-separated) and some exporters
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut last character is fine
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"
