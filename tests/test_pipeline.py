"""Issue 3, the generation pipeline end to end: a real Engine, the real client over the stand-in, a real DuckDB file."""
from __future__ import annotations

import asyncio
import time

import pytest
from helpers.pipeline_kit import (
    PIPELINE_EVENT_TYPES, assert_each_item_ends_once, assert_money_adds_up, assert_one_winner_per_item,
    session_events, standin_client_factory, write_catalog,
)

from engine.intents.requests import request_control
from engine.config import load_settings
from engine.process.runtime import Engine
from engine.session.save import read_text_chunks
from engine.session.spec import ApprovalSettings, RunSpec
from engine.store.database import Store
from helpers.waiting import until

pytestmark = pytest.mark.timeout(120)


def run_one(settings, spec: RunSpec, **engine_options):
    async def main():
        async with Engine(settings, serve_websockets=False, **engine_options) as engine:
            return await engine.run_session(spec)
    return asyncio.run(main())


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)


def test_test_run_makes_three_icons_with_every_pipeline_event_within_5s_at_latency_0(settings):
    started = time.monotonic()
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0))
    elapsed = time.monotonic() - started

    assert elapsed < 5.0, f"took {elapsed:.1f}s"
    store = Store(settings.db_path)
    status, outcome = store.query("SELECT status, outcome FROM sessions WHERE session_id = ?", [run.session_id])[0]
    assert (status, outcome) == ("completed", "completed")
    pngs = sorted((settings.assets_dir / run.session_id).glob("*.png"))
    assert len(pngs) == 3
    for png in pngs:
        assert {"parameters", "provenance"} <= set(read_text_chunks(png))
    seen = {e["type"] for e in session_events(store, run.session_id)}
    missing = [t for t in PIPELINE_EVENT_TYPES if t not in seen]
    assert not missing, f"event types never emitted: {missing}"


def test_every_item_walks_the_stages_in_order_and_progress_ends_at_total(settings):
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0))
    events = session_events(Store(settings.db_path), run.session_id)

    for item_id in run.items:
        stages = [e["payload"]["stage"] for e in events
                  if e["type"] == "pipeline_stage_update" and e["item_id"] == item_id]
        assert stages == ["discovery", "prompt", "model", "image", "save"], item_id
    last = [e["payload"] for e in events if e["type"] == "progress_update"][-1]
    assert (last["done"], last["total"], last["in_flight"], last["eta_s"]) == (3, 3, 0, 0.0)


def test_costs_add_up_and_each_item_has_one_winner_among_its_proposals(settings):
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0))
    store = Store(settings.db_path)

    total = assert_money_adds_up(store, run.session_id)
    assert total > 0
    assert assert_one_winner_per_item(store, run.session_id) == 3
    assert set(assert_each_item_ends_once(store, run.session_id).values()) == {"saved"}
    per_item = store.query("SELECT sum(cost_usd) FROM items WHERE session_id = ?", [run.session_id])[0][0]
    assert per_item == pytest.approx(total, abs=1e-7)


@pytest.mark.slow
def test_test_run_at_default_latency_finishes_within_30s(settings):
    started = time.monotonic()
    run = run_one(settings, RunSpec(test=True, test_type="icons"))
    elapsed = time.monotonic() - started

    assert run.counts() == {"saved": 3}
    assert elapsed < 30.0, f"took {elapsed:.1f}s"


def test_small_budget_pauses_with_reason_budget_and_never_overspends(settings, tmp_path):
    budget = 0.10  # a test item costs ~$0.047: a third item's reservation cannot fit
    catalog = write_catalog(tmp_path / "catalog.toml", 6)
    spec = RunSpec(catalog=str(catalog), latency_scale=0, budget_usd=budget, concurrency=4,
                   approval=ApprovalSettings(enabled=False))

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            store = engine.store  # one process attaches the file through one Store at a time
            task = asyncio.create_task(engine.run_session(spec, session_id="s-budget"))
            await until(lambda: engine.runs.get("s-budget") and engine.runs["s-budget"].pause_reason == "budget")
            run = engine.runs["s-budget"]
            # a paused session starts no paid call: spent + reserved stays within the budget
            assert run.budget.spent_usd + run.budget.reserved_usd <= budget + 1e-12
            await until(lambda: store.query("SELECT status, pause_reason FROM sessions WHERE session_id = "
                                             "'s-budget'") == [("paused", "budget")])
            await asyncio.to_thread(request_control, store, "abort", session_id="s-budget", requested_by="test")
            return await asyncio.wait_for(task, 20)

    run = asyncio.run(main())
    store = Store(settings.db_path)
    spent = assert_money_adds_up(store, run.session_id)
    assert 0 < spent <= budget
    assert store.query("SELECT coalesce(sum(cost_usd), 0) FROM api_calls WHERE session_id = 's-budget'")[0][0] <= budget
    outcomes = assert_each_item_ends_once(store, run.session_id)
    assert "aborted" in outcomes.values()


def test_resume_with_a_raised_budget_finishes_the_session(settings, tmp_path):
    catalog = write_catalog(tmp_path / "catalog.toml", 4)
    spec = RunSpec(catalog=str(catalog), latency_scale=0, budget_usd=0.06, concurrency=2,
                   approval=ApprovalSettings(enabled=False))

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            task = asyncio.create_task(engine.run_session(spec, session_id="s-raise"))
            await until(lambda: engine.runs.get("s-raise") and engine.runs["s-raise"].pause_reason == "budget")
            await asyncio.to_thread(request_control, engine.store, "resume", session_id="s-raise", arg="budget=5")
            return await asyncio.wait_for(task, 20)

    run = asyncio.run(main())
    store = Store(settings.db_path)
    assert run.counts() == {"saved": 4}
    assert assert_money_adds_up(store, run.session_id) <= 5


def test_without_faults_each_item_makes_one_prompt_call_per_competitor_and_one_image_call(settings):
    transports: list = []
    run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0),
            client_factory=standin_client_factory(transports=transports))
    kinds = [entry["kind"] for entry in transports[0].log]
    assert kinds.count("image") == 3 and kinds.count("text") == 9
