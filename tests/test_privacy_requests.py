"""Reading the shops' privacy requests: Shopify's mandatory webhook bodies and WordPress's erasure list."""

from __future__ import annotations

import json

import pytest

from segmail.connector.fields import FieldError, email_key
from segmail.connector.privacy_requests import RequestError, shopify_request, wordpress_erasures

# The bodies as Shopify's docs show them, https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance
# (also https://help.shopify.com/api/guides/gdpr-resources, "Webhook payload").
CUSTOMERS_REDACT = {
    "shop_id": 954889,
    "shop_domain": "{shop}.myshopify.com",
    "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
    "orders_to_redact": [299938, 280263, 220458],
}
SHOP_REDACT = {"shop_id": 954889, "shop_domain": "{shop}.myshopify.com"}
DATA_REQUEST = {
    "shop_id": 954889,
    "shop_domain": "{shop}.myshopify.com",
    "orders_requested": [299938, 280263, 220458],
    "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
    "data_request": {"id": 9999},
}


def test_the_three_shopify_topics_are_told_apart_by_their_shape():
    redact = shopify_request(json.dumps(CUSTOMERS_REDACT))
    assert (redact.kind, redact.emails, redact.order_ids) == (
        "customers/redact",
        ("john@example.com",),
        ("299938", "280263", "220458"),
    )
    assert shopify_request(json.dumps(SHOP_REDACT)).kind == "shop/redact"
    request = shopify_request(json.dumps(DATA_REQUEST))
    assert (request.kind, request.request_id, request.order_ids[0]) == (
        "customers/data_request",
        "9999",
        "299938",
    )
    assert request.describe() == "customers/data_request from {shop}.myshopify.com (request 9999)"
    assert "john" not in redact.describe()


def test_a_customer_with_only_an_email_or_only_orders_is_still_a_request():
    # "In some cases, a customer record contains only the customer's email address" (the docs above)
    only_email = {**SHOP_REDACT, "customer": {"email": "Only@Example.com"}}
    assert shopify_request(json.dumps(only_email)).emails == ("only@example.com",)
    only_orders = {
        **SHOP_REDACT,
        "customer": {"id": 1, "email": None},
        "orders_to_redact": ["gid://shopify/Order/7"],
    }
    assert shopify_request(json.dumps(only_orders)).order_ids == ("7",)
    with pytest.raises(RequestError, match="both empty"):
        shopify_request(json.dumps({**SHOP_REDACT, "customer": {"id": 1}, "orders_to_redact": []}))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "not JSON"),
        ("[]", "expected a JSON object"),
        (json.dumps({"customer": {}}), "shop_domain: missing"),
        # an app/uninstalled body is no shop/redact: it must never delete the shop's orders
        (json.dumps({**SHOP_REDACT, "id": 1, "name": "x"}), "unexpected field"),
        (json.dumps({**CUSTOMERS_REDACT, "orders_to_redact": ["#1001"]}), r"orders_to_redact\[0\]"),
        (json.dumps({**CUSTOMERS_REDACT, "customer": {"email": "not-an-address"}}), "customer.email"),
    ],
)
def test_a_body_that_is_no_shopify_request_is_refused_by_name(body, says):
    with pytest.raises(RequestError, match=says) as refused:
        shopify_request(body)
    assert "not-an-address" not in str(refused.value)


# `wp user privacy-request list` fields: ID, user_email, action_name, status, created_timestamp
# (https://developer.wordpress.org/cli/commands/user/privacy-request/list/).
def test_wordpress_erasures_takes_confirmed_and_completed_removals_only():
    rows = [
        {"ID": 1, "user_email": "Ann@Example.com", "action_name": "remove_personal_data", "status": "request-completed",
         "created_timestamp": 1713779524},
        {"ID": 2, "user_email": "bob@example.com", "action_name": "remove_personal_data", "status": "request-confirmed",
         "created_timestamp": 1713779525},
        {"ID": 3, "user_email": "cat@example.com", "action_name": "remove_personal_data", "status": "request-pending",
         "created_timestamp": 1713779526},
        {"ID": 4, "user_email": "dan@example.com", "action_name": "export_personal_data", "status": "request-completed",
         "created_timestamp": 1713779527},
    ]  # fmt: skip
    from_json = wordpress_erasures(json.dumps(rows))
    assert from_json.emails == ("ann@example.com", "bob@example.com") and from_json.not_taken == 2
    csv_text = "ID,user_email,action_name,status,created_timestamp\n" + "\n".join(
        f"{r['ID']},{r['user_email']},{r['action_name']},{r['status']},{r['created_timestamp']}" for r in rows
    )
    assert wordpress_erasures(csv_text).emails == from_json.emails
    with pytest.raises(RequestError, match="user_email"):
        wordpress_erasures("email\nann@example.com\n")


# WordPress anonymises an erased order's address to `deleted@site.invalid`
# (https://developer.wordpress.org/reference/functions/wp_privacy_anonymize_data/): nobody's address.
def test_an_anonymised_placeholder_address_is_nobody():
    with pytest.raises(FieldError, match="anonymised placeholder"):
        email_key("deleted@site.invalid")
    assert email_key(" Real@Site.example ") == "real@site.example"
