"""The Approvals review screen, the approval inbox, honest counts and the New run form under AppTest.

Each test that writes gets its own sample database: a decision closes the batch's review for good
(the screen shows its outcome), so tests sharing one would see each other's decisions.
"""
from __future__ import annotations

import json

import pytest

from engine.store.database import Store

from console_fixtures import AWAITING, build_sample_db
from test_console_apptest import _app, _clicked

EDIT = "a brass key on ivory linen"
LEGACY, PEACE = f"{AWAITING}:banner-legacy", f"{AWAITING}:banner-peace"


@pytest.fixture
def fresh(tmp_path):
    return build_sample_db(tmp_path)


@pytest.fixture
def review(monkeypatch, fresh):
    """The Approvals page on a fresh sample, signed in, with the gated batch picked."""
    def opener(operator: str = "rev-op"):
        at = _app(monkeypatch, fresh.data_dir, fresh.db_path, "approvals", operator)
        at.selectbox(key="appr_batch").select(fresh.batch_id).run()
        return at
    return opener


def _decisions(ids) -> list[tuple]:
    store = Store(ids.db_path)
    try:
        return store.query("SELECT action, item_ids, modifications, comment FROM decisions WHERE batch_id <> 'b-old' ORDER BY decision_id")
    finally:
        store.close()


def _untick(at, ids, row: int) -> None:
    at.session_state[f"appr_grid_{ids.batch_id}_0"] = {
        "edited_rows": {row: {"approve": False}}, "added_rows": [], "deleted_rows": []}
    at.run()


def test_every_row_ticked_writes_approve_batch_with_the_comment(review, fresh):
    at = review()
    at.text_input(key=f"appr_comment_{fresh.batch_id}").input("ship it").run()
    _clicked(at, "appr_approve")
    assert _decisions(fresh) == [("approve_batch", json.dumps([LEGACY, PEACE]), None, "ship it")]


def test_an_edit_in_the_roomy_editor_and_a_subset_go_in_one_decision(review, fresh):
    at = review()
    at.selectbox(key=f"appr_pick_{fresh.batch_id}").select(LEGACY).run()
    at.text_area(key=f"appr_prompt_{fresh.batch_id}_{LEGACY}").input(EDIT).run()
    grid = at.data_editor[0].value
    assert list(grid["edited"]) == ["✎", ""] and grid["original"][0] and grid["prompt"][0] == EDIT
    _untick(at, fresh, 1)
    assert at.button(key="appr_approve").label == "Approve 1 of 2 with 1 edit(s)"
    _clicked(at, "appr_approve")
    assert _decisions(fresh) == [("approve_items", json.dumps([LEGACY]), json.dumps({LEGACY: EDIT}), None)]
    # the grid and buttons give way to the outcome
    assert not at.data_editor and not [b for b in at.button if b.key == "appr_approve"]
    outcome = at.dataframe[0].value
    assert list(outcome["decision"]) == ["approved", "rejected"] and outcome["prompt"][0] == EDIT


def test_select_none_then_by_type_ticks_exactly_that_group(review, fresh):
    at = review()
    _clicked(at, f"appr_none_{fresh.batch_id}")
    assert list(at.data_editor[0].value["approve"]) == [False, False]
    assert at.button(key="appr_approve").disabled
    at.button_group(key=f"appr_group_{fresh.batch_id}").set_value("type: banner").run()
    assert list(at.data_editor[0].value["approve"]) == [True, True]


def test_the_estimate_follows_the_ticks_and_a_short_budget_offers_a_raise(review, fresh):
    store = Store(fresh.db_path)
    store.execute("UPDATE sessions SET budget_usd = 0.05 WHERE session_id = ?", [AWAITING])  # $0.078 batch
    store.close()
    at = review()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Estimate of selection"] == "$0.0780" and metrics["Budget left"] == "$0.0500"
    assert at.number_input(key=f"appr_budget_{fresh.batch_id}").value == 0.08
    _untick(at, fresh, 1)
    assert {m.label: m.value for m in at.metric}["Estimate of selection"] == "$0.0390"
    assert not [n for n in at.number_input if n.key == f"appr_budget_{fresh.batch_id}"]
    _clicked(at, f"appr_all_{fresh.batch_id}")  # both again: over the budget, the raise goes with the approval
    assert at.button(key="appr_approve").label == "Approve all, budget → $0.08"
    _clicked(at, "appr_approve")
    store = Store(fresh.db_path)
    controls = store.query("SELECT count(*) FROM controls WHERE command = 'budget'")
    rows = store.query("SELECT action, budget_usd, decided_by FROM decisions WHERE batch_id = ?", [fresh.batch_id])
    store.close()
    # the raise travels in the decision itself: the engine applies both at once, or refuses both
    assert controls == [(0,)] and rows == [("approve_batch", 0.08, "rev-op")]


def test_reject_writes_reject_batch(review, fresh):
    _clicked(review(), "appr_reject")
    assert [d[0] for d in _decisions(fresh)] == ["reject_batch"]


def test_the_sidebar_inbox_counts_waiting_requests_on_every_page(monkeypatch, fresh):
    at = _app(monkeypatch, fresh.data_dir, fresh.db_path, "gallery")
    links = [p for p in at.get("page_link")]
    assert any("2] waiting for approval" in p.proto.label for p in links)
    assert any("Soonest expires in" in c.value for c in at.sidebar.caption)


def test_live_shows_a_banner_that_links_to_the_waiting_batch(monkeypatch, fresh):
    at = _app(monkeypatch, fresh.data_dir, fresh.db_path, "live")
    assert any("approval request(s) waiting" in m.value for m in at.markdown)
    assert any(p.proto.label == "Review" for p in at.get("page_link"))


def test_new_run_refuses_a_malformed_faults_string_at_once(monkeypatch, fresh):
    at = _app(monkeypatch, fresh.data_dir, fresh.db_path, "history", "form-op")
    at.text_input(key="run_faults").input("429=").run()
    assert any("fault rate '' for 429 is not a number" in e.value for e in at.error)
    assert at.button(key="run_submit").disabled


def test_new_run_shows_the_forecast_and_the_cli_defaults(monkeypatch, fresh):
    from engine.session.spec import RunSpec

    at = _app(monkeypatch, fresh.data_dir, fresh.db_path, "history", "form-op")
    assert at.toggle(key="run_approval").value is RunSpec().approval.enabled
    assert at.number_input(key="run_budget").value == (RunSpec().budget_usd or 0.0)
    at.multiselect(key="run_types").select("icons").run()
    at.number_input(key="run_limit").set_value(12).run()
    assert any(m.value.startswith("**Forecast: $") and "for 12 assets (12 icons)" in m.value for m in at.markdown)


def test_a_long_operator_name_is_refused_with_the_limit(monkeypatch, fresh):
    from engine.intents.requests import CommandError
    from engine.intents.console import require_operator
    from engine.limits import MAX_NAME_CHARS as OPERATOR_MAX_CHARS

    with pytest.raises(CommandError, match=f"keep it to {OPERATOR_MAX_CHARS}"):
        require_operator("x" * (OPERATOR_MAX_CHARS + 1))
