"""The Gallery as an image browser, in Debian's chromium (issue 12): filter by model, open a card in the
lightbox, step to the next image with the arrow key, zoom, and compare two images side by side.

A real console (and engine daemon) runs over a studio built from real events (tests/test_gallery.py).
Screenshots land in test-artifacts/browser/ (gitignored).
"""
from __future__ import annotations

import re

import pytest

from browser_support import ARTIFACTS, launch_chromium, start_studio
from engine.store.database import Store
from test_browser_console import expect, pytestmark, sync_api  # noqa: F401 (browser, slow, chromium present)
from test_browser_e2e import UI_TIMEOUT_MS, button, no_exceptions, open_tab, screenshot, wait_idle
from test_gallery import GPT, NEW, OLD, build_gallery_db


@pytest.fixture
def page(tmp_path):
    build_gallery_db(tmp_path)  # tmp_path/data, the directory start_studio serves
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with start_studio(tmp_path) as studio, sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        tab = context.new_page()
        tab.goto(f"{studio.console_url}/gallery?operator=Gil")
        expect(tab.get_by_role("heading", name="Gallery", level=1)).to_be_visible(timeout=30_000)
        wait_idle(tab)
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def choose(page, key: str, option: str) -> None:
    """Pick ``option`` in the keyed selectbox or multiselect and wait for the rerun."""
    page.locator(f".st-key-{key} input").click()
    page.get_by_role("option", name=option).click()
    page.keyboard.press("Escape")  # a multiselect stays open after a pick
    wait_idle(page)


def test_filter_by_model_open_step_with_the_arrow_key_zoom_and_compare(page):
    expect(page.get_by_text("Images 1–4 of 4")).to_be_visible()
    choose(page, "gal_prompt_model", GPT)
    expect(page.get_by_text("Images 1–2 of 2")).to_be_visible()
    grid = page.get_by_role("tabpanel").first
    expect(grid.get_by_test_id("stImage")).to_have_count(2)
    screenshot(page, "gallery-grid")

    button(page, "gal_open_0").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("1 of 2")).to_be_visible()
    expect(dialog.get_by_role("heading", name="Hero-Family")).to_be_visible()
    # the zoom control is in view without hovering the image
    expect(dialog.get_by_text("Zoom", exact=True)).to_be_visible()
    page.keyboard.press("ArrowRight")
    expect(dialog.get_by_text("2 of 2")).to_be_visible()
    expect(dialog.get_by_role("heading", name="Icon-Trust")).to_be_visible()
    expect(dialog.locator(".st-key-gal_next button")).to_be_disabled()
    dialog.get_by_role("button", name="200%").click()
    zoomed = dialog.locator(".gal-zoom img")
    expect(zoomed).to_be_visible()
    assert zoomed.evaluate("img => img.getBoundingClientRect().width") == 64  # 32 px drawn at 200 %
    screenshot(page, "gallery-lightbox")
    page.keyboard.press("ArrowLeft")
    expect(dialog.get_by_text("1 of 2")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    open_tab(page, "Compare")
    choose(page, "gal_cmp_a", f"icon-trust · {OLD}")
    choose(page, "gal_cmp_b", f"hero-family · {NEW}")
    table = page.get_by_test_id("stTable")
    for differing in ("image_model", "template_version", "session_id", "prompt"):
        expect(table.get_by_role("rowheader", name=differing, exact=True)).to_be_visible()
    expect(table.get_by_role("rowheader", name="winner_model", exact=True)).to_have_count(0)  # both GPT
    # A is the picked icon-trust (old session), B hero-family (new session)
    expect(table.get_by_role("row").filter(has_text="session_id")).to_have_text(
        re.compile(rf"session_id\s*{OLD}\s*{NEW}"))
    no_exceptions(page)
    screenshot(page, "gallery-compare")


LONG_PROMPT = ("a calm heirloom key resting on folded ivory linen beside a fountain pen and a sealed envelope, "
               "drawn in deep navy line art with a single warm accent, generous margins, soft paper texture, "
               "no text, no logos, centred composition, quiet and trustworthy, for an estate-planning brand. ") * 3


def test_cards_keep_one_height_whatever_their_prompt_and_the_lightbox_shows_it_whole(page, tmp_path):
    store = Store(tmp_path / "data" / "studio.duckdb")
    try:  # one card's prompt ten times longer than the others'
        store.execute("UPDATE items SET final_prompt = ? WHERE item_id = ?", [LONG_PROMPT, f"{NEW}:hero-family"])
    finally:
        store.close()
    page.reload()
    expect(page.get_by_text("Images 1–4 of 4")).to_be_visible(timeout=30_000)
    wait_idle(page)
    cards = page.locator("[class*='st-key-gal_card_'] >> visible=true")
    expect(cards).to_have_count(4)
    # measure once every card's image has arrived (a card without its image yet is ~150 px shorter)
    page.wait_for_function("() => { const imgs = [...document.querySelectorAll(\"[class*='st-key-gal_card_'] img\")];"
                           " return imgs.length === 4 && imgs.every(img => img.complete && img.naturalHeight > 0); }")
    heights = [round(box["height"]) for box in (cards.nth(i).bounding_box() for i in range(4))]
    assert max(heights) - min(heights) <= 2, heights  # one row of four: the long prompt once made its card taller
    clamped = page.locator(".gal-prompt").filter(has_text="fountain pen").first
    assert clamped.evaluate("el => el.scrollHeight > el.clientHeight + 2"), "the long prompt is not clamped"
    screenshot(page, "gallery-cards-long-prompt")

    card = next(i for i in range(4) if "fountain pen" in cards.nth(i).inner_text())
    button(page, f"gal_open_{card}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(LONG_PROMPT.strip()[-80:])).to_be_visible()  # the prompt's end, in full
    no_exceptions(page)
