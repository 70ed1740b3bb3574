"""The workspace in a real browser (headless Chromium, tests/browser.py) against a `segmail demo` store:
every page loads without a console error (screenshots at desktop and mobile widths), a member search,
a rule edited with a mistake then fixed, previewed and saved, a template rendered as a contact, the
login where auth is on, and a forged form refused."""

from __future__ import annotations

import io
import re
import tomllib
from datetime import UTC, datetime

import pytest
from rich.console import Console

from segmail.jobs import predict
from segmail.jobs.config import load_config
from segmail.jobs.demo import run_demo
from segmail.store.db import open_store
from segmail.ui import security
from segmail.ui.nav import PAGES
from tests.browser import DESKTOP, MOBILE, chromium, console_errors, screenshot
from tests.ui_harness import served

pytestmark = [pytest.mark.slow, pytest.mark.browser]

AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WAIT = 30  # seconds for a page or a swap; the preview evaluates every segment


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`segmail demo` (1,500 customers, frozen at AS_OF) with a prediction fit stored."""
    workdir = tmp_path_factory.mktemp("demo")
    code = run_demo(
        contacts=1500, seed=7, workdir=workdir, as_of=AS_OF, console=Console(file=io.StringIO()), frozen=True
    )
    assert code == 0
    path = workdir / "segmail-demo.toml"
    config = load_config(path, env={})
    store = open_store(config.store_url())
    predict.fit(store, config, as_of=AS_OF, now=AS_OF)
    yield path, store
    store.dispose()


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


@pytest.fixture
def site(demo, browser):
    path, store = demo
    with served(path, store, now=AS_OF) as server:
        console_errors(browser)  # drop what an earlier test left
        yield server.url.rstrip("/"), browser, path


def _wait(driver, css: str, timeout: float = WAIT):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _wait_text(driver, css: str, text: str, timeout: float = WAIT) -> None:
    """Wait for `text` in the element the *next* page shows: after a click or a submit the old page's
    element can still match for a moment and go stale under us; this condition re-finds it each poll."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def _member(store) -> str:
    from segmail.store.contacts import example_member

    with store.engine.connect() as conn:
        email = example_member(conn, prefer_segment="vip")
    assert email
    return email


def test_every_page_loads_without_console_errors_at_desktop_and_mobile_width(site, demo):
    url, driver, _ = site
    member = _member(demo[1])
    paths = [p.path for p in PAGES] + [
        "/rules/vip",
        "/templates/welcome",
        f"/segments/explain?email={member}",
    ]
    for size, label in ((DESKTOP, "desktop"), (MOBILE, "mobile")):
        driver.set_window_size(*size)
        for path in paths:
            driver.get(url + path)
            _wait(driver, "main h1")
            if path == "/predictions":  # the screenshot should show the plot, drawn when the browser asks
                _loaded(driver, _wait(driver, "figure.plot img"))
            assert driver.find_element("css selector", "header.top nav").is_displayed()
            name = re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].strip("/")) or "overview"
            assert screenshot(driver, f"{name}-{label}", size).stat().st_size > 10_000
            assert console_errors(driver) == [], path
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways at {label} width ({overflow} px)"


def test_the_overview_draws_the_trend_and_the_predictions_their_plot(site):
    url, driver, _ = site
    driver.get(url + "/")
    assert _wait(driver, "figure.chart svg polyline")
    driver.get(url + "/predictions")
    image = _wait(driver, "figure.plot img")
    assert _loaded(driver, image) == 1200  # the PNG matplotlib drew, served by the workspace
    assert console_errors(driver) == []


def _loaded(driver, image) -> int:
    """The image's natural width once it finished loading (a plot is drawn when the browser asks for
    it: wait for the load, not a moment)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(d):
        return d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)

    return int(WebDriverWait(driver, WAIT).until(loaded))


def test_search_a_member_and_explain(site, demo):
    url, driver, _ = site
    member = _member(demo[1])
    driver.get(url + "/segments")
    box = _wait(driver, "#q")
    box.send_keys(member[:-4])  # a prefix is enough
    link = _wait(driver, "#results table a")
    assert member in driver.find_element("css selector", "#results").text
    screenshot(driver, "segments-search")
    link.click()
    _wait(driver, "tr.in")  # a segment the member is in, highlighted
    assert "why: the clause that decided" in driver.page_source
    assert console_errors(driver) == []


def test_edit_a_rule_with_a_mistake_fix_it_preview_and_save(site):
    url, driver, path = site
    before = path.read_text(encoding="utf-8")
    driver.get(url + "/rules/vip")
    rule = _wait(driver, "#rule")
    rule.clear()
    rule.send_keys("orders_count >= 1 and total_spend >= 100")
    problems = _wait(driver, "#problems")
    assert "column 23: unknown name 'total_spend' (did you mean 'total_spent'?)" in problems.text
    caret = driver.find_element("css selector", "#problems pre.caret").text.splitlines()
    assert caret[1].index("^") == caret[0].index("total_spend")  # the mark points at the mistake
    screenshot(driver, "rule-editor-error")
    rule.clear()
    rule.send_keys("orders_count >= 3 and total_spent >= top_spenders_threshold(top_percent)")
    _wait(driver, "#valid")
    assert not driver.find_elements("css selector", "#save-button")  # no save before a preview
    driver.find_element("css selector", "#preview-button").click()
    save = _wait(driver, "#save-button")
    preview = driver.find_element("css selector", "#preview-result").text
    assert "Would leave vip" in preview and "no longer: orders_count >= 3" in preview
    assert "vip_early" in preview  # the campaign whose mail this changes
    screenshot(driver, "rule-editor-preview")
    save.click()
    saved = _wait(driver, "#saved")
    assert "The previous file is kept as" in saved.text
    assert console_errors(driver) == []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert (
        data["segments"]["vip"]["rule"]
        == "orders_count >= 3 and total_spent >= top_spenders_threshold(top_percent)"
    )
    (backup,) = path.parent.glob("segmail-demo.toml.*.bak")
    assert backup.read_text(encoding="utf-8") == before
    path.write_text(before, encoding="utf-8")  # the next tests see the demo's rule again
    backup.unlink()


def test_render_a_template_as_a_contact(site, demo):
    url, driver, _ = site
    member = _member(demo[1])
    driver.get(url + "/templates/welcome")
    box = _wait(driver, "input[name=contact]")
    box.clear()
    box.send_keys(member)
    language = driver.find_element("css selector", "select[name=language]")
    language.find_element("css selector", "option[value=de]").click()
    box.submit()
    _wait(driver, "#plain-text")
    _wait_text(driver, "main", member)
    frame = driver.find_element("css selector", "figure.desktop iframe")
    driver.switch_to.frame(frame)
    body = _wait(driver, "body").text
    driver.switch_to.default_content()
    assert "*|FNAME|*" not in body and body.strip()
    assert "Abmelden" in body or "abmelden" in body.lower()  # rendered in German
    screenshot(driver, "template-as-contact")
    assert console_errors(driver) == []


def test_a_forged_form_is_refused_and_changes_nothing(site):
    url, driver, path = site
    before = path.read_bytes()
    driver.get(url + "/rules/vip")
    _wait(driver, "#preview-button").click()
    _wait(driver, "#save-button")
    driver.execute_script("document.querySelector('input[name=csrf]').value = 'forged'")
    driver.find_element("css selector", "#save-button").click()
    _wait_text(driver, "main h1", "Form expired")
    assert driver.find_element("css selector", "main h1").text == "Form expired"
    assert path.read_bytes() == before
    console_errors(driver)  # the 403 itself is logged by the browser: expected here


def test_log_in_where_auth_is_on(demo, browser):
    path, store = demo
    token = "a-long-enough-test-token"
    with served(path, store, now=AS_OF, env={security.TOKEN_ENV: token}) as server:
        url = server.url.rstrip("/")
        browser.delete_all_cookies()
        browser.get(url + "/segments")
        box = _wait(browser, "#token")
        assert "/login" in browser.current_url
        screenshot(browser, "login")
        box.send_keys("wrong token")
        box.submit()
        assert "not the token" in _wait(browser, ".alert.error").text
        _wait(browser, "#token").send_keys(token)
        browser.find_element("css selector", "#token").submit()
        _wait_text(browser, "main h1", "Segments")
        assert browser.current_url.endswith("/segments")
        assert token not in browser.page_source
        console_errors(browser)  # the wrong token's 401 is logged by the browser: expected here
