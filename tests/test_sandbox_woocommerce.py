"""The WooCommerce sandbox answers as WooCommerce documents it, asked over plain HTTP (no connector).

The reference is the REST API documentation, https://woocommerce.github.io/woocommerce-rest-api-docs/;
where it is silent, WooCommerce's and WordPress's own code (named at each test) decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from segmail.connector.shop_status import CANONICAL, DEFAULTS
from segmail.sandbox.woocommerce import WooCommerceSandbox

T0 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
PLUS2 = timedelta(hours=2)


def gmt(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def order(order_id: int, hours: int) -> dict:
    at = gmt(T0 + timedelta(hours=hours))
    return {"id": order_id, "status": "completed", "currency": "EUR", "total": "10.00",
            "date_created_gmt": at, "date_modified_gmt": at, "billing": {"email": f"b{order_id}@example.com"}}  # fmt: skip


@pytest.fixture
def store() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox(utc_offset=PLUS2, clock=lambda: T0) as sb:
        for n in range(1, 26):
            sb.add_order(order(n, hours=n))
        yield sb


def get(
    sb: WooCommerceSandbox, *, secret: str | None = None, key: str | None = None, **params
) -> requests.Response:
    auth = (key or sb.consumer_key, secret or sb.consumer_secret)
    return requests.get(sb.base_url + "/wp-json/wc/v3/orders", params=params, auth=auth, timeout=5)


def ids(response: requests.Response) -> list[int]:
    return [o["id"] for o in response.json()]


# https://woocommerce.github.io/woocommerce-rest-api-docs/#pagination: "paginated to 10 items by default",
# "Page number is 1-based", "The total number of resources and pages are always included in the X-WP-Total
# and X-WP-TotalPages HTTP headers". The 100 maximum is WordPress's (`'maximum' => 100` in the collection
# params; https://developer.wordpress.org/rest-api/using-the-rest-api/pagination/: "an integer from 1 to 100").
def test_pages_default_to_ten_carry_the_totals_and_stop_at_100(store):
    first = get(store, orderby="id", order="asc")
    assert ids(first) == list(range(1, 11))
    assert (first.headers["X-WP-Total"], first.headers["X-WP-TotalPages"]) == ("25", "3")
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    last = get(store, orderby="id", order="asc", page=3)
    assert ids(last) == list(range(21, 26)) and 'rel="next"' not in last.headers["Link"]
    for bad in (101, 0):
        refused = get(store, per_page=bad)
        assert refused.status_code == 400 and refused.json()["code"] == "rest_invalid_param"
        assert set(refused.json()["data"]["params"]) == {"per_page"}


# A page past the end: WooCommerce's WC_REST_CRUD_Controller::get_objects runs the count again and answers
# an empty list with the real totals (the docs are silent; WordPress's posts controller would send a 400).
def test_a_page_past_the_end_is_an_empty_list(store):
    past = get(store, per_page=10, page=9)
    assert past.status_code == 200 and past.json() == []
    assert (past.headers["X-WP-Total"], past.headers["X-WP-TotalPages"]) == ("25", "3")


# https://woocommerce.github.io/woocommerce-rest-api-docs/#errors: "response object which contains a code,
# message and data attribute". Which code: WC_REST_Authentication::perform_basic_authentication leaves an
# unknown key unauthenticated (then the endpoint says `woocommerce_rest_cannot_view`) and names a wrong secret.
def test_errors_have_the_documented_shape_and_codes(store):
    unknown = get(store, key="ck_nobody_at_all")
    wrong = get(store, secret="cs_not_the_secret")
    missing = requests.get(store.base_url + "/wp-json/wc/v3/orders", timeout=5)
    for response, code in ((unknown, "woocommerce_rest_cannot_view"), (missing, "woocommerce_rest_cannot_view"),
                           (wrong, "woocommerce_rest_authentication_error")):  # fmt: skip
        body = response.json()
        assert response.status_code == 401 and set(body) == {"code", "message", "data"}
        assert body["code"] == code and body["data"] == {"status": 401}
    assert wrong.json()["message"] == "Consumer secret is invalid."
    gone = requests.get(store.base_url + "/wp-json/wc/v3/nope", auth=(store.consumer_key, store.consumer_secret),
                        timeout=5)  # fmt: skip
    assert gone.status_code == 404 and gone.json()["code"] == "rest_no_route"


# https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties: `date_modified` is "in the site's
# timezone", `date_modified_gmt` "as GMT"; #list-all-orders: `dates_are_gmt` "Whether to consider GMT post
# dates when limiting response by published or modified date" (WooCommerce 5.4+; `modified_after` 5.8+).
def test_dates_are_gmt_picks_the_column_a_naive_bound_is_compared_with(store):
    bound = gmt(T0 + timedelta(hours=20))  # naive: orders 21..25 by GMT, 19..25 by the site's clock (UTC+2)
    by_gmt = get(store, orderby="id", order="asc", modified_after=bound, dates_are_gmt="true")
    by_local = get(store, orderby="id", order="asc", modified_after=bound)
    assert ids(by_gmt) == [21, 22, 23, 24, 25]
    assert ids(by_local) == [19, 20, 21, 22, 23, 24, 25]
    first = by_gmt.json()[0]
    assert (first["date_modified_gmt"], first["date_modified"]) == (gmt(T0 + timedelta(hours=21)),
                                                                    gmt(T0 + timedelta(hours=23)))  # fmt: skip


# The docs say only "ISO8601 compliant date". WordPress decides the rest: `rest_parse_date` refuses anything
# but `YYYY-MM-DDTHH:MM:SS[.f][Z|±HH[:MM]]` (400 "Invalid date."), and WP_Date_Query::build_mysql_datetime turns
# a bound WITH an offset into the site's wall clock even when the GMT column is compared, so an offset is
# misread by the site's own offset under `dates_are_gmt=true`. The connector therefore sends naive GMT.
def test_a_bound_with_an_offset_is_read_as_wordpress_reads_it(store):
    with_offset = get(store, orderby="id", order="asc", dates_are_gmt="true",
                      modified_after=(T0 + timedelta(hours=20)).isoformat())  # fmt: skip
    assert ids(with_offset) == [23, 24, 25]  # "+00:00" became 22:00 site time, then compared as GMT
    for bad in ("2026-01-31", "2026-01-31T10:00", "yesterday"):
        refused = get(store, modified_after=bad)
        assert refused.status_code == 400 and refused.json()["data"]["params"] == {
            "modified_after": "Invalid date."
        }
    not_bool = get(store, dates_are_gmt="yes")
    assert not_bool.status_code == 400 and set(not_bool.json()["data"]["params"]) == {"dates_are_gmt"}


# The WooCommerce changelog (https://github.com/woocommerce/woocommerce/blob/trunk/changelog.txt): 4.4 added
# `orderby=modified`, 5.4 `dates_are_gmt`, 5.8 `modified_after`. WordPress drops undeclared parameters but
# validates `orderby` against its enum.
@pytest.mark.parametrize(
    ("version", "status", "served"),
    [("4.3", 400, None), ("5.3", 200, 25), ("5.7", 200, 25), ("5.8", 200, 5)],
)
def test_older_stores_ignore_what_they_do_not_know(version, status, served):
    with WooCommerceSandbox(version=version, clock=lambda: T0) as sb:
        for n in range(1, 26):
            sb.add_order(order(n, hours=n))
        response = get(sb, per_page=100, orderby="modified", order="asc", dates_are_gmt="true",
                       modified_after=gmt(T0 + timedelta(hours=20)))  # fmt: skip
    assert response.status_code == status
    if served is None:
        assert set(response.json()["data"]["params"]) == {"orderby"}
    else:
        assert len(response.json()) == served


# https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties: `status` "Options: pending,
# processing, on-hold, completed, cancelled, refunded, failed and trash". Every one maps onto a segmail status.
def test_every_documented_order_status_has_a_canonical_status():
    documented = {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"}
    mapping = DEFAULTS["woocommerce"]
    assert documented <= set(mapping) and set(mapping.values()) <= CANONICAL
