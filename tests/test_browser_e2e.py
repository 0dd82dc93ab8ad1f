"""The console in a real browser, against a real engine daemon: queue a run, approve it, watch it finish.

An operator signs in on the sidebar, queues 12 icons from History → New run (approval gate at 10
items, stand-in provider at a twentieth of its latency), approves the held batch on Approvals,
sees 12/12 completed on Live and 12 images in the Gallery. The database must then hold the
operator's name on the decision and a completed session with 12 saved items. Every page is
screenshotted under test-artifacts/browser/ for a human look.
"""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest

from engine.store.database import Store
from browser_support import ARTIFACTS, CHROMIUM, launch_chromium, start_studio

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing: install Debian's chromium (./scripts/test.sh does)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
expect = sync_api.expect

OPERATOR = "Dana Browser"
ITEMS = 12
PAGES = ("Live", "Live in detail", "Competition", "Costs", "Approvals", "Templates", "Gallery", "History", "Events")
SECOND_TABS = {"Live": "Timeline", "Competition": "Leaderboard"}  # charts a first look would miss
UI_TIMEOUT_MS = 15_000


@pytest.fixture
def studio(tmp_path):
    with start_studio(tmp_path) as running:
        yield running


@pytest.fixture
def page(studio):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.errors = errors
        try:
            yield tab
        finally:
            context.close()
            browser.close()


# -- driving Streamlit -------------------------------------------------------------------------
def wait_idle(page, timeout_ms: int = UI_TIMEOUT_MS) -> None:
    """Until the last script run has finished and every visible chart is drawn.

    The status widget only shows up after a delay, so its absence alone proves little; the app root's
    script state does. Fragments rerun every second, so "not running" comes round often.
    """
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_ms)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]"
        ".filter(chart => chart.offsetParent !== null).every(chart => chart.querySelector('canvas, svg'))",
        timeout=timeout_ms)


def open_page(page, title: str) -> None:
    """Switch pages through the sidebar (a URL load would start a new session and forget the operator)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    wait_idle(page)


def open_tab(page, name, *, exact: bool = False) -> None:
    """Select a tab once the last rerun is over, and see it still selected after the rerun the click may start.

    A tab clicked while a rerun is on its way (one a dialog's dismissal starts, say) can be drawn anew by
    that rerun with its first tab selected, and the test would then look for widgets in a hidden panel.
    """
    tab = page.get_by_role("tab", name=name, exact=exact)
    wait_idle(page)
    tab.click()
    wait_idle(page)
    expect(tab).to_have_attribute("aria-selected", "true")


def screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main section, so grow the viewport to fit it first."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]')?.scrollHeight ?? 0")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size(size)


def no_exceptions(page) -> None:
    """A page that raised shows an exception box: fail with its text."""
    boxes = page.get_by_test_id("stException")
    if boxes.count():
        raise AssertionError(f"the page shows an exception:\n{boxes.first.inner_text()}")


def sign_in(page, studio) -> None:
    page.goto(studio.console_url)
    expect(page.get_by_role("heading", name="Live", level=1)).to_be_visible(timeout=30_000)
    name = page.locator(".st-key-operator input")
    name.fill(OPERATOR)
    name.press("Enter")
    expect(page.get_by_text("Enter your name to steer sessions")).to_have_count(0)
    wait_idle(page)


def button(page, key: str):
    """The button of a keyed Streamlit widget. A fragment rerun can leave a stale copy in the DOM for a moment,
    so take the first visible one."""
    return page.locator(f".st-key-{key} button >> visible=true").first


def fill_number(page, key: str, value) -> None:
    """Type into a number input and commit it (Enter), then wait for the rerun it causes."""
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    wait_idle(page)


def queue_run(page) -> None:
    open_page(page, "History")
    open_tab(page, "New run")
    types = page.locator(".st-key-run_types")
    types.locator("input").click()
    page.get_by_role("option", name="icons", exact=True).click()
    page.keyboard.press("Escape")
    fill_number(page, "run_limit", ITEMS)
    page.locator(".st-key-run_speed button", has_text="fast").click()
    wait_idle(page)
    fill_number(page, "run_latency_scale", 0.05)
    fill_number(page, "run_approval_threshold", 10)
    # the CLI's defaults (engine/spec.py RunSpec): test mode off, the approval gate on
    expect(page.locator(".st-key-run_test input")).not_to_be_checked()
    expect(page.locator(".st-key-run_approval input")).to_be_checked()
    expect(page.get_by_text(re.compile(rf"Forecast: \$[\d.,]+ expected for {ITEMS} assets"))).to_be_visible()
    button(page, "run_submit").click()
    wait_idle(page)
    no_exceptions(page)
    expect(page.get_by_test_id("stAlertContentSuccess").get_by_text(re.compile(r"Queued job #\d+"))).to_be_visible()


def approve_pending_batch(page) -> str:
    """Wait for the held batch, approve all of it, and return its id as the page shows it."""
    open_page(page, "Approvals")
    # the countdown fragment refreshes itself every second; the decision form below it needs a full rerun
    request = page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"^Batch \S+ · session"))
    expect(request).to_have_count(1, timeout=45_000)
    batch_id = request.locator("code").first.inner_text()
    approve = button(page, "appr_approve")
    expect(approve).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    no_exceptions(page)
    screenshot(page, "approvals")
    approve.click()
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"Decision #\d+ · approve_batch"))).to_be_visible()
    return batch_id


def wait_completed_on_live(page) -> None:
    """The live panel (a fragment redrawn every second) reaches 12/12 with the session marked completed."""
    open_page(page, "Live")
    items = page.get_by_test_id("stMetric").filter(has_text="Saved").get_by_test_id("stMetricValue")
    expect(items).to_have_text(f"{ITEMS}/{ITEMS}", timeout=60_000)
    status = page.get_by_test_id("stMarkdownContainer").filter(has_text="· provider").locator("code").first
    expect(status).to_have_text("completed")


# -- the test ----------------------------------------------------------------------------------
def test_operator_runs_approves_and_sees_twelve_icons(studio, page):
    started = time.monotonic()
    timings: dict[str, float] = {}
    try:
        sign_in(page, studio)
        timings["signed in"] = time.monotonic() - started
        queue_run(page)
        batch_id = approve_pending_batch(page)
        timings["approved"] = time.monotonic() - started
        wait_completed_on_live(page)
        timings["completed"] = time.monotonic() - started

        open_page(page, "Gallery")
        grid = page.get_by_role("tabpanel").first
        expect(grid.get_by_test_id("stImage").locator("img")).to_have_count(ITEMS)
        for title in PAGES:
            if title == "Approvals":
                continue  # shot while the batch was pending
            open_page(page, title)
            no_exceptions(page)
            # the name must survive page switches: every write the operator makes is signed with it
            expect(page.locator(".st-key-operator input")).to_have_value(OPERATOR)
            screenshot(page, title.lower())
            if title in SECOND_TABS:
                open_tab(page, SECOND_TABS[title], exact=True)
                screenshot(page, f"{title}-{SECOND_TABS[title]}".lower())
        timings["screenshots"] = time.monotonic() - started
        assert not page.errors, f"JavaScript errors in the console: {page.errors}"
    except Exception:
        with contextlib.suppress(Exception):  # never hide the real failure behind a failed screenshot
            screenshot(page, "failure")
        print(studio.logs())
        raise
    finally:
        print("browser e2e timings (s):", {k: round(v, 1) for k, v in timings.items()})

    db = Store(studio.db_path)
    try:
        decision = db.query_dicts("SELECT batch_id, action, decided_by, applied_at FROM decisions")
        assert [(d["batch_id"], d["action"], d["decided_by"]) for d in decision] == \
            [(batch_id, "approve_batch", OPERATOR)]
        assert decision[0]["applied_at"] is not None
        sessions = db.query_dicts("SELECT session_id, status, items_total FROM sessions")
        assert [(s["status"], s["items_total"]) for s in sessions] == [("completed", ITEMS)]
        saved = db.query("SELECT count(*) FROM items WHERE session_id = ? AND status = 'saved'",
                         [sessions[0]["session_id"]])[0][0]
        assert saved == ITEMS
    finally:
        db.close()
