"""The workspace over HTTP (uvicorn in a thread, port 0): every page, the rule editor's check → preview →
save, escaping, CSRF, the Host check, read-only mode and the login. The browser tests drive the same
server with Chromium (tests/test_ui_browser.py)."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from segmail.jobs.compute import compute
from segmail.jobs.config import load_config
from segmail.store.db import open_store
from segmail.ui import security
from segmail.ui.nav import PAGES
from segmail.ui.server import Options, prepare
from tests.shop import Shop
from tests.ui_harness import Client, served

T = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
XSS = "<script>alert(1)</script>"
CONFIG = f"""# the shop's config: every comment must survive an edit from the workspace
[store]
path = "store.db"   # beside this file

[segments.vip]
top_percent = 20  # a fifth of the buyers

[segments.boots]
description = "{XSS} buyers of boots"
rule = '"boots" in categories and orders_count >= min_orders'
min_orders = 1

[send]
shop_name = "Example Boots"
shop_address = "Musterstraße 1, 10115 Berlin, Germany"
shop_url = "https://boots.example"

[campaigns.welcome]
segment = "welcome"
template = "welcome.html"
subject = "Welcome"
from_name = "Example Boots"
reply_to = "hello@boots.example"
local_time = "10:00"
trigger = "on_enter"
backfill = true

[campaigns.broken]
enabled = false
segment = "vip"
template = "{XSS}.html"
subject = "x"
from_name = "Example Boots"
reply_to = "hello@boots.example"
local_time = "10:00"
trigger = "on_enter"
"""


@pytest.fixture
def shop(tmp_path):
    """A config file and a small computed store beside it."""
    path = tmp_path / "segmail.toml"
    path.write_text(CONFIG, encoding="utf-8")
    os.chmod(path, 0o640)
    config = load_config(path, env={})
    store = open_store(config.store_url())
    s = Shop(store)
    for i in range(6):
        email = f"buyer{i}@example.com"
        s.contact(
            email,
            opted_in_at=T - timedelta(days=200 + i),
            first_name=f"Buyer{i}",
            language="de",
            country="DE",
        )
        s.order(
            email, T - timedelta(days=100 + i), total=f"{50 + 40 * i}.00", cats=("boots",) if i % 2 else ()
        )
        if i >= 3:
            s.order(email, T - timedelta(days=20 + i), total="30.00")
    s.contact("new@example.com", opted_in_at=T - timedelta(days=3), first_name="Neu")
    s.flush(T)
    compute(store, config, as_of=T, now=T)
    yield path, store
    store.dispose()


@pytest.fixture
def client(shop):
    path, store = shop
    with served(path, store, now=T) as server:
        yield Client(server.url), path


def test_every_registered_page_answers(client):
    c, _ = client
    for page_ in PAGES:
        answer = c.get(page_.path)
        assert answer.status == 200, (page_.path, answer.text[:500])
        assert f'href="{page_.path}" aria-current="page"' in answer.text  # the nav marks where we are
    for path in ("/rules/vip", "/templates/welcome", "/sends?campaign=welcome", "/segments/vip/members"):
        assert c.get(path).status == 200, path


def test_values_are_escaped_never_run(client):
    c, _ = client
    shown = c.get("/segments").text + c.get("/templates").text + c.get("/rules/boots").text
    assert XSS not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; buyers of boots" in shown  # the description, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.html" in shown  # the template name in the check's warning


def test_pages_carry_a_strict_policy_and_the_session_cookie_is_locked_down(client):
    c, _ = client
    answer = c.get("/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    (cookie,) = c.cookies_set
    assert {"httponly", "secure", "samesite=strict"} <= {p.strip().lower() for p in cookie.split(";")}


def test_member_search_uses_the_prefix_and_explain_shows_the_deciding_clause(client):
    c, _ = client
    found = c.get("/segments/search?q=BUYER4", **{"HX-Request": "true"}).text
    assert "buyer4@example.com" in found and "buyer1@example.com" not in found
    assert "repeat_buyer" in found
    explained = c.get("/segments/explain?email=buyer1@example.com").text
    assert "fails: orders_count &gt;= min_orders" in explained  # one order: not a repeat buyer
    assert "total_spent" in explained
    assert c.get("/segments/explain?email=not-an-email").status == 400


def _editor_form(c: Client, name: str, rule: str, params: str) -> dict[str, str]:
    page_ = c.get(f"/rules/{name}")
    base = re.search(r'name="base" value="([^"]*)"', page_.text)
    assert base
    return {"csrf": page_.csrf(), "base": base.group(1), "rule": rule, "params": params, "enabled": "on"}


def test_the_rule_check_names_the_key_and_the_column(client):
    c, _ = client
    form = _editor_form(c, "vip", "orders_count >= 1 and total_spend >= 10", "top_percent = 20")
    answer = c.post("/rules/vip/check", form).text
    assert "segments.vip.rule: column 23: unknown name &#39;total_spend&#39;" in answer
    assert "orders_count &gt;= 1 and total_spend &gt;= 10\n" + " " * 22 + "^" in answer  # the caret
    form["rule"] = "orders_count >= 2"
    assert 'id="valid"' in c.post("/rules/vip/check", form).text


def test_preview_then_save_writes_the_file_keeps_comments_and_a_backup(client):
    c, path = client
    before = path.read_text(encoding="utf-8")
    form = _editor_form(
        c, "vip", "orders_count >= 2\n and total_spent >= 100", "top_percent = 20\nmin_spent = 50"
    )
    preview = c.post("/rules/vip/preview", form)
    assert preview.status == 200
    assert "Would leave vip" in preview.text or "Would enter vip" in preview.text
    digest = re.search(r'name="previewed" value="([0-9a-f]+)"', preview.text)
    assert digest
    saved = c.post("/rules/vip/save", {**form, "previewed": digest.group(1)})
    assert saved.status == 200, saved.text
    assert 'id="saved"' in saved.text
    after = path.read_text(encoding="utf-8")
    assert "# the shop's config: every comment must survive" in after and "# beside this file" in after
    data = tomllib.loads(after)
    assert data["segments"]["vip"] == {
        "top_percent": 20,
        "rule": "orders_count >= 2  and total_spent >= 100",
        "min_spent": 50,
    }
    assert tomllib.loads(before)["campaigns"] == data["campaigns"]  # the rest of the file as it was
    (backup,) = path.parent.glob("segmail.toml.*.bak")
    assert backup.read_text(encoding="utf-8") == before
    for f in (path, backup):
        assert stat.S_IMODE(f.stat().st_mode) == 0o640  # the file's own mode: never widened
    assert "orders_count &gt;= 2  and total_spent &gt;= 100" in c.get("/segments").text  # taken up at once


def test_save_refuses_without_the_preview_of_exactly_this_text(client):
    c, path = client
    before = path.read_bytes()
    form = _editor_form(c, "vip", "orders_count >= 2", "top_percent = 20")
    digest = re.search(r'name="previewed" value="([0-9a-f]+)"', c.post("/rules/vip/preview", form).text)
    assert digest
    assert c.post("/rules/vip/save", form).status == 409  # never previewed
    changed = {**form, "rule": "orders_count >= 3", "previewed": digest.group(1)}
    assert c.post("/rules/vip/save", changed).status == 409  # previewed, then edited
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.bak"))


def test_save_refuses_when_the_file_changed_on_disk_meanwhile(client):
    c, path = client
    form = _editor_form(c, "vip", "orders_count >= 2", "top_percent = 20")
    digest = re.search(r'name="previewed" value="([0-9a-f]+)"', c.post("/rules/vip/preview", form).text)
    assert digest
    edited_by_hand = path.read_text(encoding="utf-8").replace("top_percent = 20", "top_percent = 25")
    path.write_text(edited_by_hand, encoding="utf-8")
    answer = c.post("/rules/vip/save", {**form, "previewed": digest.group(1)})
    assert answer.status == 409 and "changed on disk" in answer.text
    assert path.read_text(encoding="utf-8") == edited_by_hand


def test_a_form_without_the_session_token_or_from_another_site_changes_nothing(client):
    c, path = client
    before = path.read_bytes()
    form = _editor_form(c, "vip", "orders_count >= 2", "top_percent = 20")
    assert c.post("/rules/vip/save", {**form, "csrf": "forged"}).status == 403
    stranger = Client(f"http://{c.host}:{c.port}/")  # another session: its own token, not this one's
    assert stranger.post("/rules/vip/save", form).status == 403
    cross = c.post("/rules/vip/preview", form, Origin="https://evil.example")
    assert cross.status == 403 and b"cross-site" in cross.body
    assert c.post("/rules/vip/preview", form, Origin="null").status == 403  # an opaque origin: a sandbox
    assert path.read_bytes() == before


def test_a_request_for_another_host_name_is_refused(client):
    c, _ = client
    assert c.get("/", Host=f"rebound.example:{c.port}").status == 400
    assert c.get("/", Host=f"localhost:{c.port}").status == 200


def test_read_only_serves_pages_and_previews_but_saves_nothing(shop):
    path, store = shop
    with served(path, store, now=T, read_only=True) as server:
        c = Client(server.url)
        form = _editor_form(c, "vip", "orders_count >= 2", "top_percent = 20")
        preview = c.post("/rules/vip/preview", form).text
        assert "Read-only workspace" in preview and 'id="save-button"' not in preview
        assert c.post("/rules/vip/save", {**form, "previewed": "0" * 64}).status == 403
        assert "read-only" in c.get("/").text


def test_with_a_token_every_page_needs_a_login_and_the_session_is_renewed(shop):
    path, store = shop
    token = "correct horse battery staple"
    with served(path, store, now=T, env={security.TOKEN_ENV: token}) as server:
        c = Client(server.url)
        first = c.get("/segments")
        assert first.status == 303 and first.headers["location"] == "/login?next=%2Fsegments"
        login = c.get("/login")
        assert token not in login.text
        before = c.cookie
        wrong = c.post("/login", {"csrf": login.csrf(), "token": "guess", "next": "/segments"})
        assert wrong.status == 401 and "not the token" in wrong.text
        ok = c.post("/login", {"csrf": login.csrf(), "token": token, "next": "/segments"})
        assert ok.status == 303 and ok.headers["location"] == "/segments"
        assert c.cookie != before  # a new session id after the login
        page_ = c.get("/segments")
        assert page_.status == 200 and token not in page_.text
        old = Client(server.url)
        old.cookie = before
        assert old.get("/").status == 303  # the id from before the login is gone
        assert c.post("/logout", {"csrf": page_.csrf()}).status == 303
        assert c.get("/segments").status == 303


def test_logins_are_throttled(shop):
    path, store = shop
    with served(path, store, now=T, env={security.TOKEN_ENV: "x" * 20}) as server:
        c = Client(server.url)
        csrf = c.get("/login").csrf()
        for _ in range(security.LOGIN_FAILURES):
            assert "not the token" in c.post("/login", {"csrf": csrf, "token": "nope"}).text
        blocked = c.post("/login", {"csrf": csrf, "token": "x" * 20})
        assert blocked.status == 401 and "Too many wrong tokens" in blocked.text


@pytest.mark.parametrize(
    ("listen", "env", "problem"),
    [
        ("0.0.0.0:0", {}, "needs a token in SEGMAIL_UI_TOKEN and [ui] tls_cert and tls_key"),
        ("0.0.0.0:0", {security.TOKEN_ENV: "y" * 20}, "needs [ui] tls_cert and tls_key"),
        ("127.0.0.1:0", {security.TOKEN_ENV: "short"}, "at least 16 characters"),
    ],
)
def test_another_address_needs_a_token_and_tls(shop, listen, env, problem):
    path, store = shop
    with pytest.raises(security.SetupError, match=re.escape(problem)):
        prepare(load_config(path, env={}), store, Options(listen=listen), env=env)


def test_the_mail_frame_may_neither_run_script_nor_load_anything(client):
    c, _ = client
    page_ = c.get("/templates/welcome?contact=buyer1@example.com&language=de").text
    assert "<iframe" in page_ and " sandbox " in page_
    mail = c.get("/templates/welcome/mail?contact=buyer1@example.com&language=de")
    assert mail.status == 200 and "Buyer1" in mail.text  # *|FNAME|* filled from the contact
    assert mail.headers["content-security-policy"].startswith("default-src 'none'")
    assert "sandbox" in mail.headers["content-security-policy"]


def test_predictions_without_a_fit_say_how_to_make_one(client):
    c, _ = client
    assert "segmail predict fit" in c.get("/predictions").text


def test_the_ui_section_names_its_keys():
    from pathlib import Path

    from segmail.jobs.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as raised:
        parse_config({"ui": {"listen": "nope", "lisen": "x"}}, origin="t", base_dir=Path("."), env={})
    assert raised.value.problems == [
        'ui.listen: expected "HOST:PORT" such as "127.0.0.1:8765", or "" to disable, got \'nope\'',
        "ui.lisen: unknown key (did you mean 'listen'?)",
    ]
    with pytest.raises(ConfigError, match="set both tls_cert and tls_key"):
        parse_config({"ui": {"tls_cert": "ui.crt"}}, origin="t", base_dir=Path("."), env={})


@pytest.mark.parametrize(
    ("value", "top"), [(0, 4), (5, 8), (7, 8), (12, 12), (13, 20), (1842, 2000), (3100, 4000)]
)
def test_chart_axes_end_where_every_grid_line_is_a_whole_count(value, top):
    from segmail.ui.charts import bar_chart, nice_max

    assert nice_max(value) == top
    labels = [t.label for t in bar_chart([("a", value)], title="t").ticks]
    assert all("." not in label for label in labels) and labels[-1] == f"{top:,}"


def test_a_line_chart_keeps_its_first_and_last_label_inside():
    from segmail.ui.charts import line_chart

    chart = line_chart(["11-20", "11-21", "11-22"], {"vip": [1, 2, None]}, title="t")
    assert [label.anchor for label in chart.labels] == ["start", "middle", "end"]
    assert (
        chart.series[0].last == "2" and chart.series[0].points.count(",") == 2
    )  # a missing value is no point


def test_predictions_load_their_heavy_parts_after_the_page(client):
    c, _ = client
    page_ = c.get("/predictions").text
    assert 'hx-get="/predictions/check?holdout=91"' in page_ and 'hx-get="/predictions/ranked"' in page_
    check = c.get("/predictions/check?holdout=91")
    assert check.status == 200 and "not enough data to predict" in check.text  # seven contacts
    assert c.get("/predictions/ranked").status == 200
    assert c.get("/predictions/check.png").status == 409


def test_segmail_ui_refuses_an_open_address_without_a_token(shop, capsys, monkeypatch):
    from segmail.jobs.cli import main

    path, _ = shop
    monkeypatch.delenv(security.TOKEN_ENV, raising=False)
    monkeypatch.delenv(security.TOKEN_FILE_ENV, raising=False)
    assert main(["--config", str(path), "ui", "--listen", "0.0.0.0:0"]) == 2
    assert "needs a token in SEGMAIL_UI_TOKEN" in capsys.readouterr().err
    assert main(["--config", str(path), "ui", "--listen", "nope"]) == 2


def test_the_service_serves_the_workspace_when_ui_listen_is_set(shop):
    from segmail.jobs.cli.context import Context
    from segmail.jobs.cli.service import _workspace

    path, _ = shop
    path.write_text(path.read_text(encoding="utf-8") + '\n[ui]\nlisten = "127.0.0.1:0"\nread_only = true\n')
    ctx = Context(load_config(path, env={}))
    served_ = _workspace(ctx)
    try:
        answer = Client(served_.url).get("/segments")
        assert answer.status == 200 and "read-only" in answer.text
    finally:
        served_.stop()
        ctx.close()


def test_without_chromium_the_browser_tests_skip_with_the_reason_unless_required(monkeypatch, tmp_path):
    from tests import browser

    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    driver = tmp_path / "chromedriver"  # present, whether or not this machine has the real one
    driver.write_text("")
    monkeypatch.setattr(browser, "CHROMEDRIVER", driver)
    assert browser.missing() == (
        f"no headless browser: {tmp_path / 'no-chromium'} missing (apt-get install chromium chromium-driver)"
    )
    monkeypatch.setattr(browser, "REQUIRE", False)
    with pytest.raises(pytest.skip.Exception, match="no headless browser"):
        next(browser.chromium())
    monkeypatch.setattr(browser, "REQUIRE", True)
    with pytest.raises(pytest.fail.Exception, match="SEGMAIL_REQUIRE_BROWSER=1 but no headless browser"):
        next(browser.chromium())
