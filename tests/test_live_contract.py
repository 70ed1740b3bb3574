"""Contract checks: the same questions asked of each sandbox (always) and of the real service (when configured).

Every test runs twice, `[sandbox]` and `[live]`, through segmail's own connectors. The live run needs
  Mailchimp:   SEGMAIL_LIVE_MAILCHIMP_KEY, SEGMAIL_LIVE_MAILCHIMP_LIST (+ SEGMAIL_LIVE_MAILCHIMP_TAG for writes)
  Shopify:     SEGMAIL_LIVE_SHOPIFY_URL, SEGMAIL_LIVE_SHOPIFY_TOKEN
  WooCommerce: SEGMAIL_LIVE_WC_URL, SEGMAIL_LIVE_WC_KEY, SEGMAIL_LIVE_WC_SECRET
and is skipped, naming them, without. Live checks only read, except one: with SEGMAIL_LIVE_MAILCHIMP_TAG
set, one subscribed member is added to that tag and removed again. Run them with
  .venv/bin/python -m pytest tests/test_live_contract.py -rs
A sandbox that passes where the real service fails answers a question differently: fix the sandbox.
Members and orders appear in assertion messages only as hashes or ids, never as addresses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from segmail.connector.http import ConfigurationError
from segmail.connector.mailchimp import PAGE_SIZE, MailchimpApi
from segmail.connector.mailchimp_parse import subscriber_hash
from segmail.connector.records import CONTACT_STATUSES, OrderPage
from segmail.connector.shopify import MAX_PAGE_SIZE
from segmail.connector.woocommerce import BY_MODIFIED
from tests.live_targets import (
    MAILCHIMP_TAG_VAR,
    MailchimpTarget,
    ShopifyTarget,
    Wire,
    WooTarget,
    first_pages,
)

SHOPIFY_MAX_COST = (
    1_000  # "The maximum cost of a single query is 1,000 points" (shopify.dev, API rate limits)
)


def _status_problems(problems: list[str]) -> list[str]:
    return [p for p in problems if "status" in p]


def _check_order_pages(target: str, since: str, pages: list[OrderPage], min_pages: int) -> None:
    """What every shop's pages must hold: each order once, cursors only forward, every status mapped."""
    ids = [o.order_id for page in pages for o in page.orders]
    if not ids:
        pytest.skip(f"{target}: no orders changed since {since}; nothing to page")
    assert len(pages) >= min_pages and len(set(ids)) == len(ids), "an order came twice"
    cursors = [datetime.fromisoformat(p.cursor) for p in pages if p.cursor]
    assert all(a <= b for a, b in pairwise(cursors)), "cursors move forward"
    assert _status_problems([p for page in pages for p in page.problems]) == []


# ---- Mailchimp: https://mailchimp.com/developer/marketing/api/list-members/list-members-info/ --------


def test_mailchimp_members_page_to_total_items_once_each_oldest_change_first(mailchimp: MailchimpTarget):
    """`count` ≤ 1000 and `offset` page the collection; `total_items` counts it "regardless of pagination"."""
    api = mailchimp.api
    head = api.call("count members", api.client.lists.get_list_members_info, mailchimp.list_id, count=1,
                    fields=["total_items"])  # fmt: skip
    pages = mailchimp.all_pages()
    keys = [subscriber_hash(m.email_key) for page in pages for m in page.members]
    problems = [p for page in pages for p in page.problems]
    assert len(pages) >= mailchimp.min_pages
    assert len(keys) + len(problems) == head["total_items"], "members read once each, none skipped"
    assert len(set(keys)) == len(keys), "no member read twice"
    assert all(len(page.members) + len(page.problems) <= PAGE_SIZE for page in pages)
    changes = [page.newest_change for page in pages if page.newest_change is not None]
    assert changes == sorted(changes), "pages come oldest change first, so a saved cursor never runs ahead"
    assert all(c.utcoffset() == timedelta(0) for c in changes)


def test_mailchimp_since_last_changed_misses_nothing_changed_after_the_cursor(mailchimp: MailchimpTarget):
    """`since_last_changed` "Restrict results to subscribers whose information changed after the set timeframe"."""
    members = [m for page in mailchimp.all_pages() for m in page.members if m.last_changed is not None]
    if len(members) < 2:
        pytest.skip(f"{mailchimp.name}: fewer than two members with a last change; nothing to compare")
    times = sorted(m.last_changed for m in members if m.last_changed is not None)
    since = times[len(times) // 2]
    later = [m for page in mailchimp.api.members(mailchimp.list_id, since=since) for m in page.members]
    expected = {subscriber_hash(m.email_key) for m in members if m.last_changed and m.last_changed > since}
    got = {subscriber_hash(m.email_key) for m in later}
    assert expected <= got, f"{len(expected - got)} member(s) changed after the cursor were not returned"
    assert all(m.last_changed is not None and m.last_changed >= since for m in later)


def test_mailchimp_statuses_are_the_documented_ones(mailchimp: MailchimpTarget):
    pages = mailchimp.all_pages()
    assert {m.status for page in pages for m in page.members} <= CONTACT_STATUSES
    assert _status_problems([p for page in pages for p in page.problems]) == []


def test_mailchimp_refuses_a_wrong_key_with_a_problem_document(mailchimp: MailchimpTarget):
    """https://mailchimp.com/developer/marketing/docs/errors/: 401 "API Key Invalid", as problem+json."""
    api: MailchimpApi = mailchimp.connect(mailchimp.wrong_key)
    try:
        with pytest.raises(ConfigurationError) as caught:
            api.ping()
    finally:
        api.close()
    assert caught.value.status == 401 and caught.value.detail  # the title/detail came from the problem body
    assert mailchimp.wrong_key not in str(caught.value)


def test_mailchimp_tag_write_adds_and_removes_one_member(mailchimp: MailchimpTarget):
    """Tags are static segments; `members_to_add`/`members_to_remove` change them (at most 500 each)."""
    if mailchimp.tag is None:
        pytest.skip(f"tag write check not configured: set {MAILCHIMP_TAG_VAR} to a tag segmail may change")
    api, list_id, tag = mailchimp.api, mailchimp.list_id, mailchimp.tag
    segment_id = api.static_segments(list_id).get(tag) or api.create_static_segment(list_id, tag)

    def tagged() -> set[str]:
        pages = api.pages("segment members", api.client.lists.get_segment_members_list, list_id, str(segment_id),
                          items="members", fields=["members.email_address", "total_items"])  # fmt: skip
        return {subscriber_hash(str(m["email_address"])) for page in pages for m in page}

    before = tagged()
    candidates = (m for page in mailchimp.all_pages() for m in page.members if m.status == "subscribed")
    member = next((m for m in candidates if subscriber_hash(m.email_key) not in before), None)
    if member is None:
        pytest.skip(f"{mailchimp.name}: every subscribed member already has the tag; nothing to add and undo")
    who = subscriber_hash(member.email_key)
    added = api.change_segment(list_id, segment_id, add=[member.email_key], remove=())
    assert (added.added, added.refused) == ([member.email_key], {}), f"member {who} not added"
    assert tagged() == before | {who}
    removed = api.change_segment(list_id, segment_id, add=(), remove=[member.email_key])
    assert (removed.removed, removed.refused) == ([member.email_key], {}), f"member {who} not removed"
    assert tagged() == before, "the tag is back as it was"


# ---- Shopify: https://shopify.dev/docs/api/usage/rate-limits (calculated query cost) ------------------


def test_shopify_pages_by_cursor_within_the_query_cost_limit(shopify: ShopifyTarget, wire: Wire):
    """Every answer carries `extensions.cost`; no query asks for more than 1,000 points; statuses map."""
    with shopify.client(page_size=min(10, MAX_PAGE_SIZE)) as client:
        pages = first_pages(client.pages(cursor=shopify.since))
    answers = [e.body for e in wire.on("/graphql.json")]
    assert answers, "no GraphQL answer recorded"
    costs = [(a.get("extensions") or {}).get("cost") if isinstance(a, dict) else None for a in answers]
    assert all(isinstance(c, dict) for c in costs), "an answer without extensions.cost"
    assert all(c["requestedQueryCost"] <= SHOPIFY_MAX_COST for c in costs)
    assert all(
        {"maximumAvailable", "currentlyAvailable", "restoreRate"} <= set(c["throttleStatus"]) for c in costs
    )
    _check_order_pages(shopify.name, shopify.since, pages, shopify.min_pages)


def test_shopify_resume_reads_only_orders_updated_after_the_cursor(shopify: ShopifyTarget, wire: Wire):
    with shopify.client(page_size=10) as client:
        cursor = next((p.cursor for p in first_pages(client.pages(cursor=shopify.since), 1)), None)
    if cursor is None:
        pytest.skip(f"{shopify.name}: no orders updated since {shopify.since}; no cursor to resume from")
    wire.clear()
    with shopify.client(page_size=10) as client:
        first_pages(client.pages(cursor=cursor))
        lookback = client.settings.lookback
    bound = datetime.fromisoformat(cursor) - lookback
    nodes = [n for e in wire.on("/graphql.json") if isinstance(e.body, dict)
             for n in (((e.body.get("data") or {}).get("orders") or {}).get("nodes") or [])]  # fmt: skip
    updated = [datetime.fromisoformat(str(n["updatedAt"]).replace("Z", "+00:00")) for n in nodes]
    assert all(at >= bound for at in updated), "an order older than the cursor's look-back was served"


def test_shopify_refuses_a_wrong_token(shopify: ShopifyTarget):
    with (
        shopify.client(access_token="shpat_not_a_real_token_0000") as client,
        pytest.raises(ConfigurationError),
    ):
        first_pages(client.pages(cursor=shopify.since), 1)


# ---- WooCommerce: https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders ------------


def test_woocommerce_pages_by_modified_after(woocommerce: WooTarget, wire: Wire):
    """`modified_after` (WooCommerce 5.8+) with `dates_are_gmt=true` (5.4+) bounds the read; X-WP-TotalPages on
    every page (#pagination); statuses map (#order-properties)."""
    client = woocommerce.client()
    try:
        pages = first_pages(client.pages(cursor=woocommerce.since))
    finally:
        client.close()
    assert client.window is BY_MODIFIED, (
        "the store ignored or refused modified_after (WooCommerce older than 5.8): segmail reads it by "
        "creation time and misses edits to older orders"
    )
    answers = wire.on("/wp-json/wc/v3/orders")
    assert answers and all(e.status == 200 and "X-WP-TotalPages" in e.headers for e in answers)
    for e in answers:
        bound = e.query["modified_after"][0]  # naive GMT, as sent
        assert all(str(o["date_modified_gmt"]) > bound for o in e.body), "an order at or before the bound"
    _check_order_pages(woocommerce.name, woocommerce.since, pages, woocommerce.min_pages)


def test_woocommerce_refuses_a_wrong_secret_in_the_documented_error_shape(woocommerce: WooTarget, wire: Wire):
    """#errors: "a code, message and data attribute"; 401 for "incorrect API keys"."""
    client = woocommerce.client(consumer_secret="cs_not_the_secret_0000")
    try:
        with pytest.raises(ConfigurationError):
            first_pages(client.pages(cursor=woocommerce.since), 1)
    finally:
        client.close()
    (answer,) = wire.on("/wp-json/wc/v3/orders")
    assert answer.status == 401 and {"code", "message", "data"} <= set(answer.body)
    assert answer.body["data"]["status"] == 401
