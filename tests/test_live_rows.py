"""Live's item rows, the Competition's image score and the approval alerts, read from a real DuckDB file.

Rows get there as the engine puts them there: events through Bus -> Projector -> Ticker
(tests/console_fixtures.py); operator rows (a skip) as the console writes them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine import events as ev
from engine.intents.console import send_control
from engine.read.alerts import approval_alerts
from engine.read.console import outcome_counts
from engine.read.competition import winner_scores
from engine.read.image_scores import image_score_text
from engine.read.live_rows import MAX_ROWS_PER_PAGE, live_rows
from engine.store.database import Store

from console_fixtures import (AWAITING, FINISHED, RUNNING, Emitter, build_sample_db, _compete, _run_item,
                              _save_item, _start)

CHECKS = ("palette", "contrast", "size", "aspect", "sharpness")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    ids = build_sample_db(tmp_path_factory.mktemp("rows"))
    store = Store(ids.db_path)
    em = Emitter(store)
    # icon-will's first image failed palette; its second passed every check and the judges gave it 4.2
    emit_score(em, FINISHED, "icon-will", attempt=1, failing=["palette"])
    emit_score(em, FINISHED, "icon-will", attempt=2, failing=[], judge_mean=4.2)
    emit_score(em, FINISHED, "icon-trust", attempt=1, failing=["sharpness", "palette"])
    # the item in flight has paid for one prompt call so far (its other call is still out)
    em.emit(ev.OpenrouterApiCall(session_id=RUNNING, item_id=ids.in_flight_item, call_id="c-r1-p1",
                                 purpose="prompt", model="openai/gpt-5-mini", attempt=1, estimated_cost_usd=0.002))
    em.emit(ev.ApiCallFinished(session_id=RUNNING, item_id=ids.in_flight_item, call_id="c-r1-p1",
                               model="anthropic/claude-sonnet-4.5", status="ok", http_status=200, latency_ms=800.0,
                               prompt_tokens=400, completion_tokens=150, cost_usd=0.0017, generation_id="g-r1"))
    em.flush()
    ids.store = store
    yield ids
    store.close()


def emit_score(em: Emitter, session_id: str, asset_id: str, *, attempt: int, failing: list[str],
            judge_mean: float | None = None) -> None:
    checks = [{"name": name, "value": 0.5, "threshold": 0.6, "op": ">=", "passed": name not in failing,
               "version": "1"} for name in CHECKS]
    checks.append({"name": "copy", "value": None, "threshold": 0.2, "op": "<=", "passed": None, "version": "1"})
    judges = [] if judge_mean is None else [{"model": "google/gemini-2.5-flash", "mean": judge_mean, "passed": True,
                                             "scores": {"brand": {"score": 4, "reason": "on palette"}}}]
    em.emit(ev.QualityScored(session_id=session_id, item_id=f"{session_id}:{asset_id}", attempt=attempt,
                             image_path=f"assets/{session_id}/{asset_id}.png", asset_id=asset_id, asset_type="icon",
                             verdict="failed" if failing else "passed", failing=failing, checks=checks,
                             judges=judges, phash="0" * 16, simulated=True))


def _row(window, asset_id: str) -> dict:
    rows = window.rows[window.rows["asset_id"] == asset_id]
    assert len(rows) == 1, list(window.rows["asset_id"])
    return rows.iloc[0].to_dict()


def test_a_row_explains_its_item_winner_why_and_cost_so_far(sample):
    window = live_rows(sample.store, RUNNING)
    saved, flying = _row(window, "social-home"), _row(window, "social-heirs")
    assert (saved["state"], saved["stage"], saved["winner_model"]) == ("saved", "done", "anthropic/claude-sonnet-4.5")
    assert saved["why"] == "highest confidence with full coverage"
    assert saved["cost_usd"] == pytest.approx(0.0012 + 0.0020 + 0.039)
    # an item still running costs what its settled calls have cost so far, not the 0 its row holds until it ends
    assert (flying["state"], flying["stage"], flying["cost_usd"]) == ("in_flight", "model", pytest.approx(0.0017))
    assert list(window.rows["state"])[:1] == ["in_flight"]  # the ones being worked on first


def test_a_row_carries_its_latest_image_score(sample):
    window = live_rows(sample.store, FINISHED)
    will, trust, family = _row(window, "icon-will"), _row(window, "icon-trust"), _row(window, "hero-family")
    assert will["score"]["attempt"] == 2 and will["score"]["passed"] is True
    assert (will["score"]["checks_passed"], will["score"]["checks_applied"]) == (5, 5)  # copy does not apply
    assert will["score_text"] == "passed · 5/5 checks · judges 4.2/5 · attempt 2"
    assert trust["score"]["image_score"] == pytest.approx(3 / 5)
    assert trust["score_text"].startswith("review: sharpness, palette · 3/5 checks")
    assert family["score"] is None and family["score_text"] == ""


def test_only_open_items_of_a_running_session_can_be_skipped(sample):
    running = live_rows(sample.store, RUNNING)
    assert running.session_status == "running"
    assert {r["asset_id"]: r["can_skip"] for r in running.rows.to_dict("records")} == {
        "social-heirs": True, "social-guard": True, "social-home": False}  # a saved item cannot be skipped
    finished = live_rows(sample.store, FINISHED)
    assert not finished.rows["can_skip"].any()  # nothing of an ended session


def test_a_skip_waiting_for_the_engine_disables_that_rows_button(tmp_path):
    ids = build_sample_db(tmp_path)
    store = Store(ids.db_path)
    try:
        control_id = send_control(store, "skip", operator="ada", session_id=RUNNING, item_id=ids.in_flight_item)
        row = _row(live_rows(store, RUNNING), "social-heirs")
        assert row["skip_pending"] and not row["can_skip"]
        assert _row(live_rows(store, RUNNING), "social-guard")["can_skip"]
        store.execute("UPDATE controls SET applied_at = now(), result = 'skipped' WHERE control_id = ?", [control_id])
        assert not _row(live_rows(store, RUNNING), "social-heirs")["skip_pending"]
    finally:
        store.close()


def test_rows_come_a_window_at_a_time_and_filter_by_state(tmp_path):
    store = Store(tmp_path / "studio.duckdb")
    em = Emitter(store)
    assets = [(f"icon-{n:03d}", "icon", "core") for n in range(45)]
    _start(em, "s-big", assets, provider="standin", budget=None)
    for asset in assets[:5]:
        _run_item(em, "s-big", asset)
    em.flush()
    try:
        first = live_rows(store, "s-big", limit=20)
        assert (first.total, first.pages, len(first.rows)) == (45, 3, 20)
        assert set(first.rows["state"].head(5)) == {"in_flight"}
        last = live_rows(store, "s-big", offset=40, limit=20)
        assert (last.page, len(last.rows)) == (2, 5)
        seen = set(first.rows["item_id"]) | set(live_rows(store, "s-big", offset=20, limit=20).rows["item_id"])
        assert len(seen | set(last.rows["item_id"])) == 45  # the windows neither overlap nor leave a gap
        pending = live_rows(store, "s-big", states=["pending"])
        assert pending.total == 40 and set(pending.rows["state"]) == {"pending"}
        with pytest.raises(ValueError, match="page through the rest"):
            live_rows(store, "s-big", limit=MAX_ROWS_PER_PAGE + 1)
        with pytest.raises(ValueError, match="unknown item state"):
            live_rows(store, "s-big", states=["done"])
    finally:
        store.close()


def test_competition_puts_the_image_score_beside_the_winning_prompts_text_score(sample):
    scored = winner_scores(sample.store, f"{FINISHED}:icon-trust")
    assert scored["model"] == "anthropic/claude-sonnet-4.5" and scored["text_score"] == pytest.approx(0.85)
    assert scored["image_score"] == pytest.approx(0.6) and scored["image"]["passed"] is False
    unscored = winner_scores(sample.store, f"{FINISHED}:hero-family")
    assert unscored["image"] is None and unscored["image_text"] == "not scored"
    assert winner_scores(sample.store, sample.in_flight_item) is None  # no prompt has won yet


def test_each_waiting_approval_request_becomes_one_alert_linking_to_its_batch(sample):
    now = datetime.now(timezone.utc) + timedelta(minutes=1)
    alerts = approval_alerts(sample.store, now=now)
    assert sorted(a["batch_id"] for a in alerts) == sorted([sample.batch_id, sample.threshold_batch_id])
    by_batch = {a["batch_id"]: a for a in alerts}
    review = by_batch[sample.batch_id]
    assert review["title"] == "Approval needed: 2 item(s) to review"
    assert f"of {AWAITING}" in review["body"] and "SIMULATED" in review["body"] and "times out in" in review["body"]
    assert review["url"] == f"approvals?batch={sample.batch_id}"
    assert by_batch[sample.threshold_batch_id]["title"] == "Approval needed: cost threshold reached"
    assert len(approval_alerts(sample.store, limit=1)) == 1


def test_the_score_line_says_not_scored_for_an_unscored_image():
    assert image_score_text(None) == "not scored"


def test_an_item_being_scored_and_saved_is_not_counted_in_flight(tmp_path):
    """Its slot went to the next item when its image was paid for (session/steps): at slow speed Live read
    2 in flight where the engine ran 1."""
    ids = build_sample_db(tmp_path)
    store = Store(ids.db_path)
    try:
        before = outcome_counts(store, RUNNING)
        # what the projection makes of its stage update to "save" (a second Emitter would reuse the sample's seqs)
        store.execute("UPDATE items SET stage = 'save' WHERE item_id = ?", [ids.in_flight_item])
        after = outcome_counts(store, RUNNING)
        rows = live_rows(store, RUNNING, states=("saving",)).rows
    finally:
        store.close()
    assert (after["in_flight"], after["saving"]) == (before["in_flight"] - 1, before["saving"] + 1)
    assert after["total"] == before["total"]
    assert list(rows["item_id"]) == [ids.in_flight_item]


def test_a_windows_cost_and_why_read_from_its_id_range_equal_a_full_scan(tmp_path):
    """Side tables are read for the window's id range only (issue 14: the engine writes a row group a tick, and
    scanning them all took seconds at 50,000 items); what a row says is what a scan of every row says."""
    store = Store(tmp_path / "studio.duckdb")
    em = Emitter(store)
    assets = [(f"icon-{n:03d}", "icon", "core") for n in range(30)]
    _start(em, "s-range", assets, provider="standin", budget=None)
    totals: dict = {}
    for n, asset in enumerate(assets[::3]):  # ten items, each written in its own transaction (its own row groups)
        item_id = _run_item(em, "s-range", asset)
        prompt = _compete(em, "s-range", item_id, call_base=f"c-{n}", totals=totals)
        _save_item(em, "s-range", item_id, prompt, data_dir=tmp_path, call_base=f"c-{n}", totals=totals, done=n + 1,
                   total=len(assets), budget=None)
        em.flush()
    try:
        scanned = {item: (round(cost, 8), why) for item, cost, why in store.query(
            "SELECT c.item_id, sum(c.cost_usd), any_value(p.reasoning) FROM api_calls c "
            "LEFT JOIN proposals p ON p.item_id = c.item_id AND p.is_winner WHERE c.session_id = 's-range' GROUP BY 1")}
        assert len(scanned) == 10
        for offset in (0, 4, 8):
            window = live_rows(store, "s-range", offset=offset, limit=4, states=["saved"])
            assert len(window.rows) == min(4, 10 - offset)
            for row in window.rows.to_dict("records"):
                assert (round(row["cost_usd"], 8), row["why"]) == scanned[row["item_id"]]
    finally:
        store.close()


def test_items_the_engine_has_not_listed_yet_count_as_pending(tmp_path):
    """The engine lists a session's items a few pages ahead of its feeder (session/run.py), so the items table
    holds fewer rows than the session's total: the rest are pending all the same, on Live's figures and strip."""
    from engine.read.sessions import stage_counts

    ids = build_sample_db(tmp_path)
    store = Store(ids.db_path)
    try:
        before, strip_before = outcome_counts(store, RUNNING), stage_counts(store, RUNNING)
        store.execute("UPDATE sessions SET items_total = items_total + 7 WHERE session_id = ?", [RUNNING])
        after, strip_after = outcome_counts(store, RUNNING), stage_counts(store, RUNNING)
    finally:
        store.close()
    assert (after["pending"], after["total"]) == (before["pending"] + 7, before["total"] + 7)
    assert strip_after["pending"] == strip_before["pending"] + 7
    assert after["finished"] == before["finished"] and strip_after["done"] == strip_before["done"]
