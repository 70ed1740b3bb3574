"""The marketer's commands: templates check, render, send plan and send test, through `segmail.jobs.cli.main`."""

from __future__ import annotations

import csv
import io
import json

import pytest

from segmail.jobs.cli import main
from tests.mailchimp_fixture import Clock, checked_sandbox
from tests.test_send import KEY, NOW, SHOPPING, VIP, cfg, setup

SEND = {"shop_name": "Boots & Co", "shop_address": "Boots & Co, 1 Main St, 10115 Berlin, Germany",
        "shop_url": "https://boots.example", "default_timezone": "Europe/London"}  # fmt: skip


def write_toml(path, store_url, api_url, campaigns, templates_dir=None):
    send = {**SEND, **({"templates_dir": str(templates_dir)} if templates_dir else {})}
    lines = ["[store]", f"url = {json.dumps(store_url)}", "[mailchimp]", 'list_id = "list1"',
             f"api_url = {json.dumps(api_url)}", "[segments.vip]", 'rule = "orders_count >= 1"', "[send]"]  # fmt: skip
    lines += [f"{k} = {json.dumps(v)}" for k, v in send.items()]
    for name, table in campaigns.items():
        lines.append(f"[campaigns.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def sandbox():
    with checked_sandbox(api_key=KEY, clock=Clock(NOW)) as box:
        yield box


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_send_plan_prints_every_recipient_and_writes_nothing(
    sandbox, store, store_url, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("MAILCHIMP_API_KEY", KEY)
    setup(sandbox, store, cfg(sandbox, {"vip_early": VIP}))
    toml = write_toml(tmp_path / "c.toml", store_url, sandbox.base_url, {"vip_early": VIP})
    code, out, err = run(capsys, "--config", str(toml), "send", "plan", "--campaign", "vip_early",
                         "--as-of", "2026-11-30T06:00:00Z", "--format", "csv")  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "email,timezone,tz_source,send_at_utc,bucket"
    by_email = {r["email"]: r for r in rows}
    assert set(by_email) == {e for e, _, _ in SHOPPING}
    assert by_email["kathmandu@x.io"]["send_at_utc"] == "2026-12-01T04:15:00Z"
    assert (by_email["nozone@x.io"]["timezone"], by_email["nozone@x.io"]["tz_source"]) == (
        "Europe/London",
        "default",
    )
    assert by_email["berlin@x.io"]["bucket"] == by_email["berlin2@x.io"]["bucket"]
    assert "6 bucket(s)" in err and "nothing written" in err
    with store.engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM send_ledger").scalar() == 0


def test_render_writes_the_html_a_bucket_gets(tmp_path, capsys):
    toml = write_toml(tmp_path / "c.toml", f"sqlite:///{tmp_path / 's.db'}", "https://us6.api.mailchimp.com/3.0",
                      {"vip_early": VIP})  # fmt: skip
    code, _, err = run(capsys, "--config", str(toml), "render", "--campaign", "vip_early", "--language", "de",
                       "--country", "AU", "--as-of", "2026-11-30T06:00:00Z", "--out", str(tmp_path / "m.html"),
                       "--text", str(tmp_path / "m.txt"))  # fmt: skip
    assert code == 0, err
    html = (tmp_path / "m.html").read_text()
    assert "*|UNSUB|*" in html and "Boots &amp; Co, 1 Main St" in html and 'lang="de"' in html
    assert "subject: Dein früher Zugang beginnt heute" in err
    assert "*|UNSUB|*" in (tmp_path / "m.txt").read_text()
    code, _, err = run(
        capsys, "--config", str(toml), "render", "--campaign", "nope", "--out", str(tmp_path / "x")
    )
    assert code == 2 and "no [campaigns.nope]" in err
    code, _, err = run(capsys, "--config", str(toml), "render", "--campaign", "vip_early", "--language", "xx",
                       "--out", str(tmp_path / "x"))  # fmt: skip
    assert code == 2 and "--language 'xx'" in err


def test_templates_check_reports_file_and_line(tmp_path, capsys):
    import shutil
    from pathlib import Path

    folder = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[1] / "templates", folder)
    toml = write_toml(tmp_path / "c.toml", f"sqlite:///{tmp_path / 's.db'}", "https://us6.api.mailchimp.com/3.0",
                      {"vip_early": VIP}, templates_dir=folder)  # fmt: skip
    code, out, err = run(capsys, "--config", str(toml), "templates", "check")
    assert code == 0 and "6 template(s) ok in every language (en, de, uz)" in out, err
    (folder / "typo.html").write_text(
        '{% extends "base.html" %}{% block body %}\n<p>{{ fist_name }}</p>{% endblock %}\n'
    )
    (folder / "no_footer.html").write_text("<p>{{ shop.name }}</p>\n")  # no layout, so no footer
    code, _, err = run(capsys, "--config", str(toml), "templates", "check")
    assert code == 1
    assert "typo.html:2: unknown variable 'fist_name'" in err
    assert "no_footer.html" in err and "*|UNSUB|*" in err


def test_send_test_mails_the_given_address_only(sandbox, store, store_url, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MAILCHIMP_API_KEY", KEY)
    setup(sandbox, store, cfg(sandbox, {"vip_early": VIP}), members=SHOPPING[:1])
    toml = write_toml(tmp_path / "c.toml", store_url, sandbox.base_url, {"vip_early": VIP})
    code, _, err = run(capsys, "--config", str(toml), "send", "test", "--campaign", "vip_early", "--to",
                         "Me@Shop.example", "--language", "de")  # fmt: skip
    assert code == 0, err
    assert [(e, t) for _, e, t, _ in sandbox.state.test_emails] == [("me@shop.example", "html")]
    assert sandbox.state.deliveries == [] and sandbox.state.campaigns == {}  # the draft is gone again
    code, _, err = run(
        capsys, "--config", str(toml), "send", "test", "--campaign", "vip_early", "--to", "not-an-email"
    )
    assert code == 2 and "--to" in err
