"""Live's item rows, Competition's image score and the approval notification under Streamlit's AppTest.

The app is pointed at a sample database in tmp_path (events through the real projector and ticker,
tests/console_fixtures.py) with quality scores of two images.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from engine.store.database import Store

from console_fixtures import FINISHED, RUNNING, Emitter, build_sample_db
from test_console_apptest import _app as open_app
from test_live_rows import emit_score


@pytest.fixture
def sample(tmp_path):
    ids = build_sample_db(tmp_path)
    store = Store(ids.db_path)
    em = Emitter(store)
    emit_score(em, FINISHED, "icon-will", attempt=1, failing=[], judge_mean=4.2)
    emit_score(em, RUNNING, "social-home", attempt=1, failing=["palette"])
    em.flush()
    store.close()
    return ids


@pytest.fixture
def app(monkeypatch, sample):
    def opened(page: str = "live", operator: str | None = None) -> AppTest:
        return open_app(monkeypatch, sample.data_dir, sample.db_path, page, operator)
    return opened


def _texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_live_rows_show_each_items_score_and_enable_skip_only_where_it_applies(app):
    at = app("live")
    text = _texts(at)
    assert "**social-home** :green-badge[saved]" in text
    assert "review: palette · 4/5 checks" in text  # the saved item's image score, from the scores table
    assert "**claude-sonnet-4.5** won: highest confidence with full coverage" in text
    skips = {b.key: b.disabled for b in at.button if (b.key or "").startswith("live_skip_")}
    assert skips == {"live_skip_social-heirs": False, "live_skip_social-guard": False,
                     "live_skip_social-home": True}  # a saved item cannot be skipped


def test_a_rows_own_skip_writes_a_skip_of_that_item_signed_by_the_operator(app, sample):
    at = app("live", operator="row-op")
    at.button(key="live_skip_social-guard").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = Store(sample.db_path)
    try:
        rows = store.query("SELECT session_id, command, item_id, source FROM controls WHERE requested_by = 'row-op'")
    finally:
        store.close()
    assert rows == [(RUNNING, "skip", f"{RUNNING}:social-guard", "console")]
    # the skip waits for the engine: that row's button gives way, the others stay
    assert at.button(key="live_skip_social-guard").disabled
    assert not at.button(key="live_skip_social-heirs").disabled


def test_competition_shows_the_winning_prompts_image_score_beside_its_text_score(app):
    at = app("competition")
    at.selectbox(key="comp_session").select(FINISHED).run()
    at.selectbox(key="comp_item").select(f"{FINISHED}:icon-will").run()
    metrics = {m.label: m for m in at.metric}
    assert metrics["Text score"].value == "0.850"
    assert metrics["Image score"].value == "1.00"
    assert "passed · 5/5 checks · judges 4.2/5" in metrics["Image score"].proto.delta


def test_waiting_approvals_are_handed_to_the_browser_once(app, sample):
    at = app("live")
    scripts = [h.proto.body for h in at.get("html") if "window.assetgenWaiting = " in h.proto.body]
    assert len(scripts) == 1 and sample.batch_id in scripts[0] and sample.threshold_batch_id in scripts[0]
    assert any("Notify me of approvals" in h.proto.body for h in at.get("html"))  # asked for on a click
    at.run()  # the same batches still wait: nothing is announced again
    assert not [h for h in at.get("html") if "window.assetgenWaiting = " in h.proto.body]
