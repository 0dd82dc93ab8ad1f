"""Sessions under provider faults: retries, credits, a refused key and moderation, over the real client."""
from __future__ import annotations

import asyncio

import pytest
from helpers.pipeline_kit import (
    assert_each_item_ends_once, assert_money_adds_up, assert_one_winner_per_item, forwarding_handler,
    is_image_request, mock_client_factory, openrouter_error, session_events, standin_client_factory, write_catalog,
)

from engine.intents.requests import request_control
from engine.config import load_settings
from engine.process.runtime import Engine
from engine.session.spec import ApprovalSettings, RunSpec
from engine.store.database import Store
from helpers.waiting import until

pytestmark = pytest.mark.timeout(120)
NO_APPROVAL = ApprovalSettings(enabled=False)


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)


def run_one(settings, spec: RunSpec, *, client_factory, session_id: str):
    async def main():
        async with Engine(settings, serve_websockets=False, client_factory=client_factory) as engine:
            return await engine.run_session(spec, session_id=session_id)
    return asyncio.run(main())


def test_hundred_items_under_429_502_and_timeouts_end_once_each_with_retries_and_sums_intact(settings, tmp_path):
    catalog = write_catalog(tmp_path / "catalog.toml", 100)
    spec = RunSpec(catalog=str(catalog), latency_scale=0, faults="429=0.1,502=0.05,timeout=0.02", speed="fast",
                   approval=NO_APPROVAL, seed=3)
    run = run_one(settings, spec, client_factory=standin_client_factory(), session_id="s-faults")
    store = Store(settings.db_path)

    outcomes = assert_each_item_ends_once(store, run.session_id)
    status = store.query("SELECT status FROM sessions WHERE session_id = 's-faults'")[0][0]
    assert status == ("completed" if set(outcomes.values()) == {"saved"} else "completed_with_failures")
    assert len(outcomes) == 100
    assert sum(o == "saved" for o in outcomes.values()) >= 95  # 5 attempts per call: a lost item is rare
    retries = store.query("SELECT payload->>'http_status', count(*) FROM events WHERE session_id = 's-faults' "
                          "AND type = 'api_retry' GROUP BY 1")
    by_status = {status: n for status, n in retries}
    assert {"429", "502", "408"} <= set(by_status), by_status  # a client timeout is reported as 408
    errors = store.query("SELECT count(*), coalesce(sum(cost_usd), 0) FROM api_calls "
                         "WHERE session_id = 's-faults' AND status = 'error'")[0]
    assert errors[0] >= sum(by_status.values())
    assert errors[1] == 0  # these failures are not billed, so they cost nothing
    assert assert_money_adds_up(store, run.session_id) > 0
    assert assert_one_winner_per_item(store, run.session_id) >= 95


def test_402_pauses_with_reason_credits_and_a_resume_control_continues(settings):
    out_of_credits = {"on": True}

    def intercept(request, body):
        if out_of_credits["on"]:
            return openrouter_error(402, "Insufficient credits. Add more credits to continue.",
                                    error_type="insufficient_credits")
        return None
    spec = RunSpec(test=True, test_type="icons", latency_scale=0)
    factory = mock_client_factory(forwarding_handler(intercept))

    async def main():
        async with Engine(settings, serve_websockets=False, client_factory=factory) as engine:
            task = asyncio.create_task(engine.run_session(spec, session_id="s-credits"))
            store = engine.store
            await until(lambda: store.query("SELECT status, pause_reason FROM sessions "
                                            "WHERE session_id = 's-credits'") == [("paused", "credits")],
                        message="the session to pause for credits")
            assert not task.done()
            out_of_credits["on"] = False  # the operator has added credits
            control_id = await asyncio.to_thread(request_control, store, "resume", session_id="s-credits",
                                                 requested_by="test")
            run = await asyncio.wait_for(task, 20)
            await engine.flush()
            result = store.query("SELECT result FROM controls WHERE control_id = ?", [control_id])[0][0]
            return run, result

    run, result = asyncio.run(main())
    assert result == "resumed"
    assert run.counts() == {"saved": 3}
    store = Store(settings.db_path)
    refused = store.query("SELECT count(*), sum(cost_usd) FROM api_calls WHERE session_id = 's-credits' "
                          "AND http_status = 402")[0]
    assert refused[0] >= 1 and refused[1] == 0
    actions = {e["payload"]["action"] for e in session_events(store, "s-credits") if e["type"] == "api_error"}
    assert actions == {"pause"}
    assert not [e for e in session_events(store, "s-credits") if e["type"] == "api_retry"]  # 402 is not retried
    assert_money_adds_up(store, "s-credits")


def test_401_stops_the_session_with_a_message_naming_the_api_key(settings):
    def intercept(request, body):
        return openrouter_error(401, "User not found.", error_type="authentication_error")
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0),
                  client_factory=mock_client_factory(forwarding_handler(intercept)), session_id="s-401")
    store = Store(settings.db_path)

    complete = [e["payload"] for e in session_events(store, "s-401") if e["type"] == "generation_complete"]
    assert len(complete) == 1 and complete[0]["outcome"] == "failed"
    assert "OPENROUTER_API_KEY" in complete[0]["message"]
    status, message = store.query("SELECT status, message FROM sessions WHERE session_id = 's-401'")[0]
    assert status == "failed" and "OPENROUTER_API_KEY" in message
    outcomes = assert_each_item_ends_once(store, run.session_id)
    assert set(outcomes.values()) == {"failed"}
    reasons = store.query("SELECT reason FROM items WHERE session_id = 's-401'")
    assert all("OPENROUTER_API_KEY" in r for (r,) in reasons), reasons  # not "failed by operator"
    assert store.query("SELECT count(*) FROM events WHERE session_id = 's-401' AND type = 'api_retry'")[0][0] == 0


def test_403_on_the_image_fails_that_item_with_the_moderation_reason(settings):
    def intercept(request, body):
        if is_image_request(body) and "executor" in str(body.get("messages")).lower():
            return openrouter_error(403, "google/gemini-2.5-flash-image requires moderation on Google. "
                                    'Your input was flagged for "violence"', error_type="content_policy_violation",
                                    reasons=["violence"], flagged_input="…")
        return None
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0),
                  client_factory=mock_client_factory(forwarding_handler(intercept)), session_id="s-403")
    store = Store(settings.db_path)

    outcomes = assert_each_item_ends_once(store, run.session_id)
    failed = [item for item, outcome in outcomes.items() if outcome == "failed"]
    assert failed == ["s-403:icon-executor"], outcomes
    reason = store.query("SELECT reason FROM items WHERE item_id = 's-403:icon-executor'")[0][0]
    assert "moderation" in reason and "violence" in reason
    assert sorted(o for o in outcomes.values() if o != "failed") == ["saved", "saved"]
    assert store.query("SELECT status FROM sessions WHERE session_id = 's-403'")[0][0] == "completed_with_failures"
    assert store.query("SELECT count(*) FROM events WHERE session_id = 's-403' AND type = 'api_retry'")[0][0] == 0
    assert_money_adds_up(store, "s-403")


def test_403_on_one_competitor_drops_it_and_the_others_still_compete(settings):
    def intercept(request, body):
        if body.get("model") == "openai/gpt-5-mini":
            return openrouter_error(403, "flagged", error_type="content_policy_violation", reasons=["self-harm"])
        return None
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0),
                  client_factory=mock_client_factory(forwarding_handler(intercept)), session_id="s-drop")
    store = Store(settings.db_path)

    assert run.counts() == {"saved": 3}
    dropped = [e for e in session_events(store, "s-drop") if e["type"] == "competitor_dropped"]
    assert {e["payload"]["model"] for e in dropped} == {"openai/gpt-5-mini"} and len(dropped) == 3
    assert store.query("SELECT count(*) FROM proposals WHERE session_id = 's-drop' "
                       "AND model = 'openai/gpt-5-mini'")[0][0] == 0
    assert assert_one_winner_per_item(store, "s-drop") == 3
