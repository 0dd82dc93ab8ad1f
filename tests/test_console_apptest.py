"""The console's pages under Streamlit's AppTest: they render, and each control writes the right row.

The app is pointed at a tmp database through ASSETGEN_DATA_DIR / ASSETGEN_DB.
Writes go to a shared sample database, so each test signs its rows with its
own operator name and looks only at those.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.store.database import Store

from console_fixtures import FINISHED, RUNNING, build_sample_db

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGES = ("live", "competition", "costs", "approvals", "templates", "gallery", "history", "events")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample_db(tmp_path_factory.mktemp("console"))


def _app(monkeypatch, data_dir: Path, db_path: Path, page: str = "live", operator: str | None = None) -> AppTest:
    monkeypatch.setenv("ASSETGEN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ASSETGEN_DB", str(db_path))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page != "live":
        at.switch_page(f"console/{page}.py").run()
    if operator is not None:
        at.text_input(key="operator").input(operator).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def open_page(monkeypatch, sample):
    def opener(page: str, operator: str | None = None) -> AppTest:
        return _app(monkeypatch, sample.data_dir, sample.db_path, page, operator)
    return opener


def _rows(sample, sql: str, params=None) -> list[tuple]:
    store = Store(sample.db_path)
    try:
        return store.query(sql, params)
    finally:
        store.close()


def _clicked(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# -- rendering -----------------------------------------------------------------------------------
def test_every_page_renders_on_an_empty_database(monkeypatch, tmp_path):
    data = tmp_path / "data"
    at = _app(monkeypatch, data, data / "studio.duckdb")
    for page in PAGES:
        at.switch_page(f"console/{page}.py").run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.title[0].value.lower() == page
    at.switch_page("console/live.py").run()
    assert any("assetgen serve" in i.value for i in at.info)  # no engine: says how to start one


def test_a_busy_database_is_waited_out_instead_of_crashing_the_page(monkeypatch, tmp_path):
    import subprocess
    import sys

    data = tmp_path / "data"
    monkeypatch.setenv("ASSETGEN_CONSOLE_LOCK_TIMEOUT", "0.2")
    at = _app(monkeypatch, data, data / "studio.duckdb")
    # a user's own DuckDB session holds the file for a moment, then lets go
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
         "time.sleep(1.0); c.close()", str(data / "studio.duckdb")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        at.switch_page("console/history.py").run()
    finally:
        holder.wait(timeout=30)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["_busy_seen"] >= 1  # it met the lock, said so, and retried
    assert at.title[0].value == "History" and not at.warning


def test_every_page_renders_on_the_sample_database(open_page):
    at = open_page("live")
    for page in PAGES:
        at.switch_page(f"console/{page}.py").run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])


def test_live_opens_on_the_running_session_with_its_figures(open_page):
    at = open_page("live")
    assert at.selectbox(key="live_session").value == RUNNING
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Saved"] == "1/3" and metrics["Finished"] == "1/3" and metrics["In flight"] == "1"
    assert metrics["Cost"].startswith("$")  # a real provider: no SIMULATED label
    at.selectbox(key="live_session").select(FINISHED).run()
    cost = next(m for m in at.metric if m.label == "Cost (simulated)")
    assert "forecast $" in cost.proto.delta
    assert any("SIMULATED" in m.value for m in at.markdown)


def test_competition_shows_every_proposal_of_the_picked_item(open_page):
    at = open_page("competition")
    at.selectbox(key="comp_session").select(FINISHED).run()
    frame = at.dataframe[0].value
    assert len(frame) == 2 and frame["winner"].sum() == 1
    assert any("won" in s.value for s in at.success)


def test_approvals_lists_pending_batches_with_the_threshold_warning(open_page, sample):
    at = open_page("approvals")
    assert set(at.selectbox(key="appr_batch").options) >= {
        f"{sample.batch_id} · 2 items", f"{sample.threshold_batch_id} · 0 items · cost threshold"}
    at.selectbox(key="appr_batch").select(sample.threshold_batch_id).run()
    assert any("threshold" in w.value for w in at.warning)
    at.selectbox(key="appr_batch").select(sample.batch_id).run()
    assert "expires in" in " ".join(m.value for m in at.markdown)
    assert len(at.data_editor[0].value) == 2


def test_gallery_detail_shows_the_png_provenance(open_page):
    at = open_page("gallery")
    at.selectbox(key="gal_detail").select(f"{FINISHED}:icon-will").run()
    assert at.json and json.loads(at.json[0].value)["item_id"] == f"{FINISHED}:icon-will"
    at.multiselect(key="gal_type").select("hero").run()
    assert at.selectbox(key="gal_detail").options == [f"hero-family · {FINISHED}"]


def test_events_filters_by_type_and_offers_both_downloads(open_page):
    at = open_page("events")
    at.multiselect(key="ev_types").select("item_finished").run()
    frame = at.dataframe[0].value
    assert len(frame) == 4 and set(frame["type"]) == {"item_finished"}
    assert {b.key for b in at.get("download_button")} >= {"ev_csv", "ev_parquet"}


# -- writes --------------------------------------------------------------------------------------
def test_live_buttons_write_control_rows_signed_by_the_operator(open_page, sample):
    at = open_page("live", operator="live-op")
    _clicked(at, "ctl_pause")
    at.segmented_control(key="ctl_speed").set_value("fast").run()  # one click: no separate "set" button
    rows = _rows(sample, "SELECT session_id, command, arg, source FROM controls WHERE requested_by = 'live-op' "
                         "ORDER BY control_id")
    assert rows == [(RUNNING, "pause", None, "console"), (RUNNING, "speed", "fast", "console")]


def test_live_continues_an_interrupted_session_by_queueing_a_resume_job(monkeypatch, tmp_path):
    data = tmp_path / "data"
    store = Store(data / "studio.duckdb")
    store.execute("INSERT INTO sessions (session_id, status, provider, items_total, items_done, created_at) "
                  "VALUES ('s-stopped', 'interrupted', 'standin', 8, 2, now())")
    store.close()
    at = _app(monkeypatch, data, data / "studio.duckdb", operator="resume-op")
    _clicked(at, "ctl_continue")
    _clicked(at, "ctl_continue")  # a second click is refused: that job already continues the session
    assert any("already continues s-stopped" in e.value for e in at.error)
    store = Store(data / "studio.duckdb")
    assert store.query("SELECT CAST(spec AS VARCHAR), requested_by, status FROM jobs") == [
        ('{"resume": "s-stopped"}', "resume-op", "queued")]
    store.close()


def test_live_refuses_to_write_without_an_operator_name(open_page, sample):
    before = _rows(sample, "SELECT count(*) FROM controls")[0][0]
    at = _clicked(open_page("live"), "ctl_pause")
    assert any("operator name" in e.value for e in at.error)
    assert _rows(sample, "SELECT count(*) FROM controls")[0][0] == before


def test_new_run_form_queues_a_job_with_the_full_spec(open_page, sample):
    at = open_page("history", operator="run-op")
    at.selectbox(key="run_provider").select("standin").run()
    at.number_input(key="run_budget").set_value(2.5)
    at.toggle(key="run_approval").set_value(True)
    at.segmented_control(key="run_speed").set_value("fast")
    at.toggle(key="run_test").set_value(True)
    at.button(key="run_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rows = _rows(sample, "SELECT spec FROM jobs WHERE requested_by = 'run-op'")
    assert len(rows) == 1
    spec = json.loads(rows[0][0])
    assert (spec["provider"], spec["speed"], spec["budget_usd"], spec["test"]) == ("standin", "fast", 2.5, True)
    assert spec["approval"]["enabled"] is True and set(spec) >= {"catalog", "types", "limit", "faults"}


def test_template_edit_saves_a_version_by_the_operator_and_activates_it(open_page, sample):
    at = open_page("templates", operator="tpl-op")
    master = at.text_area(key="tpl_master")
    master.set_value(master.value + " Keep it quiet.").run()
    assert "Keep it quiet." in at.code[0].value  # the preview follows the edit
    at.text_input(key="tpl_comment").input("quieter").run()
    at.checkbox(key="tpl_activate_now").check().run()
    _clicked(at, "tpl_save")
    rows = _rows(sample, "SELECT version, comment, active, body->>'master_prompt' FROM template_versions "
                         "WHERE author = 'tpl-op'")
    assert len(rows) == 1 and rows[0][1:3] == ("quieter", True) and rows[0][3].endswith("Keep it quiet.")
    at.selectbox(key="tpl_activate_pick").select(1).run()
    _clicked(at, "tpl_activate")
    assert _rows(sample, "SELECT version, activated_by FROM template_versions WHERE active") == [(1, "tpl-op")]


def test_the_gallerys_first_page_draws_a_bounded_number_of_cards(open_page):
    """Each card costs the browser ~20 ms: 40 of them kept the Gallery over 2 s to first content (issue 14)."""
    at = open_page("gallery")
    assert at.number_input(key="gal_limit").value == 20
