"""The live admin dashboard in a real browser: headless Chromium (Debian `chromium` +
`chromium-driver`) driven by Selenium against a real daphne in embedded mode (its own SQLite file).

Log in to Django admin, see Connected; approve a listing over the API (another session): the
alert appears and the pending count drops; dismiss it. Then a listing created by ANOTHER process
(`manage.py shell`, as `runjob` would) reaches the page through the server's embedded relay loop.
"""
from __future__ import annotations

import pytest

from ..browser import new_browser, require_browser
from ..servers import DEMO_PASSWORD, daphne, demo_token, embedded_env, held_port, http_json, manage

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_admin_dashboard_live_in_a_real_browser(tmp_path):
    require_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    env = embedded_env(tmp_path, OUTBOX_EMBEDDED_RELAY_SECONDS="0.5")
    manage(env, "migrate", "--noinput")
    manage(env, "demo_data", "--quiet")
    with held_port(19560) as port, daphne(port, env, tmp_path / "daphne.log"):
        base = f"http://127.0.0.1:{port.number}"
        browser = new_browser()
        try:
            wait = WebDriverWait(browser, 20)

            def stat(name):
                return browser.find_element(By.CSS_SELECTOR, f'[data-stat="{name}"]').text

            browser.get(base + "/admin/login/?next=/admin/")
            browser.find_element(By.NAME, "username").send_keys("admin")
            browser.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
            browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
            wait.until(EC.text_to_be_present_in_element((By.ID, "live-status"), "Connected"))
            wait.until(lambda b: stat("pendingListings") == "4")

            seller, moderator = demo_token(base, "seller"), demo_token(base, "moderator")
            status, listings, _ = http_json(f"{base}/api/listings", token=seller)
            assert status == 200, listings
            pending = [x["id"] for x in listings["results"] if x["status"] == "pending"]
            status, approved, _ = http_json(f"{base}/api/listings/{pending[0]}/approve", {"reason": "ok"},
                                            token=moderator)
            assert (status, approved["status"]) == (200, "approved"), approved

            alert_css = '#live-alerts li[data-kind="listing.approved"]'
            alert = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, alert_css)))
            assert f"Listing #{pending[0]}" in alert.text
            wait.until(lambda b: stat("pendingListings") == "3")
            alert.find_element(By.CSS_SELECTOR, "button.live-dismiss").click()
            wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, alert_css))

            # Another process publishes (embedded mode): the server's relay loop delivers it.
            manage(env, "shell", "-c",
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
