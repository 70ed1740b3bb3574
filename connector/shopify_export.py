"""Shopify's orders export (Orders > Export > CSV) as orders, one per order however many lines it has.

The export has one row per line item; the order's own fields (Financial Status, Created at,
Total, Refunded Amount, Cancelled at, Id, the addresses, ...) are filled on its first row only and
the further rows of the same order repeat its Name. So the first row of each run of one Name is
the order, and the rest are skipped (https://docs.xbp.app/docs/development/integrations/shopify/order-format
describes the layout with a real export). The header, as Shopify writes it: Name, Email,
Financial Status, Paid at, Fulfillment Status, Fulfilled at, Accepts Marketing, Currency,
Subtotal, Shipping, Taxes, Total, Discount Code, Discount Amount, Shipping Method, Created at,
Lineitem quantity, Lineitem name, Lineitem price, Lineitem compare at price, Lineitem sku,
Lineitem requires shipping, Lineitem taxable, Lineitem fulfillment status, Billing Name ...
Billing Province, Billing Country, Billing Phone, Shipping Name ... Shipping Country, Shipping
Phone, Notes, Note Attributes, Cancelled at, Payment Method, Payment Reference, Refunded Amount,
Vendor, Outstanding Balance, Employee, Location, Device ID, Id, Tags, Risk Level, Source,
Lineitem discount, Tax 1 Name, Tax 1 Value, ... Times are written `2024-03-05 14:22:10 -0500`.

The financial status goes through the same table as the API connector (`segmail.connector.shop_status`,
with `[shop.statuses]` overrides); a cancelled order (Cancelled at set) is `cancelled`, as in the
API connector. Orders are keyed by Id (the API's numeric order id, so a later `shop pull` updates
the same rows) or, without an Id column, by Name. The export has no product type, so imported
orders carry no categories. Amounts are in the order's Currency; the export gives no
shop-currency amount, so an order in another currency is reported and left out of money features.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from segmail.connector import amounts, fields
from segmail.connector.csv_format import (
    CsvFormat,
    OrderColumns,
    ParseContext,
    Warn,
    export_order,
    per_row,
)
from segmail.connector.csv_tables import Getter, Item
from segmail.connector.fields import FieldError
from segmail.connector.records import Order, Record, RowProblem
from segmail.connector.shop_status import canonical, status_map

_COLUMNS: Final = OrderColumns(
    emails=("Email",),
    created_at="Created at",
    total="Total",
    currency="Currency",
    sides=(("Billing Country", "Billing Province"), ("Shipping Country", "Shipping Province")),
)


def _first_rows(items: Iterator[Item]) -> Iterator[Item]:
    """Problems, and the first row of each run of rows with one Name (the order's own row)."""
    previous: str | None = None
    for item in items:
        if not isinstance(item, RowProblem):
            name = (item[1]("name") or "").strip()
            if name and name == previous:
                continue
            previous = name
        yield item


def _status(get: Getter, ctx: ParseContext) -> str:
    if (get("cancelled at") or "").strip():
        return "cancelled"
    raw = (get("financial status") or "").strip()
    if not raw:
        raise FieldError(
            "Financial Status is empty (a further line of an order whose first line is elsewhere? "
            "keep each order's rows together)"
        )
    status = canonical(raw, status_map("shopify", ctx.statuses))
    if status is None:
        raise FieldError(f"Financial Status {raw!r} is not mapped (add it to [shop.statuses])")
    return status


def _order(get: Getter, ctx: ParseContext, warn: Warn) -> Order:
    name = fields.text(get("name"), max_len=128)
    if name is None:
        raise FieldError("Name is empty")
    return export_order(
        get,
        ctx,
        warn,
        _COLUMNS,
        order_id=fields.text(get("id"), max_len=128) or name,
        label=name,
        refunded=lambda: amounts.optional_amount(
            get("refunded amount"), "Refunded Amount", delimiter=ctx.delimiter
        ),
        status=lambda: _status(get, ctx),
    )


_per_order = per_row(_order)


def _read(items: Iterator[Item], ctx: ParseContext) -> Iterator[Record | RowProblem]:
    return _per_order(_first_rows(items), ctx)


FORMAT: Final = CsvFormat(
    name="shopify",
    title="Shopify orders export",
    kind="orders",
    required=("Name", "Email", "Financial Status", "Created at", "Total", "Currency", "Lineitem name"),
    optional=(
        "Id",
        "Refunded Amount",
        "Cancelled at",
        "Billing Country",
        "Billing Province",
        "Shipping Country",
        "Shipping Province",
    ),
    read=_read,
    source="shopify",
)
