"""Review page and gallery quality lines under Streamlit's AppTest, on a real scored session."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.config import load_settings
from engine.process.runtime import Engine
from engine.session.spec import RunSpec
from engine.store.database import Store
from engine.templates.brief import ensure_default_template, load_default_template_body, save_template_version

APP = Path(__file__).resolve().parent.parent / "app.py"
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A session whose icons all fail a strict palette: every item waits for review."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("review") / "data", tick_seconds=0.05)
    store = Store(settings.db_path)
    store.migrate()
    ensure_default_template(store)
    body = load_default_template_body()
    body["style"]["palette"] = [{"name": "red", "hex": "#FF0000"}]
    save_template_version(store, body, author="test", activate=True)

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            return await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0))
    asyncio.run(main())
    return settings


def _app(monkeypatch, settings, page: str, operator: str | None = None) -> AppTest:
    monkeypatch.setenv("ASSETGEN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ASSETGEN_DB", str(settings.db_path))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.switch_page(f"console/{page}.py").run()
    if operator is not None:
        at.text_input(key="operator").input(operator).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_review_lists_failing_images_and_a_signed_rating_takes_one_off(monkeypatch, studio):
    at = _app(monkeypatch, studio, "review", operator="ana")
    assert at.title[0].value == "Review"
    assert any("palette" in m.value for m in at.markdown)
    at.selectbox(key="rv_rating_0").set_value(1).run()
    at.selectbox(key="rv_tag_0").set_value("off-brand").run()
    at.button(key="rv_rate_0").click().run()
    assert not at.exception, [e.message for e in at.exception]
    rows = Store(studio.db_path).query("SELECT rating, tag, rated_by FROM ratings")
    assert rows == [(1, "off-brand", "ana")]
    left = Store(studio.db_path).query("SELECT count(*) FROM items WHERE quality = 'review'")[0][0] - 1
    at.run()
    assert sum(1 for b in at.button if b.key and b.key.startswith("rv_rate_")) == left


def test_gallery_cards_show_the_quality_verdict(monkeypatch, studio):
    at = _app(monkeypatch, studio, "gallery")
    assert any("review: palette" in c.value for c in at.caption)


def test_review_renders_on_an_empty_database(monkeypatch, tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    at = _app(monkeypatch, settings, "review")
    assert any("Nothing waits for review" in i.value for i in at.info)
