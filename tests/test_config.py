"""Config: defaults, every error at once naming its key, the example file, store URL resolution."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from jobs.config import ConfigError, load_config, parse_config
from segments.builtin import BUILTINS

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
    assert set(data) == {"store", "mailchimp", "shop", "segments"}
