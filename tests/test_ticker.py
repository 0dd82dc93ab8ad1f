"""Bus, projector and ticker: every event numbered, fanned out, and persisted exactly once."""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import threading

import duckdb
import pytest
from helpers.backbone_procs import follow, persisted_check, spawn

import engine.events as ev
from engine.live.bus import Bus
from engine.live.projection import Projector
from engine.store.database import Store, StoreBusy
from engine.live.ticker import Ticker

SID = "s-20261128-0001"
WILL, TRUST = f"{SID}:icon-will", f"{SID}:icon-trust"
GPT, CLAUDE = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"


def ticker_for(store: Store, bus: Bus | None = None, **kw) -> Ticker:
    return Ticker(store, bus or Bus(), Projector(), **kw)


def emit_small_session(bus: Bus) -> None:
    """Two icons: one goes through competition, approval and save; the other is skipped."""
    items = [{"item_id": WILL, "asset_id": "icon-will", "asset_type": "icon", "tier": "premium", "title": "Will"},
             {"item_id": TRUST, "asset_id": "icon-trust", "asset_type": "icon", "tier": "standard", "title": "Trust"}]
    emit = bus.emit
    emit(ev.GenerationStart(session_id=SID, total=2, provider="standin", speed="normal", concurrency=2,
                            budget_usd=1.0, catalog="estate_planning_v4", simulated=True, items=items))
    emit(ev.ItemStarted(session_id=SID, item_id=WILL, asset_id="icon-will", asset_type="icon", tier="premium",
                        title="Will"))
    emit(ev.PromptTemplateStart(session_id=SID, item_id=WILL, asset_id="icon-will", asset_type="icon",
                                template_version=3))
    for n, model in enumerate((GPT, CLAUDE)):
        call = f"call-{n}"
        emit(ev.OpenrouterApiCall(session_id=SID, item_id=WILL, call_id=call, purpose="prompt", model=model,
                                  attempt=1, estimated_cost_usd=0.001))
        emit(ev.ApiCallFinished(session_id=SID, item_id=WILL, call_id=call, model=model, status="ok",
                                http_status=200, latency_ms=900.0 + n, prompt_tokens=400, completion_tokens=150,
                                cost_usd=0.0008, generation_id=f"gen-{n}"))
        emit(ev.PromptGenerated(session_id=SID, item_id=WILL, model=model, prompt=f"a quill over parchment {n}",
                                confidence=0.8 + n / 10, rationale="warm", call_id=call, latency_ms=900.0,
                                cost_usd=0.0008))
    emit(ev.ModelDecision(session_id=SID, item_id=WILL, winner=CLAUDE, reasoning="clearest", rule="score",
                          scores=[{"model": GPT, "score": 0.7}, {"model": CLAUDE, "score": 0.9}]))
    emit(ev.ModelWinnerSelected(session_id=SID, item_id=WILL, model=CLAUDE, prompt="a quill over parchment 1",
                                score=0.9, confidence=0.9))
    emit(ev.ApprovalRequest(session_id=SID, batch_id="b-1", items=[{"item_id": WILL}], estimated_cost_usd=0.04,
                            expires_at="2026-11-28T05:00:00+00:00", timeout_policy="hold"))
    emit(ev.ApproveBatch(session_id=SID, batch_id="b-1", decision_id=1, decided_by="ana", comment=None,
                         item_ids=[WILL]))
    emit(ev.ItemFinished(session_id=SID, item_id=WILL, outcome="saved", reason="", cost_usd=0.0416,
                         image_path="assets/icon-will.png"))
    emit(ev.ItemFinished(session_id=SID, item_id=TRUST, outcome="skipped", reason="operator", cost_usd=0.0))
    emit(ev.ProgressUpdate(session_id=SID, done=2, total=2, in_flight=0, eta_s=0.0, elapsed_s=3.5))
    emit(ev.CostUpdate(session_id=SID, total_usd=0.0416, delta_usd=0.04, by_model={CLAUDE: 0.0416}, budget_usd=1.0,
                       reserved_usd=0.0, simulated=True))
    emit(ev.GenerationComplete(session_id=SID, outcome="completed", counts={"saved": 1, "skipped": 1},
                               cost_usd=0.0416, duration_s=3.5))


def progress(n: int, session_id: str = SID) -> ev.ProgressUpdate:
    return ev.ProgressUpdate(session_id=session_id, done=n, total=100, in_flight=1, eta_s=None, elapsed_s=1.0)


def test_concurrent_emitters_get_gap_free_seq_in_order(store):
    bus = Bus()
    seen: dict[str, list[int]] = {}

    def emitter(name: str) -> None:
        seen[name] = [bus.emit(progress(i, name)).seq for i in range(500)]

    threads = [threading.Thread(target=emitter, args=(f"s-{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(seqs == sorted(seqs) for seqs in seen.values())  # each emitter's events stay in its order
    assert sorted(s for seqs in seen.values() for s in seqs) == list(range(1, 2001))
    assert ticker_for(store, bus).flush() == 2000
    assert store.query("SELECT list(seq ORDER BY seq) = range(1, 2001) FROM events")[0][0]


def test_flush_writes_events_and_projected_rows_in_one_transaction(store):
    bus, before = Bus(), store.stats["transactions"]
    emit_small_session(bus)
    assert ticker_for(store, bus).flush() == bus.last_seq
    assert store.stats["transactions"] - before == 1

    assert persisted_check(store)["gap_free"]
    session = store.query_dicts("SELECT * FROM sessions")[0]
    assert (session["status"], session["outcome"], session["items_done"], session["items_total"]) == \
        ("completed", "completed", 2, 2)
    assert session["cost_usd"] == pytest.approx(0.0416) and session["simulated"] and session["provider"] == "standin"
    items = {r["item_id"]: r for r in store.query_dicts("SELECT * FROM items")}
    assert (items[WILL]["status"], items[WILL]["winner_model"], items[WILL]["template_version"],
            items[WILL]["image_path"], items[WILL]["batch_id"]) == ("saved", CLAUDE, 3, "assets/icon-will.png", "b-1")
    assert (items[TRUST]["status"], items[TRUST]["reason"], items[TRUST]["stage"]) == ("skipped", "operator", "done")
    calls = store.query("SELECT call_id, status, http_status, cost_usd, simulated FROM api_calls ORDER BY 1")
    assert calls == [("call-0", "ok", 200, 0.0008, True), ("call-1", "ok", 200, 0.0008, True)]
    proposals = store.query("SELECT model, is_winner, score FROM proposals ORDER BY model")
    assert proposals == [(CLAUDE, True, 0.9), (GPT, False, 0.7)]
    approval = store.query_dicts("SELECT * FROM approvals")[0]
    assert (approval["status"], approval["decided_by"], json.loads(approval["item_ids"])) == \
        ("approved", "ana", [WILL])


def test_a_failing_projection_rolls_back_with_its_events_then_the_log_goes_on(store):
    bus = Bus()
    ticker = ticker_for(store, bus)
    bus.emit(progress(1))
    # a batch without an id cannot become an approvals row (primary key): a projection bug
    bus.emit(ev.ApprovalRequest(session_id=SID, batch_id=None, items=[], estimated_cost_usd=0.0,
                                expires_at="2026-11-28T05:00:00+00:00", timeout_policy="hold"))
    with pytest.raises(duckdb.Error):
        ticker.flush()
    assert store.query("SELECT count(*) FROM events")[0][0] == 0  # same transaction: nothing half-written
    assert ticker.flush() == 2  # the second failure drops the bad rows, never the event log
    assert persisted_check(store) == {"count": 2, "distinct": 2, "min_seq": 1, "max_seq": 2, "gap_free": True}


def test_rows_over_duckdbs_memory_limit_wait_for_the_raised_limit_and_are_never_dropped(store, db_path):
    small = Store(db_path, memory_limit="1MB")  # each failing transaction doubles it: 1 -> 2 -> 4 -> 8 -> 16 MB
    ticker = ticker_for(small)
    items = [{"item_id": f"{SID}:icon-{n}", "asset_id": f"icon-{n}", "asset_type": "icon", "tier": "standard",
              "title": "Will"} for n in range(3000)]
    ticker.bus.emit(ev.GenerationStart(session_id=SID, total=len(items), provider="standin", speed="normal",
                                       concurrency=2, budget_usd=1.0, catalog="estate_planning_v4", simulated=True,
                                       items=items))
    for item in items:
        ticker.bus.emit(ev.ItemStarted(session_id=SID, item_id=item["item_id"], asset_id=item["asset_id"],
                                       asset_type="icon", tier="standard", title="Will"))
    failures = 0
    while True:
        try:
            ticker.flush()
            break
        except duckdb.Error as exc:
            assert "memory" in str(exc).lower() or "allocate" in str(exc)
            failures += 1
            assert failures < 10, "the memory limit was not raised"
    assert failures >= 2  # past the second failure, which drops a projection bug's rows
    assert store.query("SELECT count(*) FROM items WHERE session_id = ?", [SID]) == [(3000,)]
    assert persisted_check(store)["count"] == 3001


def test_an_event_the_projector_cannot_fold_is_still_logged_and_the_batch_goes_on(store, caplog):
    bus = Bus()
    emit_small_session(bus)
    bus.emit(ev.ApprovalRequest(session_id=SID, batch_id="b-2", items=[], estimated_cost_usd=0.0,
                                expires_at="not a date", timeout_policy="hold"))
    bus.emit(progress(9))
    with caplog.at_level(logging.ERROR, logger="engine.live.projection"):
        assert ticker_for(store, bus).flush() == bus.last_seq
    assert "could not project approval_request event" in caplog.text
    assert persisted_check(store)["count"] == bus.last_seq
    assert store.query("SELECT items_done FROM sessions") == [(9,)]  # folded after the bad one


def test_a_locked_file_keeps_events_buffered_until_a_later_flush_writes_them_once(store, db_path, wait_until):
    bus = Bus()
    ticker = ticker_for(Store(db_path, lock_timeout=0.3), bus)
    emit_small_session(bus)
    first = bus.last_seq
    holder = spawn("hold", db_path, stdin=subprocess.PIPE)
    lines = follow(holder)
    try:
        wait_until(lambda: lines, message="the holder to lock the file")
        for _ in range(2):
            with pytest.raises(StoreBusy):
                ticker.flush()
            bus.emit(progress(7))  # the engine goes on emitting while the file is locked
        assert ticker.backlog == bus.last_seq == first + 2
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert ticker.flush() == first + 2
    assert ticker.flush() == 0
    assert ticker.failures == 2
    assert persisted_check(store) == {"count": first + 2, "distinct": first + 2, "min_seq": 1,
                                      "max_seq": first + 2, "gap_free": True}
    assert store.query("SELECT status, items_done FROM sessions") == [("completed", 7)]


def test_a_failing_handler_does_not_stop_the_tick(store, caplog):
    ran = []

    class Broken:
        def on_tick(self, con):
            raise RuntimeError("handler bug")

    class Fine:
        def on_tick(self, con):
            ran.append(con.execute("SELECT count(*) FROM controls").fetchone()[0])

    bus = Bus()
    ticker = ticker_for(store, bus, handlers=[Broken(), Fine()])
    bus.emit(progress(1))
    with caplog.at_level(logging.ERROR, logger="engine.live.ticker"):
        assert ticker.flush() == 1
    assert ran == [0]
    assert "handler bug" in caplog.text
    assert store.query("SELECT count(*) FROM events")[0][0] == 1


def test_events_a_handler_emits_land_in_the_same_commit(store):
    bus = Bus()

    class Applier:
        def on_tick(self, con):
            for (control_id,) in con.execute("UPDATE controls SET applied_at = now() WHERE applied_at IS NULL "
                                             "RETURNING control_id").fetchall():
                bus.emit(ev.ControlFlagChange(session_id=SID, command="pause", previous="running", new="paused",
                                              reason="operator", control_id=control_id, source="sql"))

    store.execute("INSERT INTO controls (session_id, command) VALUES (?, 'pause')", [SID])
    assert ticker_for(store, bus, handlers=[Applier()]).flush() == 1
    assert store.query("SELECT type, payload->>'control_id' FROM events") == [("control_flag_change", "1")]


def test_the_ring_keeps_the_newest_groups_within_both_bounds_and_counts_its_bytes_exactly():
    from engine.live.bus import _weight

    source = Bus()
    records = [source.emit(progress(n)) for n in range(40)]
    weight = _weight(records[0])
    bus = Bus(ring_size=12, ring_bytes=10 * weight)
    for group in (records[:3], records[3:20], records[20:22], records[22:40]):  # one group larger than the ring
        bus.publish_durable(group)
        expected: list = []  # the newest records that fit both bounds
        for record in reversed(records[:group[-1].seq]):
            if len(expected) == 12 or sum(_weight(r) for r in expected) + _weight(record) > 10 * weight:
                break
            expected.insert(0, record)
        assert bus.since(expected[0].seq - 1) == expected
        assert expected[0].seq == 1 or bus.since(expected[0].seq - 2) is None  # nothing older is held
        assert bus.ring_held_bytes == sum(_weight(r) for r in expected)


def test_since_serves_the_ring_or_says_it_cannot():
    bus = Bus(ring_size=5)
    assert bus.since(0) == []  # nothing emitted yet: nothing missed
    for n in range(8):
        bus.emit(progress(n))
    assert bus.since(8) == []
    assert [r.seq for r in bus.since(5)] == [6, 7, 8]
    assert [r.seq for r in bus.since(3)] == [4, 5, 6, 7, 8]  # exactly what the ring still holds
    assert bus.since(2) is None and bus.since(0) is None  # the caller must go to the database
    resumed = Bus(start_seq=40)
    assert resumed.since(40) == [] and resumed.since(12) is None
    frame = json.loads(bus.since(7)[0].frame)
    assert (frame["type"], frame["seq"], frame["event"], frame["session_id"], frame["item_id"]) == \
        ("event", 8, "progress_update", SID, None)
    assert frame["payload"] == progress(7).payload()


def test_subscribers_get_every_record_and_a_broken_one_does_not_stop_emit(caplog):
    bus, got = Bus(), []
    bus.subscribe(lambda record: 1 / 0)
    bus.subscribe(got.append)
    with caplog.at_level(logging.ERROR, logger="engine.live.bus"):
        records = [bus.emit(progress(n)) for n in range(3)]
    assert got == records
    assert "event subscriber failed" in caplog.text


def test_backlog_warning_once_per_episode(caplog):
    bus = Bus(backlog_warning=10)
    with caplog.at_level(logging.WARNING, logger="engine.live.bus"):
        for n in range(30):
            bus.emit(progress(n))
        assert [r.getMessage() for r in caplog.records] == [caplog.records[0].getMessage()]
        assert "11 events are waiting to be written" in caplog.records[0].getMessage()
        assert len(bus.take_pending()) == 30  # the lock is gone: the backlog drains...
        bus.emit(progress(0))
        bus.take_pending()  # ...and a normal tick re-arms the warning
        for n in range(11):
            bus.emit(progress(n))
    assert len(caplog.records) == 2


def test_run_ticks_until_stopped_and_drains_what_is_left(store):
    bus = Bus()
    ticker = ticker_for(store, bus, interval=0.05, keep_lag_samples=1000)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker.run(stop))
        bus.emit(progress(1))
        async with asyncio.timeout(10):
            while ticker.persisted_seq < 1:  # a tick of its own, before any stop
                await asyncio.sleep(0.01)
        for n in range(50):
            bus.emit(progress(n))
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    assert ticker.flushes >= 2 and ticker.backlog == 0
    assert persisted_check(store)["count"] == 51
    assert len(ticker.lag_samples) == 51 and all(0 <= lag < 10 for lag in ticker.lag_samples)
