"""Console read models: each on an empty database and on a sample built from real events."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from engine.read import sessions as q
from engine.read import approvals as qa
from engine.read import archive as qh
from engine.read import competition as qm
from engine.read import costs as qc
from engine.intents.requests import CommandError
from engine.intents.console import (
    approve_reviewed, build_job_spec, decide, queue_job, send_control,
)
from engine.live.feed import Feed
from engine.live.progress import estimate_eta_s
from engine.session.spec import RunSpec
from engine.store.database import Store

from console_fixtures import AWAITING, FINISHED, RUNNING, build_sample_db


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    ids = build_sample_db(tmp_path_factory.mktemp("sample"))
    store = Store(ids.db_path)
    yield ids, store
    store.close()


@pytest.fixture
def empty(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    yield store
    store.close()


# -- every panel's query on an empty database -----------------------------------------------------
def test_every_query_answers_an_empty_database_with_nothing(empty):
    assert q.live_sessions(empty).empty and q.pick_session(q.live_sessions(empty)) is None
    assert q.session_overview(empty, "nope") is None
    assert set(q.stage_counts(empty, "nope").values()) == {0}
    for frame in (q.items_in_flight(empty, "x"), q.recent_events(empty), q.stage_timeline(empty, "x"),
                  q.controls_for_session(empty, "x"), qc.cost_timeseries(empty), qc.per_call_table(empty),
                  qc.cost_breakdown(empty, by="model"), qm.competed_items(empty, "x"),
                  qm.competition_for_item(empty, "x"), qm.model_leaderboard(empty), qa.pending_approvals(empty),
                  qa.approval_items(empty, "b"), qa.decision_history(empty), qh.gallery_items(empty),
                  qh.session_history(empty), qh.session_items(empty, "x"), qh.jobs_queue(empty),
                  qh.events_explorer(empty)):
        assert frame.empty
    assert qc.cost_totals(empty) == {"spent_usd": 0.0, "calls": 0, "simulated": False, "errors": 0}
    assert qh.gallery_filters(empty) == {"sessions": [], "types": [], "tiers": []}
    assert qh.event_types(empty) == []


# -- Live ---------------------------------------------------------------------------------------------
def test_live_picker_prefers_the_running_session(sample):
    ids, store = sample
    sessions = q.live_sessions(store)
    assert set(sessions["session_id"]) == {FINISHED, RUNNING, AWAITING}
    assert q.pick_session(sessions) == RUNNING
    assert q.pick_session(sessions[sessions["status"] == "completed"]) == FINISHED


def test_session_overview_reports_progress_cost_and_forecast(sample):
    ids, store = sample
    info = q.session_overview(store, RUNNING)
    assert (info["status"], info["items_done"], info["items_total"], info["in_flight"]) == ("running", 1, 3, 1)
    assert info["simulated"] is False and info["provider"] == "openrouter"
    assert info["eta_s"] == pytest.approx(info["elapsed_s"] * 2, rel=0.01)  # the engine's estimate is stale
    forecast = info["forecast"]
    assert forecast["projected_usd"] == pytest.approx(info["cost_usd"] * 3)
    assert forecast["over_budget"] is False and forecast["remaining_items"] == 2
    finished = q.session_overview(store, FINISHED)
    assert finished["eta_s"] is None and finished["fraction_done"] == 1.0 and finished["simulated"] is True


def test_stage_counts_and_items_in_flight_follow_the_items_table(sample):
    ids, store = sample
    counts = q.stage_counts(store, RUNNING)
    assert (counts["model"], counts["done"], counts["pending"], counts["outcome:saved"]) == (1, 1, 1, 1)
    assert q.stage_counts(store, AWAITING)["approval"] == 2
    flight = q.items_in_flight(store, RUNNING)
    assert list(flight["item_id"]) == [ids.in_flight_item] and flight["stage"][0] == "model"


def test_recent_events_are_newest_first_and_filter_by_session(sample):
    ids, store = sample
    frame = q.recent_events(store, session_id=FINISHED, limit=5)
    assert len(frame) == 5 and set(frame["session_id"]) == {FINISHED}
    assert list(frame["seq"]) == sorted(frame["seq"], reverse=True)
    assert frame["type"][0] == "generation_complete"


def test_stage_timeline_spans_each_stage_until_the_next(sample):
    ids, store = sample
    frame = q.stage_timeline(store, FINISHED)
    will = frame[frame["item_id"] == f"{FINISHED}:icon-will"]
    assert list(will["stage"]) == ["discovery", "prompt", "model", "image", "save"]
    assert list(will["end"].iloc[:-1]) == list(will["start"].iloc[1:])
    assert (frame["seconds"] >= 0).all()
    running = q.stage_timeline(store, RUNNING)
    assert running[running["item_id"] == ids.in_flight_item]["stage"].iloc[-1] == "model"


def test_controls_for_session_say_whether_the_engine_applied_them(sample):
    ids, store = sample
    frame = q.controls_for_session(store, RUNNING)
    states = dict(zip(frame["command"], frame["state"]))
    assert states["speed"] == "applied" and states["pause"] == "waiting for engine"


def test_engine_status_needs_a_live_lock_holder_or_a_recent_session(sample, tmp_path):
    from engine.store.engine_lock import release_lock, take_lock

    ids, store = sample
    lock = tmp_path / "engine.lock"
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert q.engine_status(store, lock, now=later)["running"] is False
    lock.write_text(f'{{"pid": {os.getpid()}}}')  # a PID in a file proves nothing: nobody holds the lock
    assert q.engine_status(store, lock, now=later)["running"] is False
    fd = take_lock(lock)
    try:
        assert q.engine_status(store, lock, now=later) | {"last_session_update": None, "command": None} == {
            "running": True, "pid": os.getpid(), "last_session_update": None, "command": None,
            "lock_path": str(lock)}
    finally:
        release_lock(fd)
    assert q.engine_status(store, lock, now=later)["running"] is False
    moved = q.engine_status(store, lock)["last_session_update"]
    assert q.engine_status(store, tmp_path / "missing.lock", now=moved + timedelta(seconds=5))["running"] is True


def test_eta_extrapolates_the_pace_so_far():
    assert estimate_eta_s(2, 10, 60.0) == 240.0
    assert estimate_eta_s(0, 10, 60.0) is None and estimate_eta_s(10, 10, 60.0) == 0.0


# -- Competition --------------------------------------------------------------------------------------
def test_competition_for_item_lists_each_model_with_the_winner_first(sample):
    ids, store = sample
    frame = qm.competition_for_item(store, f"{FINISHED}:icon-will")
    assert len(frame) == 2 and bool(frame["winner"][0]) and not bool(frame["winner"][1])
    assert frame["reasoning"][0] == "highest confidence with full coverage"
    assert frame[["prompt", "confidence", "score", "cost_usd", "latency_ms"]].notna().all().all()
    assert len(qm.competed_items(store, FINISHED)) == 3


def test_model_leaderboard_counts_wins_across_sessions(sample):
    ids, store = sample
    board = qm.model_leaderboard(store).set_index("model")
    assert board["entries"].sum() == 12  # 6 items competed, 2 models each
    assert board.loc["anthropic/claude-sonnet-4.5", "wins"] == 6
    assert board.loc["openai/gpt-5-mini", "win_rate"] == 0.0
    assert qm.model_leaderboard(store, session_id=FINISHED)["entries"].sum() == 6


# -- Costs --------------------------------------------------------------------------------------------
def test_cost_timeseries_is_cumulative_per_model(sample):
    ids, store = sample
    frame = qc.cost_timeseries(store, session_id=FINISHED)
    for model, group in frame.groupby("model"):
        assert group["cumulative_usd"].is_monotonic_increasing
    finals = frame.groupby("model")["cumulative_usd"].max()
    spent = qc.cost_totals(store, session_id=FINISHED)["spent_usd"]
    assert finals.drop("(total)").sum() == pytest.approx(spent) and finals["(total)"] == pytest.approx(spent)
    assert "(total)" not in set(qc.cost_timeseries(store, include_total=False)["model"])


def test_cost_timeseries_thins_long_series_but_keeps_the_total(sample):
    ids, store = sample
    full = qc.cost_timeseries(store)
    thin = qc.cost_timeseries(store, max_points_per_model=2)
    assert len(thin) < len(full)
    assert thin.groupby("model")["cumulative_usd"].max().to_dict() == pytest.approx(
        full.groupby("model")["cumulative_usd"].max().to_dict())


def test_cost_breakdown_by_stage_type_and_model_add_up(sample):
    ids, store = sample
    total = qc.cost_totals(store)["spent_usd"]
    for by in ("stage", "asset_type", "model"):
        frame = qc.cost_breakdown(store, by=by)
        assert frame["cost_usd"].sum() == pytest.approx(total), by
    assert set(qc.cost_breakdown(store, by="stage")["stage"]) == {"prompt", "image"}
    with pytest.raises(ValueError):
        qc.cost_breakdown(store, by="colour")


def test_per_call_table_marks_simulated_calls(sample):
    ids, store = sample
    frame = qc.per_call_table(store)
    assert len(frame) == 17
    assert set(frame[frame["session_id"] == FINISHED]["simulated"]) == {True}
    assert set(frame[frame["session_id"] == RUNNING]["simulated"]) == {False}


def test_cost_forecast_projects_the_average_item_cost():
    forecast = qc.cost_forecast(spent_usd=1.0, done=2, total=10, budget_usd=4.0, reserved_usd=0.5)
    assert forecast["projected_usd"] == 5.0 and forecast["over_budget"] is True
    assert forecast["headroom_usd"] == 2.5 and forecast["budget_used"] == 0.25
    early = qc.cost_forecast(spent_usd=0.0, done=0, total=10, budget_usd=None)
    assert early["projected_usd"] is None and early["over_budget"] is False and early["headroom_usd"] is None


# -- Approvals ----------------------------------------------------------------------------------------
def test_pending_approvals_count_down_and_flag_the_cost_threshold(sample):
    ids, store = sample
    frame = qa.pending_approvals(store).set_index("batch_id")
    assert set(frame.index) == {ids.batch_id, ids.threshold_batch_id}
    assert 0 < frame.loc[ids.batch_id, "seconds_left"] <= 300
    assert frame.loc[ids.threshold_batch_id, "threshold_warning"] and not frame.loc[ids.batch_id, "threshold_warning"]
    assert frame.loc[ids.batch_id, "items"] == 2


def test_approval_items_carry_the_winning_prompts(sample):
    ids, store = sample
    frame = qa.approval_items(store, ids.batch_id)
    assert sorted(frame["item_id"]) == sorted(ids.awaiting_items)
    assert frame["final_prompt"].str.contains("heirloom").all()
    assert qa.approval_items(store, "no-such-batch").empty


def test_decision_history_shows_who_and_whether_applied(sample):
    ids, store = sample
    frame = qa.decision_history(store)
    old = frame[frame["batch_id"] == "b-old"].iloc[0]
    assert (old["decided_by"], old["comment"], old["state"], old["result"]) == ("grace", "looks right", "applied", "applied")


# -- Gallery, History, Events ------------------------------------------------------------------------
def test_gallery_items_filter_and_carry_provenance(sample):
    ids, store = sample
    frame = qh.gallery_items(store)
    assert len(frame) == 4 and frame["winner_model"].notna().all()
    assert len(qh.gallery_items(store, session_ids=[FINISHED], asset_types=["icon"])) == 2
    assert len(qh.gallery_items(store, tiers=["luxury"])) == 1
    path = qh.resolve_image_path(frame["image_path"][0], ids.data_dir)
    provenance = qh.read_provenance(path)
    assert provenance["item_id"] == frame["item_id"][0] and "prompt" in provenance
    assert qh.read_provenance(None) is None
    assert qh.resolve_image_path("assets/none.png", ids.data_dir) is None


def test_session_history_summarises_each_session(sample):
    ids, store = sample
    frame = qh.session_history(store).set_index("session_id")
    assert frame.loc[FINISHED, "outcome"] == "completed" and frame.loc[FINISHED, "saved"] == 3
    assert frame.loc[FINISHED, "duration_s"] > 0
    assert frame.loc[RUNNING, "items"] == 3
    assert len(qh.session_items(store, AWAITING)) == 2


def test_jobs_queue_lists_newest_first_with_spec_headline(sample):
    ids, store = sample
    frame = qh.jobs_queue(store)
    assert list(frame["status"][:2]) == ["queued", "done"] and frame["provider"][0] == "openrouter"


def test_events_explorer_filters_by_type_session_item_and_seq(sample):
    ids, store = sample
    frame = qh.events_explorer(store, types=["item_finished"], session_id=FINISHED)
    assert len(frame) == 3 and set(frame["type"]) == {"item_finished"}
    assert len(qh.events_explorer(store, item_id="icon-will", types=["item_started"])) == 1
    ranged = qh.events_explorer(store, seq_from=10, seq_to=19)
    assert list(ranged["seq"]) == list(range(19, 9, -1))
    assert qh.frame_to_csv(ranged).startswith(b"seq,ts,")
    assert qh.frame_to_parquet(ranged)[:4] == b"PAR1"


# -- the shared feed ----------------------------------------------------------------------------------
def test_feed_tails_new_events_by_seq(tmp_path):
    from console_fixtures import Emitter
    from engine import events as ev

    store = Store(tmp_path / "feed.duckdb")
    emitter = Emitter(store)
    feed = Feed(store, capacity=5, min_interval=0)
    assert feed.poll() == 0 and feed.staleness_s() is None
    for n in range(8):
        emitter.emit(ev.SessionStatus(session_id="s", status="running", previous=None, reason=str(n)))
    emitter.flush()
    assert feed.poll() == 5 and feed.last_seq == 8  # first poll starts a buffer back from the end
    assert [e.seq for e in feed.events()] == [8, 7, 6, 5, 4]
    emitter.emit(ev.SessionStatus(session_id="t", status="running", previous=None, reason="x"))
    emitter.flush()
    assert feed.poll() == 1 and [e.seq for e in feed.events(session_id="t")] == [9]
    assert feed.staleness_s() is not None and feed.stats()["held"] == 5


def test_feed_reports_a_busy_database_instead_of_raising(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "busy.duckdb"
    Store(path).migrate()
    feed = Feed(Store(path, lock_timeout=0.2), min_interval=0)
    # another process (a user's own DuckDB session) holds the file until we close its stdin
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
         "sys.stdin.read(); c.close()", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert feed.poll() == 0 and feed.busy and "locked" in feed.last_error
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    feed.poll()
    assert not feed.busy


# -- console writes -----------------------------------------------------------------------------------
def test_console_actions_record_the_operator_and_refuse_without_one(tmp_path):
    store = Store(tmp_path / "w.duckdb")
    with pytest.raises(CommandError, match="operator name"):
        send_control(store, "pause", operator="  ", session_id="s")
    send_control(store, "speed", operator="ada", session_id="s", arg="fast")
    decide(store, "approve_batch", operator="ada", batch_id="b", comment=" ok ")
    approve_reviewed(store, operator="ada", batch_id="b", approved={"s:a": True, "s:b": False},
                     original={"s:a": "x", "s:b": "y"}, edited={"s:a": "x", "s:b": "y"})
    with pytest.raises(CommandError, match="Tick"):
        approve_reviewed(store, operator="ada", batch_id="b", approved={"s:a": False}, original={}, edited={})
    queue_job(store, build_job_spec(provider="standin", budget_usd=1.0), operator="ada")
    assert store.query("SELECT command, arg, requested_by, source FROM controls") == [("speed", "fast", "ada", "console")]
    rows = store.query("SELECT action, item_ids, modifications, comment, decided_by FROM decisions ORDER BY decision_id")
    assert rows[0] == ("approve_batch", None, None, "ok", "ada")
    assert rows[1][:3] == ("approve_items", '["s:a"]', None)
    assert store.query("SELECT requested_by, spec->>'provider' FROM jobs") == [("ada", "standin")]


def test_a_reviewed_grid_becomes_one_decision_carrying_both_the_subset_and_the_edits(tmp_path):
    store = Store(tmp_path / "w.duckdb")
    original = {"s:a": "x", "s:b": "y", "s:c": "z"}

    def review(approved, edited):
        approve_reviewed(store, operator="ada", batch_id="b", approved=approved, original=original,
                         edited={**original, **edited})
        return store.query("SELECT action, item_ids, modifications FROM decisions ORDER BY decision_id DESC LIMIT 1")[0]

    everything = dict.fromkeys(original, True)
    assert review(everything, {}) == ("approve_batch", '["s:a", "s:b", "s:c"]', None)
    assert review(everything, {"s:b": " y2 "}) == ("modify_batch", '["s:a", "s:b", "s:c"]', '{"s:b": "y2"}')
    # a subset with an edit: both in one row; the unticked row's edit is dropped with the item
    assert review({"s:a": True, "s:b": True, "s:c": False}, {"s:a": "x2", "s:c": "z2"}) == (
        "approve_items", '["s:a", "s:b"]', '{"s:a": "x2"}')


def test_build_job_spec_is_a_full_run_spec_and_refuses_what_the_spec_refuses():
    spec = build_job_spec(types=["icon", ""], test=True, test_type="icons", approval=True, batch_size=5)
    assert RunSpec.from_dict(spec).to_dict() == spec  # the daemon reads it back unchanged
    assert spec["types"] == ["icon"] and spec["approval"]["batch_size"] == 5 and spec["approval"]["enabled"]
    for bad, field in (({"provider": "x"}, "Provider"), ({"speed": "ludicrous"}, "Speed"), ({"budget_usd": -1}, "Budget"),
                       ({"limit": 999_999}, "Limit"), ({"concurrency": 99_999}, "Concurrency"),
                       ({"approval_timeout_s": 3 * 365 * 86_400}, "Approval timeout"),
                       ({"faults": "429=lots"}, "faults")):
        with pytest.raises(CommandError, match=field):
            build_job_spec(**bad)


def test_status_summary_names_interrupted_sessions_with_the_command_that_continues_them(empty):
    empty.execute("INSERT INTO sessions (session_id, status, provider, items_total, items_done, cost_usd, created_at) "
                  "VALUES ('s-stopped', 'interrupted', 'standin', 8, 2, 0.1, now())")
    empty.execute("INSERT INTO jobs (spec, requested_by, status, session_id) "
                  "VALUES ('{}', 'ops', 'interrupted', 's-stopped')")
    summary = q.status_summary(empty)
    assert "1 interrupted: continue with `assetgen run --resume s-stopped`" in summary
    jobs_part = summary.split("Jobs queued, running or interrupted:")[1]
    assert "interrupted" in jobs_part and "s-stopped" in jobs_part


def test_queue_resume_refuses_unknown_or_unfinished_sessions_with_a_reason(empty):
    from engine.intents.console import queue_resume
    empty.execute("INSERT INTO sessions (session_id, status, created_at) VALUES ('s-done', 'completed', now())")
    with pytest.raises(CommandError, match="Unknown session 's-nope'"):
        queue_resume(empty, "s-nope", operator="ops")
    with pytest.raises(CommandError, match="s-done is completed: only an interrupted, aborted or failed session"):
        queue_resume(empty, "s-done", operator="ops")
    assert empty.query("SELECT count(*) FROM jobs") == [(0,)]
