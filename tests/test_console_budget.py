"""The `budget` control: a session paused by its budget gets a higher one and goes on, in one row.

The console writes it beside an approval whose estimate passes what is left (console/approvals.py),
so approving past the budget no longer ends in a budget pause that only the CLI could lift.
"""
from __future__ import annotations

import pytest

from engine.intents.requests import CommandError, request_control
from engine.store.database import Store
from helpers.engine_child import SqlShell
from helpers.live_engine import applied_result, icons_spec, live_engine, query, run_async, start_session, until

SID = "s-budget"
INSERT_CONTROL = ("INSERT INTO controls (session_id, command, arg, requested_by, source) "
                  "VALUES (?, ?, ?, 'tester', 'sql') RETURNING control_id")


def test_a_budget_paused_session_resumes_when_its_budget_is_raised(tmp_path):
    data = tmp_path / "data"

    async def scenario():
        with SqlShell(data / "studio.duckdb") as shell:
            async with live_engine(data) as (engine, rec):
                task = start_session(engine, icons_spec(4, approval=False, budget_usd=0.002), SID)
                await until(lambda: engine.runs.get(SID) and engine.runs[SID].pause_reason == "budget",
                            timeout=20, message="the session to pause on its budget")
                control_id = (await shell.aexecute(INSERT_CONTROL, [SID, "budget", "5"]))[0][0]
                result = await applied_result(engine, "controls", control_id)
                await task
                return result, await query(engine, "SELECT status, budget_usd FROM sessions")

    result, sessions = run_async(scenario())
    assert result == "budget $5.00 (was $0.002); resumed"
    assert sessions == [{"status": "completed", "budget_usd": 5.0}]


def test_a_budget_row_without_a_positive_amount_is_refused_before_it_is_written(tmp_path):
    store = Store(tmp_path / "studio.duckdb")
    try:
        for arg in (None, "", "0", "-3", "lots", "nan", "inf"):
            with pytest.raises(CommandError, match="budget needs a positive amount"):
                request_control(store, "budget", session_id=SID, arg=arg)
        assert store.query("SELECT count(*) FROM controls") == [(0,)]
    finally:
        store.close()
