"""What an import format is: the header it is recognised by, and how its rows become records.

Header names are matched case-insensitively after trimming, so `Email Address` and
`email address` are one column. A format reads the rows of one table through `ParseContext`,
which carries what the file alone cannot say: the time zone of times without an offset, the
shop's reporting currency and the status table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from segmail.connector import amounts, fields
from segmail.connector.csv_tables import CsvFileError, Getter, Item
from segmail.connector.fields import FieldError
from segmail.connector.records import Order, Record, RowProblem

Warn = Callable[[str], None]
Reader = Callable[[Iterator[Item], "ParseContext"], Iterator[Record | RowProblem]]
_E4: Final = Decimal("0.0001")


def normalize(name: str) -> str:
    return name.strip().lower()


@dataclass(frozen=True, kw_only=True)
class ParseContext:
    """One table being read: where it is, how it is laid out, and the settings the rows need."""

    name: str  # how problems name the table
    basename: str  # the file's own name (a Mailchimp export's status is in it)
    header: frozenset[str]  # the header's names, normalized
    delimiter: str
    naive_zone: tzinfo | None  # for times written without a UTC offset; None refuses them
    shop_currency: str | None  # the reporting currency, when known
    statuses: Mapping[str, str] = field(default_factory=dict)  # `[shop.statuses]` overrides


@dataclass(frozen=True, kw_only=True)
class CsvFormat:
    """An import format: recognised when every `required` column is in the header."""

    name: str  # the `--format` value
    title: str  # what the user is told was detected
    kind: str  # contacts | orders | events
    required: tuple[str, ...]  # as the exporter spells them; matched case-insensitively
    optional: tuple[str, ...] = ()
    read: Reader
    source: str  # the default `--source` its orders are keyed under
    # a file-level check before any row is read: returns a note for the user or raises CsvFileError
    prepare: Callable[[ParseContext], str] | None = None
    # contact columns the store takes from the file → the header names that fill them; a column
    # none of whose names is in the header is left as stored (a file without opted_in_at keeps it)
    fills: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def missing(self, header: frozenset[str]) -> list[str]:
        return [c for c in self.required if normalize(c) not in header]

    def omitted(self, header: frozenset[str]) -> frozenset[str]:
        """Store columns this file cannot fill, so an import leaves them as they are."""
        return frozenset(
            c for c, names in self.fills.items() if not any(normalize(n) in header for n in names)
        )

    def wanted(self) -> frozenset[str]:
        return frozenset(normalize(c) for c in (*self.required, *self.optional))


def per_row(parse: Callable[[Getter, ParseContext, Warn], Record]) -> Reader:
    """A reader for formats with one record per row: a FieldError skips the row, warnings keep it."""

    def read(items: Iterator[Item], ctx: ParseContext) -> Iterator[Record | RowProblem]:
        name = ctx.name
        warnings: list[str] = []
        for item in items:
            if isinstance(item, RowProblem):
                yield item
                continue
            line, get = item
            try:
                record = parse(get, ctx, warnings.append)
            except FieldError as exc:
                warnings.clear()
                yield RowProblem(file=name, line=line, reason=str(exc))
                continue
            if warnings:
                yield from (RowProblem(file=name, line=line, reason=w, severity="warning") for w in warnings)
                warnings.clear()
            yield record

    return read


def in_shop_currency(
    order: Order, ctx: ParseContext, warn: Warn, *, shop_total: Decimal | None = None
) -> Order:
    """The order in the shop's reporting currency when the source gives that amount; else as it is.

    A refund is converted at the rate the two totals imply. An order left in another currency is
    reported: the store keeps it (it still counts as an order) but leaves it out of money features.
    """
    shop = ctx.shop_currency
    if shop is None or order.currency == shop:
        return order
    if shop_total is not None:
        refunded = (
            (order.refunded * shop_total / order.total).quantize(_E4, ROUND_HALF_EVEN)
            if order.total
            else shop_total * 0
        )
        return replace(order, total=shop_total, refunded=min(refunded, shop_total), currency=shop)
    warn(
        f"order {order.order_id} is in {order.currency}, not the shop's {shop} (shop.currency), and the "
        f"file gives no {shop} amount: kept, but left out of total_spent, avg_order_value and the VIP threshold"
    )
    return order


def refund_within(total: Decimal, refunded: Decimal, total_name: str, refund_name: str) -> Decimal:
    if refunded > total:
        raise FieldError(f"{refund_name} {refunded} is more than {total_name} {total}")
    return refunded


def place(get: Getter, warn: Warn, sides: tuple[tuple[str, str], ...]) -> tuple[str | None, str | None]:
    """(country, province) of the first address with a country, e.g. billing before shipping.

    A country that is not an ISO 3166 code is a warning: the order stays, without a place.
    """
    for country_column, province_column in sides:
        raw = get(country_column)
        if raw and raw.strip():
            try:
                country = fields.country_code(raw)
            except FieldError as exc:
                warn(f"{country_column}: {exc}; the order's country left empty")
                return None, None
            return country, fields.text(get(province_column), max_len=64)
    return None, None


@dataclass(frozen=True, kw_only=True)
class OrderColumns:
    """Where a shop export keeps an order's fields, as the exporter spells the columns."""

    emails: tuple[str, ...]  # the first non-empty one is the buyer's
    created_at: str
    total: str
    currency: str
    sides: tuple[tuple[str, str], ...]  # (country, province) columns, e.g. billing before shipping


def export_order(
    get: Getter,
    ctx: ParseContext,
    warn: Warn,
    columns: OrderColumns,
    *,
    order_id: str,
    label: str,
    refunded: Callable[[], Decimal],
    status: Callable[[], str],
) -> Order:
    """One order of a shop export; every FieldError names the order (`order #1001: Total ...`)."""

    def cell(column: str) -> str:
        return get(normalize(column)) or ""

    try:
        total = amounts.amount(cell(columns.total), columns.total, delimiter=ctx.delimiter)
        country, province = place(get, warn, tuple((normalize(c), normalize(p)) for c, p in columns.sides))
        order = Order(
            order_id=order_id,
            email_key=fields.email_key(next((v for c in columns.emails if (v := cell(c)).strip()), "")),
            created_at=fields.zoned_timestamp(
                cell(columns.created_at), columns.created_at, naive_zone=ctx.naive_zone
            ),
            total=total,
            refunded=refund_within(total, refunded(), columns.total, "refunds"),
            currency=fields.currency_code(cell(columns.currency)),
            status=status(),
            country=country,
            province=province,
        )
    except FieldError as exc:
        raise FieldError(f"order {label}: {exc}") from None
    return in_shop_currency(order, ctx, warn)


def require_zone(ctx: ParseContext, column: str, whose: str) -> str:
    """A `prepare` step for formats whose times carry no UTC offset."""
    if ctx.naive_zone is None:
        raise CsvFileError(
            f"{ctx.name}: {column} is {whose} local time without a UTC offset; pass --timezone "
            "with that zone, e.g. --timezone Europe/Berlin"
        )
    return f"times read in {ctx.naive_zone}"
