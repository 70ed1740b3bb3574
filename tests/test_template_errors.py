"""An unknown Jinja filter or test is one clear problem naming file and line, wherever the template is used.

Jinja reports an unknown filter while compiling, but an unknown test inside `{% if %}` only when the
branch runs, and its static analysis (used by the checks) raises on an unknown filter: each path is
covered here, from `Renderer` to `templates check`, `render`, service start and a send job.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from segmail.jobs.cli import main
from segmail.jobs.start import open_service
from segmail.sending.render import Renderer, ShopIdentity, TemplateError, Variant
from tests.test_send import KEY, SHOPPING, VIP, cfg, sender_for, setup
from tests.test_send_cli import write_toml

SHIPPED = Path(__file__).resolve().parents[1] / "templates"
SHOP = ShopIdentity(name="Kiez & Co", address="Torstraße 1, 10119 Berlin", url="https://kiez.example/")
FILTER = '{% extends "base.html" %}{% block body %}\n<p>\n{{ segment|nosuchfilter }}</p>{% endblock %}\n'
TEST = '{% extends "base.html" %}{% block body %}\n{% if segment is nosuchtest %}x{% endif %}{% endblock %}\n'
TYPO = '{% extends "base.html" %}{% block body %}\n{{ shop.name|uper }}{{ 3 is od }}{% endblock %}\n'
PARTIAL = '{% extends "base.html" %}{% block body %}{% include "_bad.html" %}{% endblock %}\n'
VARIANT = Variant(segment="vip", language="en", country="DE", season="winter")


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    files = {"filter.html": FILTER, "test.html": TEST, "typo.html": TYPO, "partial.html": PARTIAL}
    files["_bad.html"] = "<p>\n{% if country is nosuchtest %}{{ country|nosuchfilter }}{% endif %}</p>\n"
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
    return target


def test_render_names_file_and_line_of_an_unknown_filter_or_test(folder):
    renderer = Renderer(folder, shop=SHOP)
    with pytest.raises(TemplateError, match=r"^templates/filter\.html:3: unknown filter 'nosuchfilter'$"):
        renderer.render("filter.html", "", VARIANT, campaign="c", send_date=date(2026, 1, 5))
    # a test inside `{% if %}` is looked up only when the branch runs: still one clear problem
    with pytest.raises(TemplateError, match=r"^templates/test\.html:2: unknown test 'nosuchtest'$"):
        renderer.render("test.html", "", VARIANT, campaign="c", send_date=date(2026, 1, 5))
    with pytest.raises(
        TemplateError, match=r"^<subject>:1: unknown filter 'uper' \(did you mean 'upper'\?\)$"
    ):
        renderer.render(
            "welcome.html", "{{ shop.name|uper }}", VARIANT, campaign="c", send_date=date(2026, 1, 5)
        )
    with pytest.raises(TemplateError, match=r"^templates/filter\.html:3: unknown filter 'nosuchfilter'$"):
        renderer.dimensions("filter.html", "")  # Jinja's name analysis compiles, and fails, too


def test_check_reports_every_unknown_filter_and_test_with_a_suggestion(folder):
    renderer = Renderer(folder, shop=SHOP)
    problems = [str(p) for p in renderer.check(["filter.html", "test.html", "typo.html", "partial.html"])]
    assert "templates/filter.html:3: unknown filter 'nosuchfilter'" in problems
    assert "templates/test.html:2: unknown test 'nosuchtest'" in problems
    assert "templates/typo.html:2: unknown filter 'uper' (did you mean 'upper'?)" in problems
    assert "templates/typo.html:2: unknown test 'od' (did you mean 'odd'?)" in problems
    # both mistakes of an included file, at its own lines, though neither branch ever runs in the check
    assert "templates/_bad.html:2: unknown test 'nosuchtest'" in problems
    assert "templates/_bad.html:2: unknown filter 'nosuchfilter'" in problems
    subject = renderer.check_subject("{% if 1 is nosuchtest %}{% endif %}{{ 'x'|nope }}")
    assert [str(p) for p in subject] == [
        "<subject>:1: unknown filter 'nope'",
        "<subject>:1: unknown test 'nosuchtest'",
    ]


def test_templates_check_and_render_commands_print_one_line_not_a_traceback(folder, tmp_path, capsys):
    toml = write_toml(tmp_path / "c.toml", f"sqlite:///{tmp_path / 's.db'}", "https://us6.api.mailchimp.com/3.0",
                      {"vip_early": {**VIP, "template": "filter.html"}}, templates_dir=folder)  # fmt: skip
    assert main(["--config", str(toml), "templates", "check", "filter.html", "test.html"]) == 1
    err = capsys.readouterr().err
    assert "templates/filter.html:3: unknown filter 'nosuchfilter'" in err
    assert "templates/test.html:2: unknown test 'nosuchtest'" in err and "Traceback" not in err
    code = main(
        ["--config", str(toml), "render", "--campaign", "vip_early", "--out", str(tmp_path / "m.html")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.strip() == "error: templates/filter.html:3: unknown filter 'nosuchfilter'"
    assert not (tmp_path / "m.html").exists()


def test_service_start_logs_it_and_the_send_job_fails_only_that_campaign(store, folder, caplog, request):
    box, tick = request.getfixturevalue("sandbox"), request.getfixturevalue("clock")  # test_send's fixtures
    broken = {**VIP, "template": "test.html"}
    c = cfg(box, {"vip_early": VIP, "vip_broken": broken}, send={"templates_dir": str(folder)})
    api = setup(box, store, c, members=SHOPPING[:1])
    with caplog.at_level(logging.ERROR, logger="segmail.service"):
        service = open_service(c, store, env={"MAILCHIMP_API_KEY": KEY}, now=tick)
    service.api.close()
    logged = [r.getMessage() for r in caplog.records]
    assert "campaign vip_broken: templates/test.html:2: unknown test 'nosuchtest'" in logged
    assert not any(r.exc_info for r in caplog.records)
    sender = sender_for(store, c, api, tick)
    slot = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    tick.now = slot - timedelta(minutes=30)
    failed = sender.run_slot("vip_broken", slot)
    assert failed.failed == "templates/test.html:2: unknown test 'nosuchtest'" and failed.buckets == 0
    assert sender.run_slot("vip_early", slot).buckets == 1


def test_service_start_logs_the_config_warnings(store, folder, caplog, request):
    box, tick = request.getfixturevalue("sandbox"), request.getfixturevalue("clock")
    dangling = {**VIP, "segment": "vipp", "enabled": False}
    c = cfg(box, {"vip_early": VIP, "old": dangling}, send={"templates_dir": str(folder)})
    assert c.warnings  # the same list `rules check` prints
    setup(box, store, c, members=SHOPPING[:1])
    with caplog.at_level(logging.WARNING, logger="segmail.service"):
        service = open_service(c, store, env={"MAILCHIMP_API_KEY": KEY}, now=tick)
    service.api.close()
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert logged == [f"config: {w}" for w in c.warnings]
    assert "campaigns.old.segment: no segment named 'vipp'" in logged[0]
