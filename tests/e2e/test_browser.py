"""The live admin dashboard in a real browser: headless Chromium (Debian `chromium` +
`chromium-driver`) driven by Selenium against a real daphne in embedded mode (its own SQLite file).

Log in to Django admin, see Connected; approve a listing over the API (another session): the
alert appears and the pending count drops; dismiss it. Then a listing created by ANOTHER process
(`manage.py shell`, as `runjob` would) reaches the page through the server's embedded relay loop.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from ..outbox_servers import ROOT, daphne, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PASSWORD = "demo-pass-123"

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _require_browser():
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


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DGT_TESTING", "CELERY_BROKER_URL", "CHANNEL_PREFIX")}
    env.update(DEBUG="1", SQLITE_PATH=str(tmp_path / "dgt.sqlite3"), OUTBOX_EMBEDDED_RELAY_SECONDS="0.5",
               STATIC_ROOT=str(tmp_path / "static"))
    return env


def _manage(env, *args) -> str:
    out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _api(base, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=15) as response:
        return json.loads(response.read())


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_admin_dashboard_live_in_a_real_browser(tmp_path):
    _require_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput")
    _manage(env, "demo_data", "--quiet")
    port = free_port(19560)
    base = f"http://127.0.0.1:{port}"
    with daphne(port, env, tmp_path / "daphne.log"):
        browser = _browser()
        try:
            wait = WebDriverWait(browser, 20)

            def stat(name):
                return browser.find_element(By.CSS_SELECTOR, f'[data-stat="{name}"]').text

            browser.get(base + "/admin/login/?next=/admin/")
            browser.find_element(By.NAME, "username").send_keys("admin")
            browser.find_element(By.NAME, "password").send_keys(PASSWORD)
            browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
            wait.until(EC.text_to_be_present_in_element((By.ID, "live-status"), "Connected"))
            wait.until(lambda b: stat("pendingListings") == "4")

            seller = _api(base, "/api/auth/token", {"username": "seller", "password": PASSWORD})["access"]
            moderator = _api(base, "/api/auth/token", {"username": "moderator", "password": PASSWORD})["access"]
            pending = [x["id"] for x in _api(base, "/api/listings", token=seller)["results"] if x["status"] == "pending"]
            _api(base, f"/api/listings/{pending[0]}/approve", {"reason": "ok"}, token=moderator)

            alert_css = '#live-alerts li[data-kind="listing.approved"]'
            alert = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, alert_css)))
            assert f"Listing #{pending[0]}" in alert.text
            wait.until(lambda b: stat("pendingListings") == "3")
            alert.find_element(By.CSS_SELECTOR, "button.live-dismiss").click()
            wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, alert_css))

            # Another process publishes (embedded mode): the server's relay loop delivers it.
            _manage(env, "shell", "-c",
                    "from accounts.models import User; from listings.services import listing_create; "
                    "listing_create(owner=User.objects.get(username='seller'), title='Road bike', "
                    "description='21 gears', category='vehicles', price='9000.00')")
            new = wait.until(EC.presence_of_element_located(
                (By.CSS_SELECTOR, '#live-alerts li[data-kind="listing.pending"]')))
            assert "Road bike" in new.text
            wait.until(lambda b: stat("pendingListings") == "4")
            assert browser.find_element(By.ID, "live-status").text == "Connected"
        finally:
            browser.quit()
