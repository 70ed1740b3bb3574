"""The `GET /orders` query string as WooCommerce reads it: filters, sort order, paging, and the 400 it answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

MAX_PER_PAGE: Final = 100
# The WooCommerce version that added each filter (https://github.com/woocommerce/woocommerce/blob/trunk/changelog.txt):
# 4.4 "REST API 1.0.15 … Introduced the modified option for orderby" (woocommerce-rest-api#226),
# 5.4 "Add - dates_are_gmt parameters in REST API", 5.8 "Add - `modified_before` and `modified_after`
# filtering parameters to REST API for products, orders and coupons. #30585".
ORDERBY_MODIFIED_SINCE: Final = (4, 4)
DATES_ARE_GMT_SINCE: Final = (5, 4)
MODIFIED_AFTER_SINCE: Final = (5, 8)
# WooCommerce's date fields: naive, `*_gmt` in GMT, the others site-local
GMT_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
# WordPress's `rest_parse_date` (wp-includes/rest-api.php): what a `format: date-time` parameter accepts
_RFC3339: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}(?::\d{2})?)?")
_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}  # WordPress's `rest_is_boolean`
_ORDERBY: Final = {  # orderby → the field sorted on (ties broken by id)
    "date": "date_created_gmt",
    "modified": "date_modified_gmt",
    "id": "id",
    "include": "id",
    "title": "id",
    "slug": "id",
}
_DATE_PARAMS: Final = {"after": "date_created", "modified_after": "date_modified"}  # + "_gmt" when asked


class HttpError(Exception):
    """A WordPress REST error: the status, its `code`, its message and any `data`."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.data = status, code, data


@dataclass(frozen=True)
class OrdersQuery:
    """The list parameters this sandbox understands, validated the way WordPress does (400 otherwise)."""

    per_page: int
    page: int
    orderby: str
    descending: bool
    bounds: tuple[tuple[str, str], ...]  # (field, naive lower bound in that field's clock), exclusive

    @classmethod
    def parse(
        cls, q: Mapping[str, list[str]], *, version: tuple[int, int], utc_offset: timedelta
    ) -> OrdersQuery:
        def one(name: str, default: str) -> str:
            return q.get(name, [default])[-1]

        invalid: dict[str, str] = {}
        per_page = _int_param(one("per_page", "10"), "per_page", 1, MAX_PER_PAGE, invalid)
        page = _int_param(one("page", "1"), "page", 1, None, invalid)
        orderby = one("orderby", "date")
        allowed = set(_ORDERBY) - (set() if version >= ORDERBY_MODIFIED_SINCE else {"modified"})
        if orderby not in allowed:
            invalid["orderby"] = f"orderby is not one of {', '.join(sorted(allowed))}."
        order = one("order", "desc")
        if order not in ("asc", "desc"):
            invalid["order"] = "order is not one of asc, desc."
        use_gmt = False
        if version >= DATES_ARE_GMT_SINCE and "dates_are_gmt" in q:
            flag = _BOOLEANS.get(one("dates_are_gmt", "").lower())
            if flag is None:
                invalid["dates_are_gmt"] = "dates_are_gmt is not of type boolean."
            use_gmt = bool(flag)
        bounds = []
        for name, column in _DATE_PARAMS.items():
            if name not in q or (name == "modified_after" and version < MODIFIED_AFTER_SINCE):
                continue  # an older store drops a parameter it does not declare
            bound = _wall_clock(q[name][-1], utc_offset)
            if bound is None:
                invalid[name] = "Invalid date."
            else:
                bounds.append((column + ("_gmt" if use_gmt else ""), bound))
        if invalid:
            raise HttpError(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(invalid)}",
                             params=invalid)  # fmt: skip
        return cls(per_page, page, orderby, order == "desc", tuple(bounds))

    def matches(self, order: Mapping[str, Any]) -> bool:
        # naive date strings compare like the times they name; a malformed stored date simply sorts oddly
        return all(str(order.get(column, "")) > bound for column, bound in self.bounds)

    def sort_key(self, order: Mapping[str, Any]) -> tuple[str, int]:
        column = _ORDERBY[self.orderby]
        value = "" if column == "id" else str(order.get(column, ""))
        return (value, int(order["id"]))


def _int_param(raw: str, name: str, low: int, high: int | None, invalid: dict[str, str]) -> int:
    try:
        value = int(raw)
    except ValueError:
        invalid[name] = f"{name} is not of type integer."
        return low
    if value < low or (high is not None and value > high):
        upper = f" and {high} (inclusive)" if high is not None else ""
        invalid[name] = f"{name} must be between {low} (inclusive){upper}"
    return value


def _wall_clock(raw: str, utc_offset: timedelta) -> str | None:
    """A date parameter as the naive value WordPress compares with a date column, or None when invalid.

    The REST docs say only "ISO8601 compliant date". WordPress (`WP_DateOrdersQuery::build_mysql_datetime`,
    wp-includes/class-wp-date-query.php) keeps a naive value as it is and turns one with an offset into
    the site's wall clock, whichever column it is then compared with: so with `dates_are_gmt=true` an
    offset is misread by the site's own offset. The client sends naive GMT values for that reason.
    """
    text = raw.strip()
    if _RFC3339.fullmatch(text) is None:
        return None
    value = datetime.fromisoformat(re.sub(r"[Tt ]", "T", text, count=1).replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None) + utc_offset
    return value.strftime(GMT_FORMAT)
