"""Headless Chromium (Debian `chromium` + `chromium-driver`) driven by Selenium, for the browser
tests of several apps (tests/e2e/test_browser.py, tests/listings/test_moderation_browser.py)."""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def require_browser() -> None:
    """Fail (CI, DGT_REQUIRE_SERVICES=1) or skip without Chromium, its driver or selenium."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        msg = f"needs {', '.join(missing)} (apt-get install -y chromium chromium-driver)"
        if os.environ.get("DGT_REQUIRE_SERVICES") == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


def new_browser():
    """A new headless Chromium session (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
