"""Estimate before the first cent: a gated session whose forecast passes the cost threshold asks about the
whole session before any paid call, and an approval past the budget must raise it in the same decision.

12 icons on the stand-in forecast $0.5444 (prompts $0.0800 + images $0.4644, price snapshot); the cost
threshold is lowered to $0.10 so the forecast passes it. Decisions are INSERTed by another process.
"""
from __future__ import annotations

import asyncio
import math

import pytest
from click.testing import CliRunner
from helpers.engine_child import SqlShell
from helpers.live_engine import applied_result, icons_spec, live_engine, query, run_async, start_session, until

from engine.cli import cli
from engine.intents.requests import CommandError, request_decision
from engine.session.estimate import estimate_run
from engine.session.spec import ApprovalSettings
from engine.store.database import Store
from engine.ws.protocol import BadRequest, decision_request

SID = "s-forecast"
FORECAST = f"{SID}:forecast"
THRESHOLD = 0.10
INSERT_DECISION = ("INSERT INTO decisions (batch_id, action, decided_by, comment, budget_usd) "
                   "VALUES (?, ?, 'reviewer', ?, ?) RETURNING decision_id")


def _spec(**changes):
    return icons_spec(12, approval_settings=ApprovalSettings(cost_threshold_usd=THRESHOLD), **changes)


async def _decide(engine, shell: SqlShell, batch_id: str, action: str, *, comment=None, budget_usd=None) -> str:
    decision_id = (await shell.aexecute(INSERT_DECISION, [batch_id, action, comment, budget_usd]))[0][0]
    return await applied_result(engine, "decisions", decision_id)


async def _paid_calls(engine) -> int:
    return (await query(engine, "SELECT count(*) AS n FROM api_calls WHERE session_id = ?", [SID]))[0]["n"]


async def _forecast_session(tmp_path, body, **spec_changes):
    """Start the session, wait for the forecast's request (projected into ``approvals``), run ``body``."""
    data = tmp_path / "data"
    with SqlShell(data / "studio.duckdb") as shell:
        async with live_engine(data) as (engine, rec):
            task = start_session(engine, _spec(**spec_changes), SID)
            request = await until(lambda: rec.first("threshold_approval_request", SID, batch_id=FORECAST),
                                  timeout=20, message="the forecast's threshold_approval_request")

            async def projected():
                rows = await query(engine, "SELECT status FROM approvals WHERE batch_id = ?", [FORECAST])
                return rows == [{"status": "pending"}]
            await until(projected, timeout=5, message="the forecast request in the approvals table")
            result = await body(engine, rec, shell, request)
            await asyncio.wait_for(task, 30)
            return engine, rec, result


def _seqs(engine, event_type: str) -> list[int]:
    rows = engine.store.query("SELECT seq FROM events WHERE session_id = ? AND type = ? ORDER BY seq",
                              [SID, event_type])
    return [r[0] for r in rows]


def test_the_forecast_is_asked_before_any_paid_call_and_nothing_is_spent_until_it_is_approved(tmp_path):
    expected = estimate_run(_spec())

    async def body(engine, rec, shell, request):
        p = request.payload
        assert p["timeout_policy"] == "hold" and p["threshold_usd"] == THRESHOLD and p["budget_usd"] is None
        assert p["forecast"]["prompts_usd"] == pytest.approx(expected.prompt_usd, abs=1e-6)
        assert p["forecast"]["images_usd"] == pytest.approx(expected.image_usd, abs=1e-6)
        assert p["estimated_cost_usd"] == pytest.approx(expected.total_usd, abs=1e-6)
        assert p["estimated_cost_usd"] > THRESHOLD
        assert len(p["items"]) == 12 and all(i["prompt"] is None for i in p["items"])
        # waiting: the session spends nothing, starts no call, begins no item
        await until(lambda: (engine.projector.session(SID) or {}).get("status") == "awaiting_approval",
                    message="awaiting_approval")
        assert not rec.of("openrouter_api_call", SID) and not rec.of("item_started", SID)
        assert await _paid_calls(engine) == 0
        assert (await query(engine, "SELECT cost_usd FROM sessions WHERE session_id = ?", [SID])) == [{"cost_usd": 0}]

        assert await _decide(engine, shell, FORECAST, "approve_batch") == "applied: approved 12 items"
        # the batch's own request still shows its prompts, but the money was approved: an ordinary request
        batch = await until(lambda: rec.first("approval_request", SID), timeout=20, message="the batch's request")
        assert not rec.of("threshold_approval_request", SID, batch_id=batch.payload["batch_id"])
        assert await _decide(engine, shell, batch.payload["batch_id"], "approve_batch") == "applied: approved 12 items"

    engine, rec, _ = run_async(_forecast_session(tmp_path, body))
    asked, calls = _seqs(engine, "threshold_approval_request"), _seqs(engine, "openrouter_api_call")
    assert len(asked) == 1 and calls and asked[0] < min(calls)  # in the file, too: asked before the first call
    approved = _seqs(engine, "approve_batch")[0]
    assert approved < min(calls)
    statuses = engine.store.query("SELECT status, count(*) FROM items WHERE session_id = ? GROUP BY 1", [SID])
    assert statuses == [("saved", 12)]
    assert engine.store.query("SELECT kind, status FROM approvals WHERE batch_id = ?", [FORECAST]) == [
        ("threshold_approval_request", "approved")]


def test_rejecting_the_forecast_rejects_every_item_and_spends_nothing(tmp_path):
    async def body(engine, rec, shell, request):
        return await _decide(engine, shell, FORECAST, "reject_batch", comment="too dear")

    engine, rec, result = run_async(_forecast_session(tmp_path, body))
    assert result == "applied: rejected 12 items"
    items = engine.store.query("SELECT status, reason FROM items WHERE session_id = ?", [SID])
    assert len(items) == 12 and set(items) == {("rejected", "batch rejected by reviewer: too dear")}
    assert engine.store.query("SELECT count(*) FROM api_calls") == [(0,)]
    assert engine.store.query("SELECT status, cost_usd FROM sessions") == [("completed", 0.0)]
    assert not rec.of("openrouter_api_call") and not rec.of("item_started")


def test_approving_past_the_budget_needs_budget_usd_which_raises_it_and_the_run_proceeds(tmp_path):
    budget = 0.20

    async def body(engine, rec, shell, request):
        p = request.payload
        assert p["budget_usd"] == budget and p["estimated_cost_usd"] > budget  # the forecast passes the budget too
        needed = math.ceil(round(p["estimated_cost_usd"] * 100, 6)) / 100
        refused = await _decide(engine, shell, FORECAST, "approve_batch")
        assert refused.startswith(f"refused: approving {FORECAST} commits an estimated ${p['estimated_cost_usd']:.4f}")
        assert f"prompts ${p['forecast']['prompts_usd']:.4f} + images ${p['forecast']['images_usd']:.4f}" in refused
        assert f"more than the ${budget:.4f} left of the ${budget:.2f} budget" in refused
        assert f"budget_usd of at least ${needed:.2f}" in refused
        short = await _decide(engine, shell, FORECAST, "approve_batch", budget_usd=0.30)
        assert short.startswith("refused: budget_usd $0.30 is too small") and f"at least ${needed:.2f}" in short
        assert await _paid_calls(engine) == 0 and not rec.of("approve_batch", SID)

        applied = await _decide(engine, shell, FORECAST, "approve_batch", budget_usd=needed)
        assert applied == f"applied: approved 12 items; budget ${needed:.2f}"
        raised = rec.first("control_flag_change", SID, command="budget")
        assert raised.payload["new"] == f"{needed:g}" and raised.payload["reason"] == "approval"
        assert raised.seq < rec.first("approve_batch", SID).seq  # budget first, then the release
        await until(lambda: rec.first("openrouter_api_call", SID), timeout=10, message="the first paid call")

        # the batch's request: its images need more than is left now, so once more the decision raises it
        batch = await until(lambda: rec.first("approval_request", SID), timeout=20, message="the batch's request")
        batch_id = batch.payload["batch_id"]
        refused = await _decide(engine, shell, batch_id, "approve_batch")
        assert refused.startswith(f"refused: approving {batch_id} commits an estimated $0.4644 for the images of "
                                  "12 item(s), more than the $") and "budget_usd of at least $" in refused
        assert await _decide(engine, shell, batch_id, "approve_batch", budget_usd=1.0) == \
            "applied: approved 12 items; budget $1.00"
        return needed

    engine, rec, needed = run_async(_forecast_session(tmp_path, body, budget_usd=budget))
    session = engine.store.query("SELECT status, budget_usd, cost_usd FROM sessions")[0]
    assert session[:2] == ("completed", 1.0) and session[2] <= 1.0
    assert engine.store.query("SELECT budget_usd FROM decisions WHERE result LIKE 'applied%' ORDER BY decision_id") \
        == [(needed,), (1.0,)]


def test_a_forecast_within_the_threshold_asks_nothing_first(tmp_path):
    data = tmp_path / "data"

    async def scenario():
        async with live_engine(data) as (engine, rec):
            await start_session(engine, icons_spec(2, approval_settings=ApprovalSettings(cost_threshold_usd=5.0)), SID)
            return rec

    rec = run_async(scenario())
    assert not rec.of("threshold_approval_request") and not rec.of("approval_request")
    assert rec.first("generation_complete", SID).payload["outcome"] == "completed"


def test_budget_usd_is_checked_wherever_a_decision_is_written(tmp_path):
    store = Store(tmp_path / "studio.duckdb")
    try:
        for bad in (0, -1.0, math.nan, math.inf, True, "5"):
            with pytest.raises(CommandError, match="budget_usd must be a positive amount"):
                request_decision(store, "approve_batch", batch_id="b", budget_usd=bad)
        with pytest.raises(CommandError, match="budget_usd goes with an approval"):
            request_decision(store, "reject_batch", batch_id="b", budget_usd=5.0)
        request_decision(store, "approve_items", batch_id="b", item_ids=["s:a"], budget_usd=2.5)
        assert store.query("SELECT action, budget_usd FROM decisions") == [("approve_items", 2.5)]
    finally:
        store.close()
    assert decision_request({"action": "approve_batch", "batch_id": "b", "budget_usd": 7})["budget_usd"] == 7
    for bad in ("7", True, [7]):
        with pytest.raises(BadRequest, match="budget_usd must be a number"):
            decision_request({"action": "approve_batch", "batch_id": "b", "budget_usd": bad})


def test_a_sql_decision_with_a_bad_budget_is_refused_by_the_engine(tmp_path):
    async def body(engine, rec, shell, request):
        results = [await _decide(engine, shell, FORECAST, "approve_batch", budget_usd=-3.0),
                   await _decide(engine, shell, FORECAST, "reject_batch", budget_usd=9.0)]
        assert await _paid_calls(engine) == 0
        await _decide(engine, shell, FORECAST, "reject_batch")
        return results

    _, _, (negative, on_reject) = run_async(_forecast_session(tmp_path, body))
    assert negative == "refused: budget_usd must be a positive amount in USD, e.g. 12.50, got -3.0"
    assert on_reject.startswith("refused: budget_usd goes with an approval")


def test_the_cli_approve_sends_the_budget_in_the_decision(tmp_path):
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "approve", "s1-b0", "--budget", "12.5", "--by", "ana"])
    assert result.exit_code == 0, result.output
    store = Store(data / "studio.duckdb")
    try:
        assert store.query("SELECT batch_id, action, budget_usd, decided_by FROM decisions") == [
            ("s1-b0", "approve_batch", 12.5, "ana")]
    finally:
        store.close()
    refused = CliRunner().invoke(cli, ["--data-dir", str(data), "approve", "s1-b0", "--budget", "-1"])
    assert refused.exit_code == 2 and "budget_usd must be a positive amount" in refused.output


def test_aborting_while_the_forecast_waits_ends_the_session_and_closes_the_request(tmp_path):
    async def body(engine, rec, shell, request):
        await shell.aexecute("INSERT INTO controls (session_id, command, requested_by) VALUES (?, 'abort', 'ops')",
                             [SID])
        await until(lambda: rec.first("approval_closed", SID, batch_id=FORECAST), timeout=10, message="approval_closed")
        return await _decide(engine, shell, FORECAST, "approve_batch")

    engine, rec, late = run_async(_forecast_session(tmp_path, body))
    assert late == f"refused: batch {FORECAST} was already decided (closed)"
    assert rec.first("generation_complete", SID).payload["outcome"] == "aborted"
    assert engine.store.query("SELECT count(*) FROM api_calls") == [(0,)]


def test_a_resumed_session_keeps_its_waiting_forecast_and_a_decided_one_is_not_asked_again(tmp_path):
    data = tmp_path / "data"

    async def scenario():
        with SqlShell(data / "studio.duckdb") as shell:
            async with live_engine(data) as (engine, rec):
                start_session(engine, _spec(), SID)
                first = await until(lambda: rec.first("threshold_approval_request", SID, batch_id=FORECAST),
                                    timeout=20, message="the forecast's request")
            # the engine stopped while the forecast waited: the next one asks nothing new and spends nothing
            async with live_engine(data) as (engine, rec):
                task = asyncio.create_task(engine.run_session(None, session_id=SID, resume=True))
                await until(lambda: (engine.projector.session(SID) or {}).get("status") == "awaiting_approval",
                            timeout=20, message="awaiting_approval after resume")
                assert not rec.of("threshold_approval_request", SID) and not rec.of("openrouter_api_call", SID)
                assert await _decide(engine, shell, FORECAST, "approve_batch") == "applied: approved 12 items"
                await until(lambda: rec.first("openrouter_api_call", SID), timeout=10, message="a paid call")
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            # decided before this stop: resuming again goes straight on
            async with live_engine(data) as (engine, rec):
                task = asyncio.create_task(engine.run_session(None, session_id=SID, resume=True))

                async def batch_waiting():  # asked in this run, or still pending from the last one
                    rows = await query(engine, "SELECT batch_id FROM approvals WHERE session_id = ? AND batch_id <> ? "
                                               "AND status = 'pending'", [SID, FORECAST])
                    return rows[0]["batch_id"] if rows else None
                batch_id = await until(batch_waiting, timeout=20, message="the batch's request")
                assert not rec.of("threshold_approval_request", SID)
                assert (await _decide(engine, shell, batch_id, "approve_batch")).startswith("applied: approved")
                await asyncio.wait_for(task, 30)
                return first, engine

    first, engine = run_async(scenario(), timeout=120)
    assert first.payload["expires_at"]
    assert engine.store.query("SELECT status FROM sessions") == [("completed",)]
    assert engine.store.query("SELECT count(*) FROM items WHERE status = 'saved'") == [(12,)]


def test_the_console_approves_a_forecast_past_the_budget_with_the_raise_inside_the_decision(monkeypatch, tmp_path):
    from console_fixtures import Emitter, build_sample_db
    from test_console_apptest import _app, _clicked

    from engine import events as ev

    ids = build_sample_db(tmp_path)
    sid, assets = "s-fc", ["icon-will", "icon-trust"]
    store = Store(ids.db_path)
    em = Emitter(store)
    em.emit(ev.GenerationStart(session_id=sid, total=2, provider="standin", speed="normal", concurrency=4,
                               budget_usd=0.05, catalog="c.toml", simulated=True, resumed=False, params={},
                               items=[{"item_id": f"{sid}:{a}", "asset_id": a, "asset_type": "icon", "tier": "core",
                                       "title": a} for a in assets]))
    em.emit(ev.ThresholdApprovalRequest(
        session_id=sid, batch_id=f"{sid}:forecast", estimated_cost_usd=0.30, expires_at="2099-01-01T00:00:00+00:00",
        timeout_policy="hold", threshold_usd=0.10, budget_usd=0.05,
        forecast={"items": 2, "prompts_usd": 0.05, "images_usd": 0.25, "total_usd": 0.30},
        items=[{"item_id": f"{sid}:{a}", "asset_id": a, "title": a, "prompt": None, "model": None} for a in assets]))
    em.flush()
    store.close()

    at = _app(monkeypatch, ids.data_dir, ids.db_path, "approvals", "rev-op")
    at.selectbox(key="appr_batch").select(f"{sid}:forecast").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.button(key="appr_approve").label == "Approve all, budget → $0.30"
    _clicked(at, "appr_approve")
    store = Store(ids.db_path)
    try:
        assert store.query("SELECT action, budget_usd, decided_by FROM decisions WHERE batch_id = ?",
                           [f"{sid}:forecast"]) == [("approve_batch", 0.30, "rev-op")]
        assert store.query("SELECT count(*) FROM controls WHERE command = 'budget'") == [(0,)]
    finally:
        store.close()


def test_a_batch_request_left_pending_by_a_stop_is_waited_on_again_and_its_decision_applies(tmp_path):
    """12 icons under the threshold: no forecast, one ordinary approval_request for the batch (more than 10
    items). The engine stops while it waits; the resumed session says it awaits approval (it asks nothing
    new: the pending row stands) and the decision taken then releases the batch."""
    data, sid = tmp_path / "data", "s-batch-resume"

    async def scenario():
        with SqlShell(data / "studio.duckdb") as shell:
            async with live_engine(data) as (engine, rec):
                start_session(engine, icons_spec(12), sid)
                request = await until(lambda: rec.first("approval_request", sid), timeout=20,
                                      message="the batch's approval_request")
            async with live_engine(data) as (engine, rec):
                task = asyncio.create_task(engine.run_session(None, session_id=sid, resume=True))
                await until(lambda: (engine.projector.session(sid) or {}).get("status") == "awaiting_approval",
                            timeout=20, message="awaiting_approval after resume")
                assert not rec.of("approval_request", sid)
                decided = await _decide(engine, shell, request.payload["batch_id"], "approve_batch")
                assert decided.startswith("applied: approved 12"), decided
                await asyncio.wait_for(task, 30)
                return engine

    engine = run_async(scenario(), timeout=120)
    assert engine.store.query("SELECT status FROM sessions WHERE session_id = ?", [sid]) == [("completed",)]
