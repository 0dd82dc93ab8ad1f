"""Honest outcomes: `completed` only when every item ended saved, rejected or skipped; exit codes say so."""
from __future__ import annotations

import asyncio
import io
import subprocess
import sys

import pytest
from helpers.live_engine import run_async, until
from helpers.pipeline_kit import forwarding_handler, is_image_request, mock_client_factory, openrouter_error

from engine.config import load_settings
from engine.vocabulary import session_outcome
from engine.process.runner import EXIT_CODES, run_in_process, serve_forever
from engine.process.runtime import Engine
from engine.session.spec import ApprovalSettings, RunSpec
from engine.store.database import Store

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)


@pytest.mark.parametrize(("outcomes", "expected"), [
    (["saved", "rejected", "skipped"], "completed"),
    (["saved", "failed"], "completed_with_failures"),
    (["saved", "aborted"], "completed_with_failures"),
    (["failed", "failed"], "failed"),
    ([], "completed"),
])
def test_the_session_outcome_follows_its_items(outcomes, expected):
    assert session_outcome(outcomes) == expected


def test_a_session_whose_every_item_failed_ends_failed_and_run_exits_non_zero(settings):
    spec = RunSpec(test=True, test_type="icons", latency_scale=0, faults="403=1")  # every call refused
    out = io.StringIO()
    code = asyncio.run(run_in_process(settings, spec, ws_port=0, out=out))
    store = Store(settings.db_path)
    status, outcome = store.query("SELECT status, outcome FROM sessions")[0]
    items = store.query("SELECT DISTINCT outcome FROM items")
    store.close()
    assert items == [("failed",)]
    assert (status, outcome) == ("failed", "failed") and code == EXIT_CODES["failed"] == 1, out.getvalue()


def test_a_session_with_one_failed_item_ends_completed_with_failures(settings):
    def intercept(request, body):
        if is_image_request(body) and "executor" in str(body.get("messages")).lower():
            return openrouter_error(403, "flagged", error_type="content_policy_violation", reasons=["violence"])
        return None

    async def main():
        async with Engine(settings, serve_websockets=False,
                          client_factory=mock_client_factory(forwarding_handler(intercept))) as engine:
            return await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0), session_id="s-1")

    run = asyncio.run(main())
    store = Store(settings.db_path)
    status = store.query("SELECT status FROM sessions")[0][0]
    complete = store.query("SELECT payload->>'outcome' FROM events WHERE type = 'generation_complete'")[0][0]
    store.close()
    assert run.outcome == status == complete == "completed_with_failures"
    assert EXIT_CODES[run.outcome] not in (0, 1, 2, 3)


def test_run_resume_of_a_completed_session_through_a_daemon_exits_non_zero(settings):
    async def scenario():
        async with Engine(settings, serve_websockets=False) as engine:
            await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0,
                                             approval=ApprovalSettings(enabled=False)), session_id="s-done")
        stop, ready = asyncio.Event(), asyncio.Event()
        served = asyncio.create_task(serve_forever(settings, stop=stop, ready=ready))
        try:
            await until(lambda: ready.is_set() or served.done(), timeout=20, message="the daemon to start")
            # another process, as a user's shell would be (one process cannot attach the file twice)
            return await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "engine", "--data-dir", str(settings.data_dir), "run", "--resume", "s-done"],
                capture_output=True, text=True, timeout=60)
        finally:
            stop.set()
            await served

    result = run_async(scenario(), timeout=90)
    store = Store(settings.db_path)
    job = store.query("SELECT status, error FROM jobs")[0]
    store.close()
    assert job[0] == "failed" and "already completed" in job[1]
    assert result.returncode == 1, result.stdout + result.stderr
