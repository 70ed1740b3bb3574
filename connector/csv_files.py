"""CSV connector: streams contacts, orders and engagement events from files into typed records.

The header is checked before any row is read, so a file that cannot be used fails as a whole
before anything is written; a bad row becomes a RowProblem (file, line, reason) and the rest go on.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from connector import fields
from connector.fields import FieldError
from connector.records import EVENT_TYPES, Contact, Event, Order, Record, RowProblem

Getter = Callable[[str], str | None]
Warn = Callable[[str], None]


class CsvFileError(Exception):
    """The file as a whole cannot be imported (unreadable, not CSV, a required column missing)."""


def _contact(get: Getter, warn: Warn) -> Contact:
    raw_email = get("email") or ""
    country: str | None
    try:
        country = fields.country_code(get("country"))
    except FieldError as exc:
        warn(f"{exc}; country left empty")
        country = None
    return Contact(
        email=raw_email.strip(),
        email_key=fields.email_key(raw_email),
        status=fields.contact_status(get("status") or ""),
        # Mailchimp's audience export writes naive UTC times, so naive means UTC here.
        opted_in_at=fields.optional_timestamp(get("opted_in_at"), "opted_in_at", naive_is_utc=True),
        timezone=fields.timezone_name(get("timezone")),
        country=country,
        language=fields.text(get("language"), max_len=16),
        first_name=fields.text(get("first_name")),
        last_name=fields.text(get("last_name")),
    )


def _order(get: Getter, _warn: Warn) -> Order:
    order_id = fields.text(get("order_id"), max_len=128)
    if order_id is None:
        raise FieldError("order_id is empty")
    status = (get("status") or "").strip().lower()
    if not status:
        raise FieldError("status is empty")
    total = fields.money(get("total") or "", "total")
    refunded_raw = get("refunded")
    refunded = fields.money(refunded_raw, "refunded") if refunded_raw and refunded_raw.strip() else total * 0
    if refunded > total:
        raise FieldError(f"refunded {refunded} is more than total {total}")
    categories = tuple(
        dict.fromkeys(c.strip().lower() for c in (get("categories") or "").split("|") if c.strip())
    )
    return Order(
        order_id=order_id,
        email_key=fields.email_key(get("email") or ""),
        # An order time without an offset is ambiguous (shop-local or UTC?), so it is refused.
        created_at=fields.timestamp(get("created_at") or "", "created_at", naive_is_utc=False),
        total=total,
        refunded=refunded,
        currency=fields.currency_code(get("currency") or ""),
        status=status,
        categories=categories,
    )


def _event(get: Getter, _warn: Warn) -> Event:
    kind = (get("type") or "").strip().lower()
    if kind not in EVENT_TYPES:
        raise FieldError(f"type {kind!r} is not one of {', '.join(sorted(EVENT_TYPES))}")
    return Event(
        email_key=fields.email_key(get("email") or ""),
        type=kind,
        at=fields.timestamp(get("at") or "", "at", naive_is_utc=True),
        campaign_id=fields.text(get("campaign_id"), max_len=64),
    )


@dataclass(frozen=True, kw_only=True)
class CsvKind:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[Getter, Warn], Record]


KINDS: Final = {
    "contacts": CsvKind(
        name="contacts",
        required=("email", "status", "opted_in_at"),
        optional=("timezone", "country", "language", "first_name", "last_name"),
        parse=_contact,
    ),
    "orders": CsvKind(
        name="orders",
        required=("order_id", "email", "created_at", "total", "currency", "status"),
        optional=("refunded", "categories"),
        parse=_order,
    ),
    "events": CsvKind(
        name="events", required=("email", "type", "at"), optional=("campaign_id",), parse=_event
    ),
}


class CsvReader:
    """An open CSV file of one kind; iterate it for records and problems, in file order."""

    def __init__(self, path: Path, kind: str) -> None:
        if kind not in KINDS:
            raise CsvFileError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = KINDS[kind]
        self.path = path
        self.name = str(path)
        try:
            self._raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
            self.size = os.fstat(self._raw.fileno()).st_size
        except OSError as exc:
            raise CsvFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        # Undecodable bytes become U+FFFD: such an email fails validation as a row error
        # instead of aborting the file halfway through.
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8-sig", errors="replace", newline="")
        self._rows = csv.reader(self._text)
        try:
            header = next(self._rows)
        except StopIteration:
            self.close()
            raise CsvFileError(f"{path}: the file is empty; expected a header row") from None
        except csv.Error as exc:
            self.close()
            raise CsvFileError(f"{path}:1: not a CSV header: {exc}") from None
        names = [h.strip().lower() for h in header]
        missing = [c for c in self.kind.required if c not in names]
        if missing:
            self.close()
            raise CsvFileError(
                f"{path}:1: missing required column(s) {', '.join(missing)} for {kind}; "
                f"the header has {', '.join(n for n in names if n) or 'no names'}"
            )
        wanted = set(self.kind.required) | set(self.kind.optional)
        # unwanted and repeated columns get names no parser asks for; the first of a repeat wins
        seen: set[str] = set()
        self._names = []
        for i, n in enumerate(names):
            self._names.append(n if n in wanted and n not in seen else f"\0{i}")
            seen.add(n)
        self._width = len(names)

    def position(self) -> int:
        """Bytes consumed so far (read-ahead granularity), for progress bars."""
        return self._raw.tell() if not self._raw.closed else self.size

    def __iter__(self) -> Iterator[Record | RowProblem]:
        names, width, parse, name, rows = self._names, self._width, self.kind.parse, self.name, self._rows
        warnings: list[str] = []
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
                    continue  # blank lines are not rows
                yield RowProblem(
                    file=name, line=rows.line_num, reason=f"{len(row)} fields, the header has {width}"
                )
                continue
            try:
                record = parse(dict(zip(names, row, strict=False)).get, warnings.append)
            except FieldError as exc:
                warnings.clear()
                yield RowProblem(file=name, line=rows.line_num, reason=str(exc))
                continue
            if warnings:
                for message in warnings:
                    yield RowProblem(file=name, line=rows.line_num, reason=message, severity="warning")
                warnings.clear()
            yield record

    def close(self) -> None:
        self._text.close() if not self._text.closed else None
        self._raw.close()

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
