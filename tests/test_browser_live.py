"""Live explains each item, in a real browser (issues 12 and 13): a row per item with its image score and its
own skip, and a browser notification when an approval request arrives.

A real engine daemon and console (tests/browser_support.py) and Debian's chromium; jobs are queued straight
into the jobs table (tests/test_browser_e2e.py drives the New run form).
"""
from __future__ import annotations

import re

import pytest

from conftest import wait_until
from test_browser_console import (
    PHONE, browser, db_rows, logs_on_failure, new_page, queue, session_of_job, studio, sync_api, visit,  # noqa: F401
    wait_session_status,
)
from test_browser_e2e import button, open_tab, screenshot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect = sync_api.expect

# The page's Notification API, recorded instead of shown (headless chromium has no notification centre);
# the permission, once granted, holds across reloads as a browser's does.
FAKE_NOTIFICATIONS = """
window.__notified = [];
window.Notification = class {
  constructor(title, options) { window.__notified.push({title, ...options}); }
  static get permission() { return localStorage.getItem("fake-permission") || "default"; }
  static requestPermission() { localStorage.setItem("fake-permission", "granted"); return Promise.resolve("granted"); }
};"""


def _row(page, asset_id: str):
    return page.locator(f".st-key-live_row_{asset_id} >> visible=true").first


def test_a_live_row_shows_its_image_score_and_skips_its_own_item(studio, browser):
    job_id = queue(studio, types=["icons"], limit=6, speed="slow", latency_scale=0.4, approval=False)
    session_id = session_of_job(studio, job_id)
    page = new_page(browser)
    with logs_on_failure(studio, page, "live-rows"):
        scored = wait_until(lambda: db_rows(studio, "SELECT asset_id, passed, note FROM scores WHERE session_id = ? "
                                                    "AND kind = 'gate' LIMIT 1", [session_id]),
                            timeout=120, interval=0.5, message="a first image scored")[0]
        visit(page, studio, "", title="Live")
        open_tab(page, "Items")
        verdict = "passed" if scored["passed"] else f"review: {scored['note']}"
        expect(_row(page, scored["asset_id"])).to_contain_text(re.compile(re.escape(verdict) + r" · \d+/\d+ checks"),
                                                             timeout=30_000)
        expect(button(page, f"live_skip_{scored['asset_id']}")).to_be_disabled()  # saved: nothing to skip

        # the last item has not begun (slow: one at a time); skip it with its own button
        pending = db_rows(studio, "SELECT asset_id FROM items WHERE session_id = ? AND status = 'pending' "
                                  "ORDER BY asset_id DESC LIMIT 1", [session_id])[0]["asset_id"]
        skip = button(page, f"live_skip_{pending}")
        expect(skip).to_be_enabled(timeout=15_000)
        skip.click()
        item_id = f"{session_id}:{pending}"
        wait_until(lambda: db_rows(studio, "SELECT outcome FROM items WHERE item_id = ?", [item_id])[0]["outcome"]
                   == "skipped", timeout=60, interval=0.5, message=f"{pending} skipped")
        expect(_row(page, pending)).to_contain_text("skipped", timeout=30_000)
        expect(button(page, f"live_skip_{pending}")).to_be_disabled()
        wait_idle(page)
        screenshot(page, "live-rows")
        assert not page.errors, page.errors
    controls = db_rows(studio, "SELECT command, item_id, requested_by, result FROM controls WHERE command = 'skip'")
    assert len(controls) == 1 and controls[0]["item_id"] == item_id
    assert controls[0]["result"].startswith(f"skipped {item_id}")
    # only that item: the others went on
    others = db_rows(studio, "SELECT count(*) AS n FROM items WHERE session_id = ? AND outcome = 'skipped'",
                     [session_id])[0]["n"]
    assert others == 1


def test_an_approval_request_raises_one_browser_notification(studio, browser):
    page = new_page(browser)
    page.add_init_script(FAKE_NOTIFICATIONS)
    with logs_on_failure(studio, page, "notify"):
        visit(page, studio, "", title="Live")
        ask = page.locator(".assetgen-notify button")
        expect(ask).to_be_visible()
        ask.click()  # the permission is asked on the operator's click
        expect(ask).to_be_hidden()
        queue(studio, types=["icons"], limit=12, speed="fast", latency_scale=0.05, approval=True,
              approval_threshold=10)
        batch = wait_until(lambda: db_rows(studio, "SELECT batch_id FROM approvals WHERE status = 'pending'"),
                           timeout=90, interval=0.5, message="an approval request")[0]["batch_id"]
        page.wait_for_function("() => window.__notified.length > 0", timeout=30_000)
        notified = page.evaluate("window.__notified")
        assert [n["tag"] for n in notified] == [f"assetgen-{batch}"], notified
        assert notified[0]["title"].startswith("Approval needed")
        # a reload (a new console session, the permission still granted) does not announce the batch again:
        # the sidebar's inbox, drawn in the same run that hands the batch to the browser, shows it waiting
        page.reload()
        expect(page.get_by_text("waiting for approval")).to_be_visible(timeout=30_000)
        wait_idle(page)
        assert page.evaluate("window.__notified") == []
        assert not page.errors, page.errors


def test_live_in_detail_on_a_phone_is_a_compact_row_per_item(studio, browser):
    job_id = queue(studio, types=["icons"], limit=12, speed="fast", latency_scale=0.05, approval=False)
    session_id = session_of_job(studio, job_id)
    wait_session_status(studio, session_id, ("completed",))
    page = new_page(browser, viewport=PHONE)
    with logs_on_failure(studio, page, "live-phone-rows"):
        visit(page, studio, "enhanced", title="Live in detail")
        rows = page.locator("[class*='st-key-live_row_'] >> visible=true")
        expect(rows).to_have_count(12, timeout=30_000)
        wait_idle(page)
        heights = [rows.nth(i).bounding_box()["height"] for i in range(12)]
        # thumbnail beside its facts: once five stacked blocks, 391 px an item
        assert max(heights) <= 230, [round(h) for h in heights]
        screenshot(page, "live-detail-phone-rows")
        assert not page.errors, page.errors
