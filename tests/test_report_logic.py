"""The reports' pure pieces: which reads a campaign needs, how Mailchimp's answers are read, targets,
sizes from per-compute steps, movements from change patterns, money per recipient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from segmail.connector.mailchimp_reports import (
    CampaignTarget,
    parse_email_activity,
    parse_proxy_opens,
    parse_report,
    parse_target,
)
from segmail.reports.money import per
from segmail.reports.periods import Period, midnight, period
from segmail.reports.reads import changed, plan_reads
from segmail.reports.segments import NONE, movements, sizes, sizes_at
from segmail.reports.targets import OTHER, TAG, bucket_target, needs_tag_ids, tag_target
from segmail.store.campaign_results import StoredCampaign
from segmail.store.codec import to_us
from segmail.store.report_segments import Step

SENT = datetime(2026, 6, 1, 8, tzinfo=UTC)
LOOKBACK = timedelta(minutes=10)


def report(**figures):
    base = {"id": "c1", "list_id": "l", "campaign_title": "t", "emails_sent": 100, "send_time": "2026-06-01T08:00:00+00:00",
            "opens": {"opens_total": 0, "proxy_excluded_opens": 0, "unique_opens": 0},
            "clicks": {"clicks_total": 0, "unique_subscriber_clicks": 0}, "unsubscribed": 0,
            "bounces": {"hard_bounces": 0, "soft_bounces": 0, "syntax_errors": 0}}  # fmt: skip
    for key, value in figures.items():
        if isinstance(value, dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return parse_report(base)


def stored(r, *, read_at=None):
    return StoredCampaign(
        mc_campaign_id=r.id, recipients=r.emails_sent, opens_total=r.opens_total, proxy_opens=r.proxy_opens,
        clicks_total=r.clicks_total, bounces=r.bounces, unsubscribed=r.unsubscribed,
        activity_read_at=None if read_at is None else to_us(read_at), target="tag",
    )  # fmt: skip


def test_report_figures_are_read_as_mailchimp_counts_them():
    r = report(
        opens={"opens_total": 10, "proxy_excluded_opens": 7}, bounces={"hard_bounces": 2, "soft_bounces": 1}
    )
    assert (r.opens_total, r.proxy_opens, r.bounces, r.send_time) == (10, 3, 3, SENT)
    old = parse_report({"id": "c2", "opens": {"opens_total": 4}})  # no proxy figure: none known to be one
    assert (old.proxy_opens, old.send_time, old.emails_sent) == (0, None, 0)


def test_a_silent_new_campaign_needs_no_read_and_a_new_one_with_activity_reads_from_its_send():
    silent = plan_reads(report(), None, lookback=LOOKBACK)
    assert not silent.any and changed(report(), None)
    active = report(opens={"opens_total": 3, "proxy_excluded_opens": 1}, unsubscribed=1)
    plan = plan_reads(active, None, lookback=LOOKBACK)
    assert (plan.activity, plan.unsubscribes, plan.proxy_opens, plan.since) == (
        True,
        True,
        True,
        SENT - LOOKBACK,
    )


def test_only_what_moved_is_read_again_from_shortly_before_the_last_read():
    before = report(opens={"opens_total": 3, "proxy_excluded_opens": 1}, unsubscribed=1)
    read_at = SENT + timedelta(days=1)
    held = stored(before, read_at=read_at)
    assert not changed(before, held) and not plan_reads(before, held, lookback=LOOKBACK).any
    more_opens = report(opens={"opens_total": 5, "proxy_excluded_opens": 3}, unsubscribed=1)
    plan = plan_reads(more_opens, held, lookback=LOOKBACK)
    assert (plan.activity, plan.unsubscribes, plan.proxy_opens, plan.since) == (
        True,
        False,
        False,
        read_at - LOOKBACK,
    )
    more_unsubs = report(opens={"opens_total": 3, "proxy_excluded_opens": 1}, unsubscribed=2)
    plan = plan_reads(more_unsubs, held, lookback=LOOKBACK)
    assert (plan.activity, plan.unsubscribes, plan.proxy_opens) == (False, True, False)
    fewer_proxies = report(opens={"opens_total": 3, "proxy_excluded_opens": 3}, unsubscribed=1)
    plan = plan_reads(
        fewer_proxies, held, lookback=LOOKBACK
    )  # Mailchimp re-flagged: no proxy open to ask for
    assert (plan.activity, plan.proxy_opens) == (False, False) and changed(fewer_proxies, held)


def test_email_activity_keeps_bounces_apart_and_open_details_flags_machine_opens():
    events, other = parse_email_activity("c1", [
        {"email_address": "A@x.com", "activity": [
            {"action": "open", "timestamp": "2026-06-01T09:00:00+00:00"},
            {"action": "click", "timestamp": "2026-06-01T09:00:05+00:00", "url": "https://x"},
        ]},
        {"email_address": "b@x.com", "activity": [{"action": "bounce", "type": "soft", "timestamp": "2026-06-01T08:00:30+00:00"}]},
        {"email_address": "not an email", "activity": [{"action": "open", "timestamp": "2026-06-01T09:00:00+00:00"}]},
    ])  # fmt: skip
    assert [(e.email_key, e.type) for e in events] == [("a@x.com", "open"), ("a@x.com", "click")]
    assert [(o.email_key, o.kind, o.detail) for o in other] == [("b@x.com", "bounce", "soft")]
    proxies = parse_proxy_opens([{"email_address": "a@x.com", "opens": [
        {"timestamp": "2026-06-01T08:01:00+00:00", "is_proxy_open": True},
        {"timestamp": "2026-06-01T09:00:00+00:00", "is_proxy_open": False}]}])  # fmt: skip
    assert [(p.email_key, p.at.minute) for p in proxies] == [("a@x.com", 1)]


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({"saved_segment_id": 7}, (TAG, "vip")),
        (
            {
                "match": "all",
                "conditions": [{"condition_type": "StaticSegment", "op": "static_is", "value": 7}],
            },
            (TAG, "vip"),
        ),
        (
            {"conditions": [{"condition_type": "StaticSegment", "op": "static_not", "value": 7}]},
            (OTHER, None),
        ),
        (
            {
                "conditions": [
                    {"condition_type": "StaticSegment", "op": "static_is", "value": 7},
                    {"condition_type": "Language", "op": "is", "value": "de"},
                ]
            },
            (OTHER, None),
        ),
        ({"saved_segment_id": 9}, (OTHER, None)),  # a segment that is no segmail tag
        ({"saved_segment_id": 0}, (OTHER, None)),  # Mailchimp's "none"
        ({}, (OTHER, None)),
    ],
)
def test_a_mailchimp_campaign_targets_a_segment_only_through_its_tag(opts, expected):
    target = parse_target({"id": "c", "recipients": {"list_id": "l", "segment_opts": opts}})
    placed = tag_target(target, {7: "vip"})
    assert (placed.kind, placed.segment) == expected


def test_buckets_belong_to_their_campaign_and_tags_are_asked_for_only_when_named():
    assert bucket_target("vip_early", {"vip_early": "vip"}).segment == "vip"
    assert bucket_target("gone", {}).segment is None  # no longer configured: "other"
    assert not needs_tag_ids(CampaignTarget(id="c", list_id="l", title="", saved_segment_id=None,
                                            condition_segment_id=None))  # fmt: skip


def test_sizes_and_series_follow_the_computes_at_or_before_each_instant():
    steps = [Step("a", 10, 5, 0), Step("b", 10, 2, 0), Step("a", 20, 1, 3), Step("a", 30, 4, 0)]
    got = sizes(steps, since_us=10, until_us=25)
    assert (got["a"].start, got["a"].end, got["a"].entered, got["a"].left) == (5, 3, 1, 3)
    assert got["a"].end == got["a"].start + got["a"].entered - got["a"].left
    assert sizes_at(steps, [9, 10, 25, 30]) == {"a": [0, 5, 3, 7], "b": [0, 2, 2, 2]}


def test_movements_pair_every_segment_left_with_every_segment_joined():
    names = ["lapsed", "repeat_buyer", "vip", "welcome"]
    patterns = [
        (0b0001, 0b0010, 3),  # lapsed -> repeat_buyer
        (0b1000, 0b0110, 2),  # welcome -> repeat_buyer and vip
        (0, 0b0100, 4),  # joined vip only
        (0b0001, 0, 1),  # left lapsed only
    ]
    assert movements(patterns, names) == {
        ("(none)", "vip"): 4, ("lapsed", "repeat_buyer"): 3, ("welcome", "repeat_buyer"): 2,
        ("welcome", "vip"): 2, ("lapsed", NONE): 1,
    }  # fmt: skip


def test_money_per_recipient_is_to_the_ten_thousandth_half_to_even_and_periods_are_utc_days():
    assert per(10_0000, 3) == Decimal("3.3333") and per(5, 2) == Decimal("0.0002") and per(1, 0) is None
    p = period(None, None, today=datetime(2026, 6, 15, tzinfo=UTC).date())
    assert (p.since, p.until) == (
        midnight(p.until.date()) - timedelta(days=30),
        datetime(2026, 6, 16, tzinfo=UTC),
    )
    assert p.contains(datetime(2026, 6, 15, 23, 59, 59, 999999, tzinfo=UTC)) and not p.contains(p.until)
    with pytest.raises(ValueError, match="must be after since"):
        Period(p.until, p.since)


def test_a_period_before_the_first_compute_has_no_movements_on_either_database(store):
    """No segment was computed up to `until`, so there is none to move between (and a CASE with no WHEN,
    which an empty segment list would make, is not SQL on either database)."""
    from segmail.jobs.report import movement_report

    p = Period(
        midnight(datetime(2026, 1, 1, tzinfo=UTC).date()), midnight(datetime(2026, 2, 1, tzinfo=UTC).date())
    )
    assert movement_report(store, p).movements == {}


def test_change_patterns_read_back_every_segment_of_a_long_list_on_either_database(store):
    """More segments than one balanced-ternary sum holds (20): the masks still say exactly which segments
    each contact left and joined in the period, compared with the raw rows read per contact."""
    from sqlalchemy import insert

    from segmail.store.report_segments import change_patterns
    from segmail.store.schema import segment_history

    names = [f"s{i:02d}" for i in range(45)]
    rows = []
    for c in range(60):  # contact c: in and out of a few segments, before, during and after the period
        for k, seg in enumerate(names[c % 7 :: 6]):
            first = (c + k) % 4  # computes run every 10 µs: run r at r * 10; the period holds runs 3 and 4
            for j in range(1 + (c * k) % 3):  # an entry, then alternately an exit and an entry
                run = first + j + 1
                kind = "enter" if j % 2 == 0 else "exit"
                rows.append(
                    {"email_key": f"c{c}", "segment": seg, "run_id": run, "at": 10 * run, "kind": kind}
                )
    with store.engine.begin() as conn:
        conn.execute(insert(segment_history), rows)
        got = change_patterns(conn, since_us=20, until_us=40, segments=names)
    expected: dict[tuple[int, int], int] = {}
    for c in range(60):
        net: dict[str, int] = {}
        for r in rows:
            if r["email_key"] == f"c{c}" and 20 < r["at"] <= 40:
                net[r["segment"]] = net.get(r["segment"], 0) + (1 if r["kind"] == "enter" else -1)
        left = sum(1 << names.index(s) for s, n in net.items() if n < 0)
        joined = sum(1 << names.index(s) for s, n in net.items() if n > 0)
        if left or joined:
            expected[(left, joined)] = expected.get((left, joined), 0) + 1
    assert {(left, joined): n for left, joined, n in got} == expected and len(got) == len(expected)
    assert any(left >> 40 or joined >> 40 for left, joined, _ in got)  # the third sum is read too
    assert any(left and joined for left, joined, _ in got)  # some left one segment for another
