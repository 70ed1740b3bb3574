"""Headless Chromium for the workspace's browser tests: Debian's chromium and chromium-driver, driven by Selenium.

Both paths are given, so Selenium never looks for (or downloads) a browser or a driver of its own.
Without them the tests are skipped with the reason; SEGMAIL_REQUIRE_BROWSER=1 (CI) makes that a
failure. Screenshots go to build/ui-screenshots/ (or SEGMAIL_SCREENSHOTS): files to look at, not
committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("SEGMAIL_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("SEGMAIL_CHROMEDRIVER", "/usr/bin/chromedriver"))
REQUIRE = os.environ.get("SEGMAIL_REQUIRE_BROWSER") == "1"
SHOTS = Path(
    os.environ.get("SEGMAIL_SCREENSHOTS", Path(__file__).resolve().parents[1] / "build" / "ui-screenshots")
)
DESKTOP, MOBILE = (1280, 900), (390, 844)


def missing() -> str | None:
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if absent:
        return f"no headless browser: {', '.join(absent)} missing (apt-get install chromium chromium-driver)"
    return None


def chromium() -> Iterator[object]:
    """A headless Chromium session (a generator for a fixture); skips or fails without the browser."""
    reason = missing()
    if reason:
        if REQUIRE:
            pytest.fail(f"SEGMAIL_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(*DESKTOP)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call (each call drains the log)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver, name: str, size: tuple[int, int] = DESKTOP) -> Path:
    """The whole page at this width, as a PNG under SHOTS."""
    width, height = size
    driver.set_window_size(width, height)
    full, chrome = driver.execute_script(  # reading them lays the page out again
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(width, min(max(int(full) + int(chrome), height), 6000))
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(width, height)
    return path
