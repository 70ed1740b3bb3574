"""WooCommerce orders as WebToffee's "Order Export & Order Import for WooCommerce" exports them.

WooCommerce itself exports no orders: its built-in CSV exporter handles products only
(https://github.com/woocommerce/woocommerce/wiki/Product-CSV-Importer-&-Exporter), and the CSV
download of Analytics > Orders is a report (date, order #, status, customer name, products, net
sales, https://woocommerce.com/document/woocommerce-analytics/) without the buyer's email. So shop
owners export orders with a plugin; this reads the one whose column names woocommerce.com documents
(https://woocommerce.com/document/import-and-export-of-woocommerce-orders/), WebToffee's free
plugin (wordpress.org/plugins/order-import-export-for-woocommerce, the `order_export_<date>.csv`
it writes). Its columns: order_id, order_number, order_date, paid_date, status, shipping_total,
shipping_tax_total, fee_total, fee_tax_total, tax_total, cart_discount, order_discount,
discount_total, order_total, order_subtotal, order_key, order_currency, payment_method,
payment_method_title, transaction_id, customer_ip_address, customer_user_agent, shipping_method,
customer_id, customer_user, customer_email, billing_first_name, billing_last_name,
billing_company, billing_email, billing_phone, billing_address_1, billing_address_2,
billing_postcode, billing_city, billing_state, billing_country, shipping_first_name, ...,
shipping_state, shipping_country, customer_note, wt_import_key, shipping_items, fee_items,
tax_items, coupon_items, refund_items, order_notes, download_permissions, line_item_1, ...

`order_date` is the post date, written `Y-m-d H:i:s` in the WordPress site's time zone with no
offset, so importing needs `--timezone`; a date such as `9/6/2016` (re-saved by a spreadsheet) is
refused, its day/month order being a guess. `refund_items` lists `amount:5.00|reason:...|date:...`
per refund, `;`-separated; the amounts add up to the refunded total. `status` is WooCommerce's
(`completed`, `processing`, ..., a `wc-` prefix is dropped) and goes through the same status table
as the REST connector. Orders are keyed by order_id, the id the REST API uses, so a later
`shop pull` updates the same rows. The export names no product categories.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from segmail.connector import amounts, fields
from segmail.connector.csv_format import (
    CsvFormat,
    OrderColumns,
    ParseContext,
    Warn,
    export_order,
    per_row,
    require_zone,
)
from segmail.connector.csv_tables import Getter
from segmail.connector.fields import FieldError
from segmail.connector.records import Order
from segmail.connector.shop_status import canonical, status_map

_REFUND_AMOUNT: Final = re.compile(r"(?:^|;)\s*amount:([^|;]*)")
_COLUMNS: Final = OrderColumns(
    emails=("billing_email", "customer_email"),
    created_at="order_date",
    total="order_total",
    currency="order_currency",
    sides=(("billing_country", "billing_state"), ("shipping_country", "shipping_state")),
)


def _refunded(get: Getter, delimiter: str) -> Decimal:
    total = Decimal(0)
    for raw in _REFUND_AMOUNT.findall(get("refund_items") or ""):
        total += amounts.amount(raw, "refund_items amount", delimiter=delimiter)
    return total


def _status(raw: str | None, ctx: ParseContext) -> str:
    text = (raw or "").strip().lower().removeprefix("wc-")
    status = canonical(text, status_map("woocommerce", ctx.statuses))
    if status is None:
        raise FieldError(f"status {text!r} is unknown; map it in [shop.statuses]")
    return status


def _order(get: Getter, ctx: ParseContext, warn: Warn) -> Order:
    order_id = fields.text(get("order_id"), max_len=128)
    if order_id is None:
        raise FieldError("order_id is empty")
    return export_order(
        get,
        ctx,
        warn,
        _COLUMNS,
        order_id=order_id,
        label=order_id,
        refunded=lambda: _refunded(get, ctx.delimiter),
        status=lambda: _status(get("status"), ctx),
    )


FORMAT: Final = CsvFormat(
    name="woocommerce",
    title="WooCommerce orders export (WebToffee Order Export & Order Import)",
    kind="orders",
    required=("order_id", "order_date", "status", "order_total", "order_currency", "billing_email"),
    optional=(
        "customer_email",
        "refund_items",
        "billing_country",
        "billing_state",
        "shipping_country",
        "shipping_state",
    ),
    read=per_row(_order),
    source="woocommerce",
    prepare=lambda ctx: require_zone(ctx, "order_date", "the WordPress site's"),
)
