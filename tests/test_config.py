"""Config: defaults, every error at once naming its key, the example file, store URL resolution."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from segmail.jobs.config import ConfigError, load_config, parse_config
from segmail.segments.builtin import BUILTINS

ROOT = Path(__file__).resolve().parent.parent


def parse(data):
    return parse_config(data, origin="test.toml", base_dir=Path("/srv/shop"), env={})


def test_defaults_without_a_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, env={})
    assert list(cfg.segment_defs) == list(BUILTINS)
    assert cfg.segment_defs["vip"].params == {"top_percent": 10, "min_spent": 0}
    assert cfg.segment_defs["lapsed"].params == {"min_days": 30, "interval_multiplier": 2.0}
    assert cfg.segment_defs["welcome"].tag == "segmail:welcome"
    assert cfg.segments.paid_statuses == ("paid", "completed", "processing", "partially_refunded")
    assert cfg.store_url() == f"sqlite:///{tmp_path / 'segmail.db'}"


def test_example_config_is_valid_and_matches_the_defaults():
    example = load_config(ROOT / "config.example.toml", env={})
    defaults = parse({})
    for name in BUILTINS:
        assert example.segment_defs[name] == defaults.segment_defs[name], name
    assert example.segments == defaults.segments
    assert example.segment_defs["boots_dach"].enabled is False
    # the commented default rules in the example are the real ones
    text = (ROOT / "config.example.toml").read_text()
    for builtin in BUILTINS.values():
        assert builtin.rule in text
    assert example.schedule == defaults.schedule and example.service == defaults.service
    assert example.predict == defaults.predict and example.report == defaults.report
    shop_keys = {"shop_name", "shop_address", "shop_url", "default_timezone"}  # the example's own shop
    assert example.send.model_dump(exclude=shop_keys) == defaults.send.model_dump(exclude=shop_keys)
    assert set(example.campaigns) == {
        "welcome",
        "vip_early_access",
        "lapsed_winback",
        "still_interested",
        "last_chance",
    }
    assert not example.enabled_campaigns  # shipped switched off


CAMPAIGN = {"segment": "vip", "template": "vip_early_access.html", "subject": "Hi", "from_name": "Shop",
            "reply_to": "hi@shop.example", "local_time": "10:00", "trigger": "at", "date": "2026-12-01"}  # fmt: skip
SEND = {"shop_name": "Shop", "shop_address": "Shop, 1 Main St, Berlin", "shop_url": "https://shop.example"}


def test_campaign_config_errors_name_their_keys():
    with pytest.raises(ConfigError) as info:
        parse({
            "send": {"quiet_hours": "21:00-08:00", "default_timezone": "Mars/Olympus", "lead": "soon"},
            "campaigns": {
                "late_night": {**CAMPAIGN, "local_time": "22:00"},
                "odd_minute": {**CAMPAIGN, "local_time": "10:07"},
                "no_date": {**{k: v for k, v in CAMPAIGN.items() if k != "date"}},
                "ghost": {**CAMPAIGN, "segment": "nobody"},
                "typo": {**CAMPAIGN, "tempalte": "x.html"},
                "bad_days": {**CAMPAIGN, "days": ["monday", "funday"]},
                "weekend_only": {**CAMPAIGN, "days": ["sat", "sun"]},
            },
        })  # fmt: skip
    text = str(info.value)
    for expected in (
        "send.default_timezone: unknown IANA time zone 'Mars/Olympus'",
        "send.lead: expected a duration",
        "campaigns.late_night.local_time: 22:00 is inside send.quiet_hours",
        "campaigns.odd_minute.local_time: Mailchimp schedules on quarter hours",
        'campaigns.no_date.date: a trigger = "at" campaign needs the local date',
        "campaigns.ghost.segment: no segment named 'nobody'",
        "campaigns.typo.tempalte: unknown key",
        "campaigns.bad_days.days: expected weekdays",
        "campaigns.weekend_only.date: 2026-12-01 is a Tuesday, which campaigns.weekend_only.days does not allow",
        "send.shop_address: required when campaigns are configured",
    ):
        assert expected in text, (expected, text)


def test_a_valid_campaign_config():
    cfg = parse(
        {
            "send": {**SEND, "default_timezone": "europe/berlin"},
            "campaigns": {"vip": {**CAMPAIGN, "days": ["Tue"]}},
        }
    )
    vip = cfg.campaigns["vip"]
    assert cfg.send.default_timezone == "Europe/Berlin"
    assert (vip.local_time.hour, vip.days, vip.date.isoformat()) == (10, frozenset({1}), "2026-12-01")


def test_all_errors_are_reported_at_once_with_their_keys():
    with pytest.raises(ConfigError) as info:
        parse(
            {
                "stor": {},
                "store": {"paht": "x.db"},
                "segments": {
                    "tag_prefx": "x",
                    "paid_statuses": [],
                    "vip": {"top_percent": 140, "min_spent": -1, "top_precent": 5},
                    "repeat_buyer": {"min_orders": "two"},
                    "my_rule": {"rule": "total_spend > 5"},
                    "no_rule": {"limit": 3},
                    "Bad-Name": {"rule": "orders_count > 1"},
                    "typo_param": {"rule": "orders_count > limit", "limit": 1, "limt": 2},
                },
            }
        )
    problems = info.value.problems
    expected = [
        "stor: unknown section",
        "store.paht: unknown key",
        "segments.tag_prefx: unknown key",
        "segments.paid_statuses: must list at least one order status",
        "segments.vip.top_percent: Input should be less than or equal to 100, got 140",
        "segments.vip.min_spent: Input should be greater than or equal to 0, got -1",
        "segments.vip.top_precent: unknown key",
        "segments.repeat_buyer.min_orders: Input should be a valid integer",
        "segments.my_rule.rule: column 1: unknown name 'total_spend'",
        "segments.no_rule.rule: expected a rule expression",
        "segments.Bad-Name: a segment name is lower case",
        "segments.typo_param: parameter(s) limt not used by the rule",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected)
    assert "invalid config test.toml:" in str(info.value)


def test_duplicate_tags_are_an_error():
    with pytest.raises(ConfigError, match="already the tag of segment vip"):
        parse({"segments": {"big": {"rule": "orders_count > 9", "tag": "segmail:vip"}}})


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[mailchimp]\ntag_prefix = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.origin == str(path)
    assert "line 2" in info.value.problems[0]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", env={})


def test_store_url_resolution(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[store]\npath = "data/s.db"\n')
    assert load_config(path, env={}).store_url() == f"sqlite:///{tmp_path / 'data/s.db'}"
    env = {"SEGMAIL_STORE_URL": "postgresql://u:pw@h/db"}
    assert load_config(path, env=env).store_url() == "postgresql://u:pw@h/db"
    assert load_config(None, env={"SEGMAIL_CONFIG": str(path)}).origin == str(path)
    with pytest.raises(ConfigError, match=r"store\.url: expected a sqlite"):
        parse({"store": {"url": "mysql://x"}})


def test_disabling_and_overriding_a_builtin():
    cfg = parse(
        {"segments": {"welcome": {"enabled": False}, "lapsed": {"rule": "days_since_last_order > min_days"}}}
    )
    assert not cfg.segment_defs["welcome"].enabled
    assert cfg.segment_defs["lapsed"].rule == "days_since_last_order > min_days"
    assert [d.name for d in cfg.enabled_segments] == ["repeat_buyer", "vip", "lapsed", "unengaged"]


def test_example_is_toml_with_only_known_sections():
    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    assert set(data) == {
        "store",
        "mailchimp",
        "shop",
        "segments",
        "schedule",
        "service",
        "send",
        "campaigns",
        "predict",
        "report",
        "privacy",
        "ui",
    }


def test_predict_defaults_and_values():
    defaults = parse({}).predict
    assert defaults.annual_discount_rate == 0.0 and defaults.refit_every == timedelta(days=1)
    cfg = parse({"predict": {"annual_discount_rate": 0.1, "refit_every": "12h"}}).predict
    assert cfg.annual_discount_rate == 0.1 and cfg.refit_every == timedelta(hours=12)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"annual_discount_rate": -0.1},
            "predict.annual_discount_rate: Input should be greater than or equal to 0",
        ),
        ({"annual_discount_rate": 1}, "predict.annual_discount_rate: Input should be less than 1, got 1"),
        ({"annual_discount_rate": "ten"}, "predict.annual_discount_rate: Input should be a valid number"),
        ({"refit_every": "often"}, "predict.refit_every: expected a duration such as 2h"),
        ({"refit_every": "30s"}, "predict.refit_every: must be at least 60s, got '30s'"),
        ({"refit_evry": "1d"}, "predict.refit_evry: unknown key"),
    ],
)
def test_predict_errors_name_their_keys(section, message):
    with pytest.raises(ConfigError) as info:
        parse({"predict": section})
    problems = info.value.problems
    assert len(problems) == 1 and message in problems[0], problems
