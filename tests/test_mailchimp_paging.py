"""Reading an audience that changes while it is paged.

https://mailchimp.com/developer/marketing/api/list-members/list-members-info/ pages with `count` (≤ 1000)
and `offset` and promises no snapshot. Sorted by `last_changed`, a member that changes mid-read moves to
the end and every later offset shifts down by one: a plain offset read skips a member per change. The
client overlaps its pages and checks the seam (segmail.connector.mailchimp.MailchimpApi.members).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from segmail.connector.http import TransientError
from segmail.connector.mailchimp import PAGE_OVERLAP, MailchimpApi
from segmail.connector.mailchimp_parse import MemberPage
from segmail.sandbox.mailchimp import MailchimpSandbox

KEY = "0123456789abcdef0123456789abcdef-us6"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MEMBERS = 2_500


@pytest.fixture
def sandbox() -> Iterator[MailchimpSandbox]:
    with MailchimpSandbox(api_key=KEY, clock=lambda: T0 + timedelta(days=30)) as sb:
        sb.add_list("list1", "moving")
        for i in range(MEMBERS):
            sb.add_member("list1", f"m{i:04d}@example.com", last_changed=T0 + timedelta(minutes=i))
        yield sb


def read_while_changing(sb: MailchimpSandbox, changed: int) -> tuple[list[MemberPage], Callable[[], None]]:
    """Pages read one at a time; right after the first, `changed` members near the start change."""
    api = MailchimpApi(api_key=KEY, api_url=sb.base_url, max_connections=1, sleep=lambda _s: None)
    calls = 0
    real_call = api.call

    def call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = real_call(what, fn, *args, **kwargs)
        calls += 1
        if calls == 1:
            members = sb.state.lists["list1"].members
            for i in range(changed):  # each moves from near the start to the end of the sort
                members[
                    next(h for h, m in members.items() if m.email == f"m{i:04d}@example.com")
                ].last_changed = T0 + timedelta(days=10, minutes=i)
        return result

    api.call = call  # type: ignore[method-assign]
    pages: list[MemberPage] = []
    return pages, lambda: pages.extend(api.members("list1", since=None))


def test_members_that_change_mid_read_skip_nobody():
    with MailchimpSandbox(api_key=KEY) as sb:
        sb.add_list("list1", "moving")
        for i in range(MEMBERS):
            sb.add_member("list1", f"m{i:04d}@example.com", last_changed=T0 + timedelta(minutes=i))
        pages, read = read_while_changing(sb, changed=3)
        read()
    keys = [m.email_key for page in pages for m in page.members]
    assert len(set(keys)) == MEMBERS  # nobody skipped (a plain offset read misses three here)
    again = sorted(k for k in set(keys) if keys.count(k) > 1)
    assert again == ["m0000@example.com", "m0001@example.com", "m0002@example.com"]  # read before and after


def test_more_changes_than_the_overlap_stop_the_read_before_the_gap(sandbox):
    pages, read = read_while_changing(sandbox, changed=PAGE_OVERLAP + 10)
    with pytest.raises(TransientError, match=f"more than {PAGE_OVERLAP} members changed"):
        read()
    assert len(pages) == 1  # only the page before the seam: a cursor saved after it stays behind the gap


def test_overlap_costs_no_extra_request_for_a_single_page(sandbox):
    api = MailchimpApi(api_key=KEY, api_url=sandbox.base_url, sleep=lambda _s: None)
    try:
        pages = list(api.members("list1", since=T0 + timedelta(minutes=MEMBERS - 1000)))
    finally:
        api.close()
    assert [len(p.members) for p in pages] == [999] and api.stats.requests == 1
