"""Privacy requests from the shops, read from the files their tools produce: Shopify's webhooks, WordPress's list.

Shopify (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance; the older page
https://help.shopify.com/api/guides/gdpr-resources shows the same bodies) POSTs a JSON body per topic:
- `customers/redact`: `{"shop_id", "shop_domain", "customer": {"id", "email", "phone"}, "orders_to_redact": [ids]}`;
  "In some cases, a customer record contains only the customer's email address", and the phone or the
  orders may be missing, so every field but the shop is optional here;
- `shop/redact`, 48 hours after the shop uninstalled the app: `{"shop_id", "shop_domain"}`;
- `customers/data_request`: `{"shop_id", "shop_domain", "orders_requested": [ids], "customer": {...},
  "data_request": {"id"}}`.
segmail is no web server: whatever receives the webhook (and checks its `X-Shopify-Hmac-Sha256`) saves the
body and hands it to `segmail forget --shopify-redact FILE` or `segmail export-person --shopify-request FILE`.
The topic is read from the body's shape, since the body does not name it.

WordPress (WooCommerce's erasers run inside WordPress core's privacy tools, Tools > Erase Personal Data)
writes no file when it erases. What lists the requests is WP-CLI's `wp user privacy-request list
--action-type=remove_personal_data --format=json` (or `--format=csv`), whose fields are `ID`, `user_email`,
`action_name`, `status`, `created_timestamp` (https://developer.wordpress.org/cli/commands/user/privacy-request/list/;
"not part of a stable WP-CLI release yet"). That list is what segmail reads; WordPress documents no other
export of erasure requests (the docs are silent; this choice is segmail's). Only requests the person
confirmed or an admin completed (`request-confirmed`, `request-completed`) are taken: a pending one may
not come from the address's owner.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from segmail.connector.fields import FieldError, email_key

Kind = Literal["customers/redact", "shop/redact", "customers/data_request", "woocommerce/erasure"]
WP_TAKEN: Final = frozenset({"request-confirmed", "request-completed"})


class RequestError(ValueError):
    """The file is no request segmail knows; the message names the field, never personal data."""


@dataclass(frozen=True, kw_only=True)
class PrivacyRequest:
    kind: Kind
    emails: tuple[str, ...] = ()  # normalised (email_key), deduplicated, in the file's order
    order_ids: tuple[str, ...] = ()  # Shopify's numeric order ids, as segmail stores them
    shop_domain: str | None = None
    request_id: str | None = None  # Shopify's data_request.id
    not_taken: int = 0  # WordPress requests left out: not confirmed, not an erasure, no valid address

    def describe(self) -> str:
        """For the audit log and the user: the request without anyone's data."""
        where = f" from {self.shop_domain}" if self.shop_domain else ""
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.kind}{where}{rid}"


def shopify_request(text: str) -> PrivacyRequest:
    """A Shopify privacy webhook body: customers/redact, shop/redact or customers/data_request."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(body, dict):
        raise RequestError("expected a JSON object (a Shopify webhook body)")
    domain = body.get("shop_domain")
    if not isinstance(domain, str) or not domain.strip():
        raise RequestError("shop_domain: missing; expected a Shopify privacy webhook body")
    domain = domain.strip().lower()
    if "data_request" in body:
        request = body.get("data_request")
        rid = request.get("id") if isinstance(request, dict) else None
        return PrivacyRequest(
            kind="customers/data_request", shop_domain=domain, emails=_customer_email(body),
            order_ids=_order_ids(body, "orders_requested"), request_id=None if rid is None else str(rid),
        )  # fmt: skip
    if "customer" in body or "orders_to_redact" in body:
        emails, orders = _customer_email(body), _order_ids(body, "orders_to_redact")
        if not emails and not orders:
            raise RequestError("customer.email and orders_to_redact are both empty: nobody to redact")
        return PrivacyRequest(kind="customers/redact", shop_domain=domain, emails=emails, order_ids=orders)
    unknown = sorted(set(body) - {"shop_id", "shop_domain"})
    if unknown:
        raise RequestError(f"unexpected field(s) {', '.join(unknown)} for a shop/redact body")
    return PrivacyRequest(kind="shop/redact", shop_domain=domain)


def _customer_email(body: Mapping[str, Any]) -> tuple[str, ...]:
    customer = body.get("customer")
    if customer is None:
        return ()
    if not isinstance(customer, dict):
        raise RequestError("customer: expected an object with id, email, phone")
    raw = customer.get("email")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ()
    try:
        return (email_key(str(raw)),)
    except FieldError as exc:
        raise RequestError(f"customer.email: {exc}") from None


def _order_ids(body: Mapping[str, Any], field: str) -> tuple[str, ...]:
    raw = body.get(field)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RequestError(f"{field}: expected a list of order ids")
    out: list[str] = []
    for i, item in enumerate(raw):
        text = str(item).strip().rsplit("/", 1)[-1]  # 450789469, "450789469" or gid://shopify/Order/450789469
        if isinstance(item, bool) or not text.isdigit():
            raise RequestError(f"{field}[{i}]: expected a numeric order id")
        out.append(text)
    return tuple(dict.fromkeys(out))


def wordpress_erasures(text: str) -> PrivacyRequest:
    """`wp user privacy-request list --format=json|csv`: the confirmed or completed erasure requests."""
    rows = _wp_rows(text)
    emails: list[str] = []
    not_taken = 0
    for row in rows:
        action, status = str(row.get("action_name") or ""), str(row.get("status") or "")
        if action != "remove_personal_data" or status not in WP_TAKEN:
            not_taken += 1
            continue
        try:
            emails.append(email_key(str(row.get("user_email") or "")))
        except FieldError:
            not_taken += 1
    return PrivacyRequest(
        kind="woocommerce/erasure", emails=tuple(dict.fromkeys(emails)), not_taken=not_taken
    )


def _wp_rows(text: str) -> list[Mapping[str, Any]]:
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise RequestError(f"not JSON (line {exc.lineno}, column {exc.colno})") from None
        if not all(isinstance(r, dict) for r in data):
            raise RequestError("expected a JSON list of objects (wp user privacy-request list --format=json)")
        rows: list[Mapping[str, Any]] = data
    else:
        rows = list(csv.DictReader(io.StringIO(stripped)))
    if rows and not {"user_email", "action_name", "status"} <= set(rows[0]):
        raise RequestError(
            "expected the fields user_email, action_name and status "
            "(wp user privacy-request list --format=json or --format=csv)"
        )
    return rows
