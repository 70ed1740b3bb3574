"""CSV import: segmail's plain format, the format registry, and `CsvReader` that detects and reads one table.

Which format a file is in is decided from its header before any row is read (or forced with
`--format`), so a file that cannot be used fails as a whole before anything is written; a bad row
becomes a RowProblem (file, line, reason) and the rest go on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from segmail.connector import amounts, fields, mailchimp_export, shopify_export, woocommerce_export
from segmail.connector.csv_format import (
    CsvFormat,
    ParseContext,
    Warn,
    in_shop_currency,
    normalize,
    per_row,
    refund_within,
)
from segmail.connector.csv_tables import DELIMITER_NAMES, CsvFileError, Getter, Table, TableRef
from segmail.connector.fields import FieldError
from segmail.connector.records import EVENT_TYPES, Contact, Event, Order, Record, RowProblem

__all__ = ["FORMATS", "KINDS", "CsvFileError", "CsvReader", "ReadOptions"]


def _contact(get: Getter, _ctx: ParseContext, warn: Warn) -> Contact:
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


def _order(get: Getter, ctx: ParseContext, warn: Warn) -> Order:
    order_id = fields.text(get("order_id"), max_len=128)
    if order_id is None:
        raise FieldError("order_id is empty")
    status = (get("status") or "").strip().lower()
    if not status:
        raise FieldError("status is empty")
    total = amounts.amount(get("total") or "", "total", delimiter=ctx.delimiter)
    refunded = amounts.optional_amount(get("refunded"), "refunded", delimiter=ctx.delimiter)
    categories = tuple(
        dict.fromkeys(c.strip().lower() for c in (get("categories") or "").split("|") if c.strip())
    )
    order = Order(
        order_id=order_id,
        email_key=fields.email_key(get("email") or ""),
        # An order time without an offset is ambiguous (shop-local or UTC?): refused unless --timezone says.
        created_at=fields.zoned_timestamp(get("created_at") or "", "created_at", naive_zone=ctx.naive_zone),
        total=total,
        refunded=refund_within(total, refunded, "total", "refunded"),
        currency=fields.currency_code(get("currency") or ""),
        status=status,
        categories=categories,
    )
    shop_raw = get("shop_total")
    shop_total = (
        amounts.amount(shop_raw, "shop_total", delimiter=ctx.delimiter)
        if shop_raw and shop_raw.strip()
        else None
    )
    return in_shop_currency(order, ctx, warn, shop_total=shop_total)


def _event(get: Getter, _ctx: ParseContext, _warn: Warn) -> Event:
    kind = (get("type") or "").strip().lower()
    if kind not in EVENT_TYPES:
        raise FieldError(f"type {kind!r} is not one of {', '.join(sorted(EVENT_TYPES))}")
    return Event(
        email_key=fields.email_key(get("email") or ""),
        type=kind,
        at=fields.timestamp(get("at") or "", "at", naive_is_utc=True),
        campaign_id=fields.text(get("campaign_id"), max_len=64),
    )


SEGMAIL = "segmail"
_CONTACT_COLUMNS: Final = ("opted_in_at", "timezone", "country", "language", "first_name", "last_name")
_PLAIN = {
    "contacts": CsvFormat(
        name=SEGMAIL,
        title="segmail contacts",
        kind="contacts",
        required=("email", "status"),
        optional=_CONTACT_COLUMNS,
        read=per_row(_contact),
        source="csv",
        fills={c: (c,) for c in _CONTACT_COLUMNS},
    ),
    "orders": CsvFormat(
        name=SEGMAIL,
        title="segmail orders",
        kind="orders",
        required=("order_id", "email", "created_at", "total", "currency", "status"),
        optional=("refunded", "categories", "shop_total"),
        read=per_row(_order),
        source="csv",
    ),
    "events": CsvFormat(
        name=SEGMAIL,
        title="segmail events",
        kind="events",
        required=("email", "type", "at"),
        optional=("campaign_id",),
        read=per_row(_event),
        source="csv",
    ),
}

# Tried in this order; the vendor formats first, their headers are the most specific.
FORMATS: Final[dict[str, list[CsvFormat]]] = {
    "contacts": [mailchimp_export.FORMAT, _PLAIN["contacts"]],
    "orders": [shopify_export.FORMAT, woocommerce_export.FORMAT, _PLAIN["orders"]],
    "events": [_PLAIN["events"]],
}
KINDS: Final = tuple(FORMATS)
FORMAT_NAMES: Final = tuple(dict.fromkeys(f.name for fs in FORMATS.values() for f in fs))


@dataclass(frozen=True, kw_only=True)
class ReadOptions:
    """What the rows need besides the file; plain data, so a child process can rebuild the reader."""

    kind: str
    format: str | None = None  # forced with --format; None detects it from the header
    timezone: str | None = None  # IANA zone of times written without a UTC offset
    shop_currency: str | None = None
    statuses: Mapping[str, str] | None = None


def detect(header: frozenset[str], kind: str, forced: str | None, name: str) -> CsvFormat:
    """The format of a table with this header; CsvFileError naming every format tried and its columns."""
    if kind not in FORMATS:
        raise CsvFileError(f"unknown kind {kind!r}; expected one of {', '.join(FORMATS)}")
    candidates = FORMATS[kind]
    if forced is not None:
        candidates = [f for f in candidates if f.name == forced]
        if not candidates:
            usable = ", ".join(f.name for f in FORMATS[kind])
            raise CsvFileError(f"--format {forced} is not a format for {kind}; {kind} formats: {usable}")
    for fmt in candidates:
        if not fmt.missing(header):
            return fmt
    # the format the header comes closest to; a tie goes to the later, more general one
    closest = min(reversed(candidates), key=lambda f: len(f.missing(header)) / len(f.required))
    shown = ", ".join(sorted(header - {""})) or "no names"
    tried = "".join(
        f"; other formats tried: {f.title} (--format {f.name}) needs {', '.join(f.required)}"
        for f in candidates
        if f is not closest
    )
    raise CsvFileError(
        f"{name}:1: missing required column(s) {', '.join(closest.missing(header))} for {closest.title} "
        f"(--format {closest.name}); the header has {shown}{tried}{_other_kind(header, kind)}"
    )


def _other_kind(header: frozenset[str], kind: str) -> str:
    for other, formats in FORMATS.items():
        for fmt in formats:
            if other != kind and not fmt.missing(header):
                return f"; the header is a {fmt.title} file: did you mean `segmail import {other}`?"
    return ""


class CsvReader:
    """One table in one format; iterate it for records and problems, in file order."""

    def __init__(self, ref: TableRef | Path, kind: str, options: ReadOptions | None = None) -> None:
        if isinstance(ref, Path):
            ref = TableRef(ref)
        opts = options or ReadOptions(kind=kind)
        self._forced = opts.format is not None
        self._table = Table(ref)
        self.name, self.size = ref.name, self._table.size
        try:
            header = [normalize(h) for h in self._table.header]
            self.format = detect(frozenset(header), kind, opts.format, ref.name)
            self.context = ParseContext(
                name=ref.name,
                basename=ref.basename,
                header=frozenset(header),
                delimiter=self._table.delimiter,
                naive_zone=ZoneInfo(opts.timezone) if opts.timezone else None,
                shop_currency=opts.shop_currency,
                statuses=opts.statuses or {},
            )
            self.note = self.format.prepare(self.context) if self.format.prepare else ""
            self.omitted = self.format.omitted(self.context.header)
        except CsvFileError:
            self.close()
            raise
        wanted = self.format.wanted()
        # unwanted and repeated columns get names no parser asks for; the first of a repeat wins
        seen: set[str] = set()
        self._names = []
        for i, n in enumerate(header):
            self._names.append(n if n in wanted and n not in seen else f"\0{i}")
            seen.add(n)

    def describe(self) -> str:
        """One line for the user: which format was taken, why, and how the file was read."""
        how = "as --format says" if self._forced else "detected from the header"
        parts = [f"{self.name}: {self.format.title} (--format {self.format.name}, {how})"]
        if self._table.delimiter != ",":
            parts.append(f"{DELIMITER_NAMES[self._table.delimiter]}-separated")
        if self._table.encoding == "cp1252":
            parts.append("not UTF-8, read as Windows-1252")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def position(self) -> int:
        return self._table.position()

    def __iter__(self) -> Iterator[Record | RowProblem]:
        return self.format.read(self._table.items(self._names), self.context)

    def close(self) -> None:
        self._table.close()

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
