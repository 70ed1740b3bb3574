"""Mapping Mailchimp members and activity into records: bad data is skipped and reported, never fatal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from segmail.connector.http import ConfigurationError
from segmail.connector.mailchimp import data_center
from segmail.connector.mailchimp_parse import parse_activity, parse_members, subscriber_hash


def member(**kw):
    base = {
        "email_address": "Jane@Example.com",
        "status": "subscribed",
        "timestamp_opt": "2026-01-02T03:04:05+00:00",
        "last_changed": "2026-02-01T00:00:00+00:00",
        "language": "de",
        "merge_fields": {"FNAME": "Jane", "LNAME": "Doe", "BIRTHDAY": {"month": 1}},
        "location": {"timezone": "Europe/Berlin", "country_code": "DE"},
    }
    base.update(kw)
    return base


# "The MD5 hash of the lowercase version of the list member's email address"
# (https://mailchimp.com/developer/marketing/api/list-members/get-member-info/), with the tags guide's example
# (https://developer.mailchimp.com/documentation/mailchimp/guides/how-to-use-tags/).
def test_subscriber_hash_matches_mailchimps_example():
    assert subscriber_hash("Urist.McVankab@freddiesjokes.com") == "62eeb292278cc15f5817cb78f7790b08"


def test_data_centre_comes_from_the_key_suffix():
    assert data_center("0123456789abcdef-us6") == "us6"
    with pytest.raises(ConfigurationError, match="data centre suffix"):
        data_center("nodash")


def test_members_map_to_records():
    page = parse_members([member()])
    (m,) = page.members
    assert (m.email_key, m.status, m.language, m.first_name, m.timezone, m.country) == (
        "jane@example.com",
        "subscribed",
        "de",
        "Jane",
        "Europe/Berlin",
        "DE",
    )
    assert m.opted_in_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert page.newest_change == datetime(2026, 2, 1, tzinfo=UTC)


def test_bad_members_are_skipped_with_a_reason_that_names_no_email():
    page = parse_members(
        [
            member(email_address="not-an-email"),
            member(status="vip"),
            {"status": "subscribed"},
            member(timestamp_opt="yesterday"),
            member(location={"timezone": "Mars/Olympus", "country_code": "XX"}),  # kept: zone falls through
            member(email_address="ok@example.com", location=None, merge_fields=None),
        ],
        offset=1000,
    )
    assert [m.email_key for m in page.members] == ["jane@example.com", "ok@example.com"]
    assert page.members[0].timezone is None and page.members[0].country is None
    assert len(page.problems) == 4
    assert page.problems[0].startswith("member #1001")
    assert "email is not a valid address" in page.problems[0]
    assert "status 'vip'" in page.problems[1]
    assert "missing or malformed 'email_address'" in page.problems[2]
    assert all("@" not in p for p in page.problems)


def test_activity_keeps_opens_and_clicks_only():
    events = list(
        parse_activity(
            "c1",
            [
                {
                    "email_address": "A@example.com",
                    "activity": [
                        {"action": "open", "timestamp": "2026-03-01T10:00:00+00:00"},
                        {"action": "click", "timestamp": "2026-03-01T10:01:00+00:00", "url": "https://shop"},
                        {"action": "bounce", "timestamp": "2026-03-01T10:02:00+00:00", "type": "hard"},
                        {"action": "open", "timestamp": "garbage"},
                    ],
                },
                {
                    "email_address": "broken",
                    "activity": [{"action": "open", "timestamp": "2026-03-01T10:00:00+00:00"}],
                },
            ],
        )
    )
    assert [(e.email_key, e.type, e.campaign_id) for e in events] == [
        ("a@example.com", "open", "c1"),
        ("a@example.com", "click", "c1"),
    ]
