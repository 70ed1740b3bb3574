"""`segmail rules check` validates the whole config: keys, rules, campaigns; a mistyped name gets a suggestion."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from segmail.jobs.cli import main
from segmail.jobs.config import ConfigError, parse_config
from segmail.segments.suggest import did_you_mean
from tests.test_send_cli import write_toml

SHIPPED = Path(__file__).resolve().parents[1] / "templates"
CAMPAIGN = {"segment": "vip", "template": "vip_early_access.html", "subject": "{{ _('Your early access starts today') }}",
            "from_name": "Shop", "reply_to": "hi@shop.example", "local_time": "10:00", "trigger": "at",
            "date": "2026-12-01"}  # fmt: skip
SEND = {"shop_name": "Shop", "shop_address": "Shop, 1 Main St, Berlin", "shop_url": "https://shop.example"}


def parse(data):
    return parse_config(data, origin="test.toml", base_dir=Path("/srv/shop"), env={})


def problem(fragment):
    """`match=` for one line of a ConfigError, anywhere among its problems."""
    return re.compile(r"(^|\n)  - " + re.escape(fragment) + r"($|\n)")


def test_did_you_mean_picks_the_closest_known_name_or_nothing():
    assert (
        did_you_mean("orders_cnt", ["orders_count", "last_order_at", "country"])
        == " (did you mean 'orders_count'?)"
    )
    assert did_you_mean("zzz", ["orders_count"]) == ""


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"segmnts": {}}, "segmnts: unknown section (did you mean 'segments'?)"),
        ({"schedule": {"sync_evry": "5m"}}, "schedule.sync_evry: unknown key (did you mean 'sync_every'?)"),
        ({"mailchimp": {"tag_prefx": "x"}}, "mailchimp.tag_prefx: unknown key (did you mean 'tag_prefix'?)"),
        ({"segments": {"paid_statuse": ["paid"]}}, "segments.paid_statuse: unknown key (did you mean 'paid_statuses'?)"),
        ({"segments": {"vip": {"top_percnt": 5}}}, "segments.vip.top_percnt: unknown key (did you mean 'top_percent'?)"),
        ({"segments": {"vip": {"enabeld": False}}}, "segments.vip.enabeld: unknown key (did you mean 'enabled'?)"),
        ({"send": {**SEND, "quiet_hour": ""}}, "send.quiet_hour: unknown key (did you mean 'quiet_hours'?)"),
        ({"send": SEND, "campaigns": {"vip": {**CAMPAIGN, "tempalte": "x"}}},
         "campaigns.vip.tempalte: unknown key (did you mean 'template'?)"),
        ({"store": {"zzz": 1}}, "store.zzz: unknown key (check the spelling; see config.example.toml)"),
        ({"segments": {"mine": {"rule": "orders_count > limit", "limit": 1, "enabeld": False}}},
         "segments.mine: parameter(s) enabeld not used by the rule (a typo?) (did you mean 'enabled'?)"),
    ],
)  # fmt: skip
def test_unknown_keys_anywhere_get_a_suggestion(data, line):
    with pytest.raises(ConfigError, match=problem(line)):
        parse(data)


def test_every_unknown_name_in_a_rule_is_reported():
    rule = "orders_cnt >= 1 and contry == 'DE' and medain_repurchase_days() > 1 and zzz > 2"
    with pytest.raises(ConfigError) as info:
        parse({"segments": {"mine": {"rule": rule}}})
    assert info.value.problems[:3] == [
        "segments.mine.rule: column 1: unknown name 'orders_cnt' (did you mean 'orders_count'?)",
        "segments.mine.rule: column 21: unknown name 'contry' (did you mean 'country'?)",
        "segments.mine.rule: column 40: unknown function 'medain_repurchase_days' (did you mean 'median_repurchase_days'?)",
    ]
    assert info.value.problems[3].startswith(
        "segments.mine.rule: column 73: unknown name 'zzz'; features are status,"
    )
    assert len(info.value.problems) == 4


def test_a_campaign_on_a_missing_segment_is_an_error_unless_disabled():
    with pytest.raises(
        ConfigError, match=problem("campaigns.vip.segment: no segment named 'vipp' (did you mean 'vip'?)")
    ):
        parse({"send": SEND, "campaigns": {"vip": {**CAMPAIGN, "segment": "vipp"}}})
    cfg = parse({"send": SEND, "campaigns": {"vip": {**CAMPAIGN, "segment": "vipp", "enabled": False}}})
    assert cfg.warnings == (
        "campaigns.vip.segment: no segment named 'vipp' (did you mean 'vip'?); the campaign is disabled, so nothing is sent",
    )
    assert not cfg.enabled_campaigns


# --- the command ---------------------------------------------------------------------------------


def write_config(path, campaigns, templates_dir):
    return write_toml(
        path, "sqlite:///unused.db", "https://us6.api.mailchimp.com/3.0", campaigns, templates_dir
    )


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "mail"
    shutil.copytree(SHIPPED, target)
    return target


def test_rules_check_validates_campaigns_against_the_templates_folder(tmp_path, folder, capsys):
    good = write_config(tmp_path / "good.toml", {"vip": CAMPAIGN}, folder)
    code, out, err = run(capsys, "--config", str(good), "rules", "check")
    assert code == 0, err
    assert f"{good}: all valid; templates checked in {folder}" in out.replace("\n", "")
    broken = {
        "vip": {**CAMPAIGN, "template": "vip_early_acess.html"},
        "subject": {**CAMPAIGN, "subject": "{{ shop.name|uper }}"},
        "syntax": {**CAMPAIGN, "subject": "{{ shop.name "},
        "unknown": {**CAMPAIGN, "subject": "{{ sgment }}"},
        "off": {**CAMPAIGN, "enabled": False, "segment": "gone", "template": "gone.html"},
    }
    bad = write_config(tmp_path / "bad.toml", broken, folder)
    code, out, err = run(capsys, "--config", str(bad), "rules", "check")
    assert code == 2 and "all valid" not in out
    lines = err.splitlines()
    assert lines == [
        "warning: campaigns.off.segment: no segment named 'gone' (known: at_risk, high_potential, lapsed, repeat_buyer, unengaged, vip, "
        "welcome); the campaign is disabled, so nothing is sent",
        f"warning: campaigns.off.template: no template 'gone.html' in {folder} (it has: lapsed_winback.html, "
        "repeat_buyer.html, unengaged_last_chance.html, unengaged_still_interested.html, vip_early_access.html, "
        "welcome.html); the campaign is disabled, so nothing is sent",
        f"campaigns.vip.template: no template 'vip_early_acess.html' in {folder} (did you mean 'vip_early_access.html'?)",
        "campaigns.subject.subject: <subject>:1: unknown filter 'uper' (did you mean 'upper'?)",
        "campaigns.syntax.subject: <subject>:1: syntax error: unexpected end of template, expected 'end of print statement'.",
        "campaigns.unknown.subject: <subject>:1: unknown variable 'sgment'",
        f"4 problem(s) in {bad}; templates checked in {folder}",
    ]
    # templates check reports the same template and subject problems (one implementation); the segment
    # warning is the config's, which rules check owns
    code, out, err = run(capsys, "--config", str(bad), "templates", "check")
    assert code == 1
    assert err.splitlines() == [*lines[1:-1], "4 problem(s) in 6 template(s)"]
