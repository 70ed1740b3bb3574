"""Holdout and A/B assignment: deterministic by hash, the configured shares, and config errors naming their keys."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from segmail.jobs.config import ConfigError
from segmail.sending.assign import draw, held_out, pick_variant
from segmail.sending.experiments import VariantDef, decide_at, last_test_slot
from segmail.sending.plan import HOLDOUT, TEST, WINNER, Planner
from segmail.sending.timezones import ZoneResolver
from segmail.store.ledger import RecipientRow
from tests.shop import config

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
EMAILS = [f"person{i:05d}@example.com" for i in range(10_000)]
SEND = {"shop_name": "Shop", "shop_address": "Shop, 1 Main St, Berlin", "shop_url": "https://shop.example",
        "quiet_hours": ""}  # fmt: skip
BASE = {"segment": "vip", "template": "vip_early_access.html", "subject": "Hi", "from_name": "Shop",
        "reply_to": "hi@shop.example", "local_time": "10:00", "trigger": "at", "date": "2026-12-03"}  # fmt: skip
AB = [{"name": "a", "weight": 50, "subject": "A"}, {"name": "b", "weight": 30, "subject": "B", "local_time": "11:00"},
      {"name": "c", "weight": 20, "template": "welcome.html"}]  # fmt: skip
TOLERANCE = 0.015  # 10,000 draws: one standard deviation of a share near 0.5 is 0.005, so 3 of them


def cfg(**campaign):
    return config(
        {"vip": {"rule": "orders_count >= 1"}}, send=SEND, campaigns={"promo": {**BASE, **campaign}}
    )


def rows(emails=EMAILS):
    return [
        RecipientRow(e, e, "subscribed", 0, "Europe/Berlin", None, None, None, None, None) for e in emails
    ]


def planner(campaign, *, now=NOW, winner=None):
    c = cfg().send
    return Planner(
        campaign, c, dimensions=frozenset(), languages=("en",), resolver=ZoneResolver("UTC"), now=now,
        winner=winner,
    )  # fmt: skip


def test_draws_are_deterministic_and_depend_on_campaign_occurrence_and_email():
    d = draw("promo", "2026-12-03", "a@x.io")
    assert d == draw("promo", "2026-12-03", "a@x.io")
    assert d != draw("promo", "2026-12-04", "a@x.io") and d != draw("other", "2026-12-03", "a@x.io")
    assert all(0 <= u < 1 for u in d)


def test_holdout_and_variant_shares_on_ten_thousand_emails():
    variants = tuple(VariantDef(name=n, weight=w, subject=None, template=None, local_time=None)
                     for n, w in (("a", 50), ("b", 30), ("c", 20)))  # fmt: skip
    draws = [draw("promo", "2026-12-03", e) for e in EMAILS]
    held = [held_out(d, 10) for d in draws]
    assert abs(sum(held) / len(EMAILS) - 0.10) < TOLERANCE
    chosen = [pick_variant(d, variants) for d in draws]
    shares = {k: n / len(EMAILS) for k, n in Counter(chosen).items()}
    assert shares == {"a": pytest.approx(0.5, abs=TOLERANCE), "b": pytest.approx(0.3, abs=TOLERANCE),
                      "c": pytest.approx(0.2, abs=TOLERANCE)}  # fmt: skip
    # independent draws: each variant's holdout share is the campaign's
    for name in "abc":
        mine = [h for h, v in zip(held, chosen, strict=True) if v == name]
        assert abs(sum(mine) / len(mine) - 0.10) < 2 * TOLERANCE, name


def test_the_planner_holds_out_and_splits_the_same_way_every_time():
    campaign = cfg(holdout_percent=10, variants=AB).campaigns["promo"]
    first = list(planner(campaign).plan(rows()))
    again = list(planner(campaign).plan(rows()))  # a restarted process: a new planner, the same plan
    assert first == again and len(first) == len(EMAILS)
    held = [p for p in first if p.action == HOLDOUT]
    assert abs(len(held) / len(EMAILS) - 0.10) < TOLERANCE
    for p in held:
        assert (p.send_at, p.reason, p.bucket_key) == (None, HOLDOUT, "")
        assert p.slot == p.job_slot  # when it would have gone out, ridden by that slot's job
    mailed = [p for p in first if p.action != HOLDOUT]
    shares = Counter(p.ab_variant for p in mailed)
    assert shares["a"] / len(mailed) == pytest.approx(0.5, abs=TOLERANCE)
    berlin = {p.ab_variant: p.send_at for p in mailed}
    assert berlin == {"a": datetime(2026, 12, 3, 9, tzinfo=UTC), "b": datetime(2026, 12, 3, 10, tzinfo=UTC),
                      "c": datetime(2026, 12, 3, 9, tzinfo=UTC)}  # b's own local_time  # fmt: skip
    assert len({p.bucket_key for p in mailed}) == 3  # one bucket per variant (same instant for a and c)
    assert {p.ab_variant for p in held} == {"a", "b", "c"}  # a holdout keeps the variant it would have got


def test_a_test_then_winner_plans_the_test_group_then_the_rest_once_decided():
    campaign = cfg(variants=AB[:2], test_percent=20, test_date="2026-12-01").campaigns["promo"]
    before = list(planner(campaign).plan(rows()))
    assert {p.ab_phase for p in before} == {TEST}  # the rest waits for the winner
    assert abs(len(before) / len(EMAILS) - 0.20) < TOLERANCE
    assert {p.send_at.date() for p in before} == {date(2026, 12, 1)}
    later = NOW + timedelta(days=2)
    tested = {p.email_key for p in before}
    after = list(planner(campaign, now=later, winner="b").plan(rows([e for e in EMAILS if e not in tested])))
    assert {(p.ab_phase, p.ab_variant) for p in after} == {(WINNER, "b")}
    assert len(after) == len(EMAILS) - len(tested)
    assert {p.send_at for p in after} == {datetime(2026, 12, 3, 10, tzinfo=UTC)}  # b's 11:00 in Berlin
    # a test-group member planned after the test date (e.g. a late entrant) gets the winner instead
    late = list(planner(campaign, now=later, winner="b").plan(rows(sorted(tested)[:5])))
    assert {(p.ab_phase, p.ab_variant) for p in late} == {(WINNER, "b")}
    assert list(planner(campaign, now=later).plan(rows(sorted(tested)[:5]))) == []  # undecided: they wait


def test_the_decision_time_and_the_last_test_slot():
    # date 2026-12-03 begins in UTC+14 at 2026-12-02 10:00Z; minus a 30-minute lead
    assert decide_at(date(2026, 12, 3), timedelta(minutes=30)) == datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    # 11:00 on 2026-12-01 in UTC-12 is 2026-12-01 23:00Z
    assert last_test_slot(date(2026, 12, 1), [time(10), time(11)]) == datetime(2026, 12, 1, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        ({"holdout_percent": 140}, "campaigns.promo.holdout_percent: Input should be less than or equal to 100"),
        ({"variants": [{"name": "a"}]}, "campaigns.promo.variants: an A/B test needs at least two variants"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "campaigns.promo.variants: the variant name 'a' is used twice"),
        ({"variants": [{"name": "a"}, {"name": "b", "weight": 0}]},
         "campaigns.promo.variants.1.weight: Input should be greater than 0"),
        ({"variants": [{"name": "a", "local_time": "10:10"}, {"name": "b"}]},
         "campaigns.promo.variants.0.local_time: Mailchimp schedules on quarter hours"),
        ({"variants": [{"name": "A b"}, {"name": "b"}]}, "campaigns.promo.variants.0.name: a variant name is lower case"),
        ({"variants": AB[:2], "test_percent": 20}, "campaigns.promo.test_date: a test-then-winner campaign sets both"),
        ({"variants": AB[:2], "test_percent": 20, "test_date": "2026-12-02"},
         "campaigns.promo.test_date: 2026-12-02 is too close to date 2026-12-03"),
        ({"test_percent": 20, "test_date": "2026-12-01"},
         "campaigns.promo.variants: test-then-winner needs at least two variants"),
        ({"variants": AB[:2], "test_percent": 20, "test_date": "2026-12-01", "winner_metric": "opens"},
         "campaigns.promo.winner_metric: Input should be 'click_rate' or 'revenue_per_recipient'"),
        ({"variants": AB[:2], "winner_metric": "click_rate"},
         "campaigns.promo.winner_metric: only a test-then-winner campaign"),
        ({"variants": AB[:2], "test_percent": 20, "test_date": "2026-12-01", "trigger": "on_enter", "date": None},
         'campaigns.promo.test_date: test-then-winner is for trigger = "at" broadcasts'),
    ],
)  # fmt: skip
def test_experiment_errors_name_their_keys(campaign, message):
    table = {k: v for k, v in {**BASE, **campaign}.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        config({"vip": {"rule": "orders_count >= 1"}}, send=SEND, campaigns={"promo": table})
    assert any(message in p for p in info.value.problems), info.value.problems


def test_the_commented_example_in_config_example_is_a_valid_experiment():
    import re
    import tomllib
    from pathlib import Path

    from segmail.jobs.config import parse_config

    text = (Path(__file__).resolve().parents[1] / "config.example.toml").read_text()
    start = text.index("[campaigns.vip_early_access]")
    block = text[start : text.index("[campaigns.lapsed_winback]")]
    live = re.sub(r"(?m)^# ((?:\w+ = |\[\[).*)$", r"\1", block).replace("enabled = false", "enabled = true")
    data = tomllib.loads(text[:start] + live + text[start + len(block) :])
    campaign = parse_config(data, origin="example", base_dir=Path("."), env={}).campaigns["vip_early_access"]
    assert campaign.holdout_percent == 10 and [v.name for v in campaign.variants] == ["a", "b"]
    assert campaign.ab_test is not None and campaign.ab_test.winner_metric == "click_rate"
    assert (
        campaign.as_variant("b").local_time == time(18)
        and campaign.as_variant("a").subject == campaign.subject
    )


def test_rules_check_names_a_variants_own_template_and_subject_keys():
    from segmail.jobs.config_check import check_campaigns
    from segmail.jobs.send import make_renderer

    c = cfg(variants=[{"name": "a"}, {"name": "b", "template": "nope.html", "subject": "{{ oops( }}"}])
    found = check_campaigns(c, make_renderer(c)).errors
    assert len(found) == 2, found
    assert found[0].startswith("campaigns.promo.variants.1.template: no template 'nope.html'")
    assert found[1].startswith("campaigns.promo.variants.1.subject:")
    broken_base = cfg(
        template="gone.html", variants=[{"name": "a"}, {"name": "b", "template": "welcome.html"}]
    )
    (only,) = check_campaigns(broken_base, make_renderer(broken_base)).errors  # a keeps the campaign's own
    assert only.startswith("campaigns.promo.template: no template 'gone.html'")
