"""Browser tests' shared parts: headless Chromium, and waits that look at where the page is, not at text that
merely mentions it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest


def path_starts_with(prefix: str) -> Callable[[object], bool]:
    """An expected condition true once the current page's path (not its query) starts with `prefix`.

    Selenium's `url_contains` also matches the query string, so on `/account/password?next=/assignments/nn/`
    a wait for `/assignments/nn/` returns before the browser has left the page.
    """

    def arrived(driver: object) -> bool:
        return urlsplit(str(getattr(driver, "current_url", ""))).path.startswith(prefix)

    return arrived


CHROMIUM = os.environ.get("NNGRADE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NNGRADE_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser_paths() -> tuple[str, str]:
    """Chromium and its driver; skips the test without them, or fails it under NNGRADE_REQUIRE_BROWSER=1."""
    chromium = shutil.which(CHROMIUM) or shutil.which("chromium")
    driver = shutil.which(CHROMEDRIVER) or shutil.which("chromedriver")
    if chromium is None or driver is None:
        message = f"headless Chromium not found (chromium={chromium}, chromedriver={driver})"
        if os.environ.get("NNGRADE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; NNGRADE_REQUIRE_BROWSER=1 requires it (scripts/setup.d/60-browser.sh)")
        pytest.skip(message)
    return chromium, driver


@contextmanager
def headless_chromium(
    profile_dir: Path, flags: Sequence[str] = (), prefs: Mapping[str, Any] | None = None
) -> Iterator[Any]:
    """A headless Chromium driven by Selenium, with its profile in `profile_dir`, extra command-line `flags` and
    preferences `prefs`; quit on exit."""
    chromium, driver_path = browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile_dir}", "--window-size=1280,1000", *flags):
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", dict(prefs))
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
