"""Issue 14: constant cost per item — items flow to their image, finished items leave memory, bounded reads."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from helpers.pipeline_kit import assert_each_item_ends_once, write_catalog

from engine import events as ev
from engine.config import load_settings
from engine.live.bus import Bus
from engine.live.projection import Projector
from engine.process.runtime import Engine
from engine.read.archive import events_explorer
from engine.session.limiter import Limiter
from engine.session.spec import ApprovalSettings, RunSpec
from engine.store.database import Store

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)


def _spec(catalog, **overrides) -> RunSpec:
    options = dict(catalog=str(catalog), latency_scale=0, concurrency=4, approval=ApprovalSettings(enabled=False))
    options.update(overrides)
    return RunSpec(**options)


def _seqs(store: Store, session_id: str, sql_filter: str) -> list[int]:
    return [r[0] for r in store.query(
        f"SELECT seq FROM events WHERE session_id = ? AND {sql_filter} ORDER BY seq", [session_id])]


@pytest.mark.slow
def test_with_the_gate_off_an_items_image_starts_before_most_prompts_are_made(settings, tmp_path):
    catalog = write_catalog(tmp_path / "catalog.toml", 40)

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            run = await engine.run_session(_spec(catalog), session_id="s-flow")
            return run, engine.projector.held_rows()

    run, held = asyncio.run(main())
    store = Store(settings.db_path)
    images = _seqs(store, "s-flow", "type = 'openrouter_api_call' AND payload->>'purpose' = 'image'")
    competitions = _seqs(store, "s-flow", "type = 'model_competition_start'")
    assert len(images) == len(competitions) == 40
    # the first image is asked for while at most a slot's worth of other items have begun their prompts
    assert sum(1 for seq in competitions if seq < images[0]) <= 4
    assert set(assert_each_item_ends_once(store, "s-flow").values()) == {"saved"}
    assert run.items == {} and run.flying == {} and run.tasks == {}  # nothing open is left behind
    assert len(run.recent) <= 64 and run.counts() == {"saved": 40}
    assert held["items"] == held["api_calls"] == held["proposals"] == 0  # forgotten once written


@pytest.mark.slow
def test_with_the_gate_on_the_next_batch_makes_its_prompts_while_the_first_waits_and_images(settings, tmp_path):
    catalog = write_catalog(tmp_path / "catalog.toml", 24)
    spec = _spec(catalog, approval=ApprovalSettings(enabled=True, threshold=10, batch_size=12, timeout_s=0.5,
                                                    cost_threshold_usd=100.0))

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            return await engine.run_session(spec, session_id="s-batches")

    asyncio.run(main())  # each batch is approved by its timeout
    store = Store(settings.db_path)
    requests = store.query("SELECT seq, payload->>'batch_id', payload->'items' FROM events "
                           "WHERE session_id = 's-batches' AND type = 'approval_request' ORDER BY seq")
    assert len(requests) == 2
    first_batch = {i["item_id"] for i in json.loads(requests[0][2])}
    second_batch = {i["item_id"] for i in json.loads(requests[1][2])}
    stages = store.query("SELECT seq, item_id, type, payload->>'stage' FROM events WHERE session_id = 's-batches' "
                         "AND type IN ('model_competition_start', 'pipeline_stage_update') ORDER BY seq")
    first_image = min(seq for seq, item, kind, stage in stages if item in first_batch and stage == "image")
    second_prompts = [seq for seq, item, kind, _ in stages if item in second_batch and kind == "model_competition_start"]
    # while batch 1 waited for its decision, its slots went to batch 2's prompts (the gate holds no slot)
    assert min(second_prompts) < first_image
    assert set(assert_each_item_ends_once(store, "s-batches").values()) == {"saved"}


def test_work_already_begun_gets_a_freed_slot_before_new_work():
    async def main():
        limiter, order = Limiter(1), []
        await limiter.acquire()

        async def take(name, first):
            await limiter.acquire(first=first)
            order.append(name)
            limiter.release()

        tasks = [asyncio.create_task(take("new-1", False)), asyncio.create_task(take("new-2", False))]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(take("begun", True)))
        await asyncio.sleep(0)
        limiter.release()
        await asyncio.gather(*tasks)
        return order, limiter.in_use

    order, in_use = asyncio.run(main())
    assert order == ["begun", "new-1", "new-2"] and in_use == 0


def test_the_backfill_ring_is_bounded_in_bytes_and_keeps_the_newest():
    bus = Bus(ring_bytes=200_000)
    for n in range(5_000):
        bus.emit(ev.PipelineStageUpdate(session_id="s", item_id=f"s:i{n}", stage="image", previous="model"))
    assert bus.ring_held_bytes <= 200_000
    kept = bus.since(bus.last_seq - 10)
    assert [r.seq for r in kept] == list(range(bus.last_seq - 9, bus.last_seq + 1))
    assert bus.since(1) is None  # older than the ring: the caller reads the events table


def test_the_projector_forgets_a_finished_items_rows_once_they_are_written_and_a_failed_write_keeps_them():
    bus, projector = Bus(), Projector()
    emit = bus.emit
    emit(ev.GenerationStart(session_id="s", total=2, provider="standin", speed="fast", concurrency=2,
                            budget_usd=None, catalog="c", simulated=True,
                            items=[{"item_id": f"s:a{n}", "asset_id": f"a{n}", "asset_type": "icons", "tier": "t",
                                    "title": f"A{n}"} for n in range(2)]))
    projector.apply(bus.take_pending())
    projector.take_dirty()
    assert projector.held_rows()["items"] == 0  # pending rows, written: their item_started brings them back
    for n in range(2):
        emit(ev.ItemStarted(session_id="s", item_id=f"s:a{n}", asset_id=f"a{n}", asset_type="icons", tier="t",
                            title=f"A{n}"))
        emit(ev.OpenrouterApiCall(session_id="s", item_id=f"s:a{n}", call_id=f"c{n}", purpose="image",
                                  model="m", attempt=1, estimated_cost_usd=0.01))
    emit(ev.ItemFinished(session_id="s", item_id="s:a0", outcome="saved", reason="", cost_usd=0.01))
    projector.apply(bus.take_pending())
    frames, taken = projector.take_dirty()
    started = frames["items"].to_pylist()
    assert {r["item_id"]: r["cost_usd"] for r in started} == {"s:a0": 0.01, "s:a1": 0.0}
    assert projector.held_rows()["items"] == 1 and projector.held_rows()["api_calls"] == 1  # a1 is in flight
    projector.restore_dirty(taken)  # the write failed: the finished item's rows come back to be written again
    assert projector.held_rows()["items"] == 2 and projector.held_rows()["api_calls"] == 2
    frames, _ = projector.take_dirty()
    assert {r["item_id"] for r in frames["items"].to_pylist()} == {"s:a0", "s:a1"}
    assert projector.held_rows()["items"] == 1


def test_an_item_that_ends_before_it_began_gets_a_complete_row(settings):
    bus, projector = Bus(), Projector()
    bus.emit(ev.ItemFinished(session_id="s", item_id="s:a0", outcome="aborted", reason="aborted by operator",
                             cost_usd=0.0, planned={"asset_id": "a0", "asset_type": "icons", "tier": "t",
                                                    "title": "A0"}))
    projector.apply(bus.take_pending())
    frames, _ = projector.take_dirty()
    row = frames["items"].to_pylist()[0]
    assert (row["asset_id"], row["title"], row["status"], row["session_id"]) == ("a0", "A0", "aborted", "s")


def test_the_events_explorer_finds_what_a_full_scan_finds(tmp_path):
    store = Store(tmp_path / "studio.duckdb")
    store.migrate()
    with store.write() as con:
        con.execute("INSERT INTO events SELECT range, now(), 's', 's:i' || (range % 7), "
                    "CASE WHEN range % 1000 = 0 THEN 'rare' ELSE 'common' END, '{}' FROM range(1, 60001)")
    started = time.monotonic()
    newest = events_explorer(store, limit=50)
    assert list(newest["seq"]) == list(range(60000, 59950, -1))
    rare = events_explorer(store, types=["rare"], limit=100)  # spread over the whole log
    assert list(rare["seq"]) == list(range(60000, 0, -1000))
    ranged = events_explorer(store, seq_from=100, seq_to=120, item_id="i3", limit=10)
    assert list(ranged["seq"]) == [seq for seq in range(120, 99, -1) if seq % 7 == 3]
    assert time.monotonic() - started < 30


def test_columns_of_mixed_kinds_are_written_as_the_table_types_them(tmp_path):
    from engine.store.columns import Columns, insert_columns

    store = Store(tmp_path / "studio.duckdb")
    rows = [{"score_id": "a", "value": 1, "version": 2, "passed": True, "detail": {"k": [1, 2]}},
            {"score_id": "b", "value": 0.5, "version": "v3", "passed": None},  # int and float; int and text
            {"score_id": "c"}]
    with store.write() as con:
        insert_columns(con, "scores", Columns.from_rows(rows, json_columns=["detail"]), replace=True)
        insert_columns(con, "scores", Columns.from_rows(rows[:1], json_columns=["detail"]), replace=True)
    got = store.query("SELECT score_id, value, version, passed, detail->'k'->>1 FROM scores ORDER BY score_id")
    assert got == [("a", 1.0, "2", True, "2"), ("b", 0.5, "v3", None, None), ("c", None, None, None, None)]


def test_the_engine_writes_events_and_rows_without_importing_pyarrow_or_pandas(tmp_path):
    # each costs tens of MB resident (pyarrow's pa.array imports pandas): the engine's memory target is 300 MB
    import subprocess
    import sys

    script = f"""
import sys
from engine import events as ev
from engine.live.bus import Bus
from engine.live.projection import Projector
from engine.live.ticker import Ticker
from engine.process.runtime import Engine
from engine.store.database import Store
bus, store = Bus(), Store({str(tmp_path / "studio.duckdb")!r})
bus.emit(ev.GenerationStart(session_id="s", total=1, provider="standin", speed="fast", concurrency=1,
                            budget_usd=None, catalog="c", simulated=True,
                            items=[{{"item_id": "s:a", "asset_id": "a", "asset_type": "icons", "tier": "t", "title": "A"}}]))
assert Ticker(store, bus, Projector()).flush() == 1
assert store.query("SELECT count(*) FROM items")[0][0] == 1
print(sorted(m for m in ("pyarrow", "pandas") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _resident_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_freed_c_heap_goes_back_to_the_system_when_trimmed():
    """What thousands of finished items freed stays resident in glibc's heap until trimmed (issue 14)."""
    from engine.process.runtime import release_freed_memory

    release_freed_memory()
    blocks = [bytes(2048) for _ in range(20_000)]  # ~40 MB of C heap (Python objects over 512 bytes)
    kept = blocks[::64]  # a few survivors pin the top of the heap, as long-lived objects do
    del blocks
    before = _resident_kb()
    release_freed_memory()
    after = _resident_kb()
    assert before - after > 20_000, (before, after)  # KB given back
    assert len(kept) == 313


@pytest.mark.slow  # an engine with its threads
def test_the_engine_trims_its_heap_every_few_seconds_and_stops_cleanly(settings):
    async def main():
        engine = Engine(settings, serve_websockets=False)
        engine.trim_every_s = 0.05
        async with engine:
            deadline = time.monotonic() + 10
            while engine.heap_trims < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        return engine

    engine = asyncio.run(main())
    assert engine.heap_trims >= 3 and engine._trim_task.done()


@pytest.mark.slow
def test_items_are_listed_a_few_pages_ahead_of_the_feeder_not_all_at_once(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(ev, "ITEMS_PER_EVENT", 5)  # 60 items: generation_start's page and eleven more of five
    catalog = write_catalog(tmp_path / "catalog.toml", 60)

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            await engine.run_session(_spec(catalog), session_id="s-ahead")

    asyncio.run(main())
    store = Store(settings.db_path)
    listed, started = {}, {}
    for seq, kind, item_id, payload in store.query(
            "SELECT seq, type, item_id, payload FROM events WHERE session_id = 's-ahead' AND type IN "
            "('generation_start', 'items_planned', 'item_started') ORDER BY seq"):
        if kind == "item_started":
            started[item_id] = seq
        else:
            listed.update({i["item_id"]: seq for i in json.loads(payload)["items"] or []})
    assert len(listed) == len(started) == 60
    assert all(listed[i] < started[i] for i in started)  # every item is listed before it begins ...
    first_start = min(started.values())
    # ... but only a few pages are listed before the first item begins, and the last page long after it
    assert sum(1 for seq in set(listed.values()) if seq < first_start) <= 1 + 2
    assert max(listed.values()) > sorted(started.values())[40]
    rows = store.query("SELECT count(*), count(*) FILTER (WHERE status = 'saved' AND title IS NOT NULL) "
                       "FROM items WHERE session_id = 's-ahead'")[0]
    assert rows == (60, 60)  # no finished row went back to pending when a later page was listed


@pytest.mark.slow
def test_after_a_session_the_engine_compacts_the_row_groups_its_ticks_left(settings, tmp_path, monkeypatch):
    """Console reads pay per row group, and each tick leaves its own (issue 14: pages over 2 s at 50,000 items)."""
    from engine.process import runtime

    monkeypatch.setattr(runtime, "COMPACT_AFTER_SESSION_EVENTS", 100)  # a 40-item session writes ~1,500 events
    catalog = write_catalog(tmp_path / "catalog.toml", 40)

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            await engine.run_session(_spec(catalog), session_id="s-compact")
            return engine.compactions

    assert asyncio.run(main()) == 1
    store = Store(settings.db_path)
    groups = store.query("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('events')")[0][0]
    assert groups <= 2  # the ticks after the compaction (the engine's stop) may add one
    assert set(assert_each_item_ends_once(store, "s-compact").values()) == {"saved"}
