"""The moderation workspace in two real browsers (headless Chromium + Selenium, as the dashboard's
browser test) against a real daphne in embedded mode with its own SQLite file and the demo data.

moderator (A) and moderator2 (B) open the queue; A opens the oldest listing and B sees it claimed
live; A approves it with the keyboard and B's queue drops it live; B opens another, picks a canned
reason with the keyboard and rejects it; the audit log holds both decisions (and the claims).

With DGT_SCREENSHOTS=<dir> the test also saves the queue and listing page screenshots that
docs/moderation.md shows (`DGT_SCREENSHOTS=docs/img make test PYTEST_ARGS=tests/listings/test_moderation_browser.py`).
"""
from __future__ import annotations

import os
import urllib.parse

import pytest

from ..browser import new_browser, require_browser
from ..servers import DEMO_PASSWORD, daphne, demo_token, embedded_env, held_port, http_json, manage

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

QUEUE = "/admin/listings/moderationqueue/"


def _login(browser, base, username):
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/admin/login/?next={urllib.parse.quote(QUEUE)}")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def _shot(browser, name):
    folder = os.environ.get("DGT_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        browser.set_window_size(1400, 900)
        browser.save_screenshot(os.path.join(folder, name))


def test_two_moderators_work_the_queue_without_colliding(tmp_path):
    require_browser()
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    env = embedded_env(tmp_path, OUTBOX_EMBEDDED_RELAY_SECONDS="0.5")
    manage(env, "migrate", "--noinput")
    manage(env, "demo_data", "--quiet")
    # this suite's range; the outbox e2e tests use 19500-19599
    with held_port(19680, 19700) as port, daphne(port, env, tmp_path / "daphne.log"):
        base = f"http://127.0.0.1:{port.number}"
        a, b = new_browser(), new_browser()
        try:
            wait_a, wait_b = (WebDriverWait(br, 20, ignored_exceptions=[StaleElementReferenceException])
                              for br in (a, b))

            def live(browser, wait):
                wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#mod-live[data-state="connected"]')))

            # The queue swaps its rows in on every event: read with one script, act with retries.
            def row_ids(browser):
                return browser.execute_script(
                    "return Array.from(document.querySelectorAll('tr.queue-row'), r => r.dataset.listingId)")

            def row_state(browser, listing_id):
                """(class, text) of a queue row, None when it is not there."""
                return browser.execute_script(
                    "var r = document.querySelector('tr.queue-row[data-listing-id=\"' + arguments[0] + '\"]');"
                    "return r ? [r.className, r.innerText] : null;", listing_id)

            def open_listing(browser, wait, listing_id):
                def click(br):
                    br.find_element(By.CSS_SELECTOR,
                                    f'tr.queue-row[data-listing-id="{listing_id}"] button.open-button').click()
                    return True

                wait.until(click)
                wait.until(EC.text_to_be_present_in_element((By.ID, "claim-text"), "You are reviewing this listing"))
                live(browser, wait)

            def press(browser, keys):
                browser.find_element(By.TAG_NAME, "body").send_keys(keys)

            for browser, wait, user in ((a, wait_a, "moderator"), (b, wait_b, "moderator2")):
                _login(browser, base, user)
                live(browser, wait)
            queue = row_ids(a)
            assert len(queue) == 4 and row_ids(b) == queue
            oldest, second = queue[0], queue[1]
            assert "sla-breached" in row_state(a, oldest)[0]  # demo: 5 hours old

            # A opens the oldest listing: it is claimed, and B's queue says so without a reload.
            open_listing(a, wait_a, oldest)
            wait_b.until(lambda br: "claimed-other" in row_state(br, oldest)[0])
            assert "Being reviewed by moderator until" in row_state(b, oldest)[1]
            assert "Open" not in row_state(b, oldest)[1]
            _shot(a, "moderation-listing.png")
            _shot(b, "moderation-queue.png")

            # A approves with the keyboard; B's queue drops the listing live.
            press(a, "a")
            wait_a.until(EC.url_to_be(base + QUEUE))
            assert f"Listing #{oldest} approved." in a.find_element(By.CSS_SELECTOR, "ul.messagelist").text
            wait_b.until(lambda br: oldest not in row_ids(br))
            assert row_ids(b) == queue[1:]

            # B opens the next oldest, picks canned reason 1 and rejects with the keyboard.
            open_listing(b, wait_b, second)
            press(b, "1")
            assert b.find_element(By.ID, "id_reason_id").get_attribute("value") != ""
            press(b, "r")
            wait_b.until(EC.url_to_be(base + QUEUE))
            live(a, wait_a)
            wait_a.until(lambda br: second not in row_ids(br))

            status, body, _ = http_json(f"{base}/api/admin/audit-logs?entityType=listing&pageSize=100",
                                        token=demo_token(base, "admin"))
            assert status == 200, body
            log = body["results"]
            mine = {(e["action"], e["entityId"], e["username"]) for e in log}
            assert {("listing.claim", oldest, "moderator"), ("listing.approve", oldest, "moderator"),
                    ("listing.claim", second, "moderator2"), ("listing.reject", second, "moderator2")} <= mine
            rejection = next(e for e in log if e["action"] == "listing.reject" and e["entityId"] == second)
            assert rejection["metadata"]["reasonCode"] == "prohibited-item"  # canned reason 1 of the demo
        finally:
            a.quit()
            b.quit()
