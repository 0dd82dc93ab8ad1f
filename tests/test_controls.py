"""Operator controls on a running session: pause, resume, skip, abort, speed, and rows that make no sense.

Control rows are inserted by another process through a plain DuckDB connection, as any
user's own query would (helpers.engine_child.SqlShell); the engine applies them on its tick.
"""
from __future__ import annotations

import asyncio
from collections import Counter


from helpers.engine_child import SqlShell
from helpers.live_engine import applied_result, icons_spec, live_engine, query, run_async, start_session, until

SID = "s-controls"
INSERT_CONTROL = ("INSERT INTO controls (session_id, command, arg, item_id, requested_by, source) "
                  "VALUES (?, ?, ?, ?, 'tester', 'sql') RETURNING control_id, epoch_us(created_at)")


async def control(shell: SqlShell, command, *, session_id=SID, arg=None, item_id=None) -> tuple[int, int]:
    row = (await shell.aexecute(INSERT_CONTROL, [session_id, command, arg, item_id]))[0]
    return int(row[0]), int(row[1])


async def control_result(engine, control_id: int) -> str:
    return await applied_result(engine, "controls", control_id)


def flag_for(rec, control_id: int):
    return rec.first("control_flag_change", SID, control_id=control_id)


async def applied_flag(rec, control_id: int):
    return await until(lambda: flag_for(rec, control_id), timeout=5, message=f"control_flag_change of {control_id}")


async def controlled_session(tmp_path, body, spec):
    """Run ``spec`` as SID and ``body(engine, recorder, shell)`` beside it; returns (body's result, engine)."""
    data = tmp_path / "data"
    with SqlShell(data / "studio.duckdb") as shell:
        async with live_engine(data) as (engine, rec):
            task = start_session(engine, spec, SID)
            result = await body(engine, rec, shell)
            await asyncio.wait_for(task, 30)
            return result, engine


def in_flight(rec) -> int:
    return len(rec.of("openrouter_api_call", SID)) - len(rec.of("api_call_finished", SID))


def test_pause_starts_no_new_call_until_resume_and_resume_finishes_the_session(tmp_path):
    async def body(engine, rec, shell):
        await until(lambda: len(rec.of("api_call_finished", SID)) >= 3, message="three calls finished")
        pause_id, pause_created = await control(shell, "pause")
        paused = await applied_flag(rec, pause_id)
        assert paused.payload["previous"] == "running" and paused.payload["new"] == "paused"
        assert paused.ts_us - pause_created <= 1_000_000  # from INSERT to control_flag_change
        # calls already in flight finish; then the session stays quiet for a few more ticks
        await until(lambda: in_flight(rec) == 0, message="calls in flight to finish")
        flushes = engine.ticker.flushes
        await until(lambda: engine.ticker.flushes >= flushes + 4, message="four more ticks")
        assert (await query(engine, "SELECT status, pause_reason FROM sessions"))[0] == \
            {"status": "paused", "pause_reason": "operator"}
        resume_id, _ = await control(shell, "resume")
        assert await control_result(engine, resume_id) == "resumed"
        return paused, await applied_flag(rec, resume_id)

    (paused, resumed), engine = run_async(controlled_session(
        tmp_path, body, icons_spec(12, latency_scale=0.05, approval=False)))
    started = engine.store.query_dicts("SELECT seq, ts FROM events WHERE type = 'openrouter_api_call'")
    assert not [c for c in started if paused.seq < c["seq"] < resumed.seq]
    calls = engine.store.query_dicts("SELECT started_at, status FROM api_calls WHERE session_id = ?", [SID])
    window = engine.store.query("SELECT min(ts), max(ts) FROM events WHERE seq IN (?, ?)",
                                [paused.seq, resumed.seq])[0]
    assert not [c for c in calls if window[0] < c["started_at"] < window[1]]
    assert {c["status"] for c in calls} == {"ok"}  # the calls in flight at the pause finished normally
    session = engine.store.query_dicts("SELECT status, items_done FROM sessions WHERE session_id = ?", [SID])
    assert session == [{"status": "completed", "items_done": 12}]


def test_skip_cancels_the_items_call_in_flight_and_ends_it_skipped(tmp_path):
    async def body(engine, rec, shell):
        call = await until(lambda: rec.first("openrouter_api_call", SID), message="a call in flight")
        control_id, _ = await control(shell, "skip", item_id=call.item_id)
        assert (await control_result(engine, control_id)).startswith(f"skipped {call.item_id}")
        return call

    call, engine = run_async(controlled_session(tmp_path, body, icons_spec(1, latency_scale=1.0)))
    item = engine.store.query_dicts("SELECT status, reason FROM items WHERE item_id = ?", [call.item_id])
    assert item == [{"status": "skipped", "reason": "skipped by operator"}]
    calls = engine.store.query_dicts("SELECT call_id, status, cost_usd FROM api_calls WHERE item_id = ?",
                                     [call.item_id])
    assert call.payload["call_id"] in {c["call_id"] for c in calls}
    assert {c["status"] for c in calls} == {"cancelled"} and sum(c["cost_usd"] for c in calls) == 0
    assert engine.store.query("SELECT payload->>'outcome' FROM events WHERE type = 'generation_complete'") \
        == [("completed",)]


def _finished_per_item(engine) -> Counter:
    rows = engine.store.query("SELECT item_id FROM events WHERE type = 'item_finished' AND session_id = ?", [SID])
    return Counter(r[0] for r in rows)


def test_abort_ends_every_item_exactly_once(tmp_path):
    async def body(engine, rec, shell):
        await until(lambda: len(rec.of("item_finished", SID)) >= 2, message="two items finished")
        control_id, _ = await control(shell, "abort")
        assert (await control_result(engine, control_id)).startswith("aborting: ")
        return {r.item_id for r in rec.of("item_finished", SID)}

    _, engine = run_async(controlled_session(tmp_path, body, icons_spec(12, latency_scale=0.2, approval=False)))
    items = engine.store.query_dicts("SELECT item_id, status FROM items WHERE session_id = ?", [SID])
    assert len(items) == 12 and set(_finished_per_item(engine).values()) == {1}
    assert set(_finished_per_item(engine)) == {i["item_id"] for i in items}
    outcomes = Counter(i["status"] for i in items)
    assert outcomes["aborted"] >= 1 and set(outcomes) <= {"saved", "aborted"}
    assert engine.store.query("SELECT payload->>'outcome' FROM events WHERE type = 'generation_complete'") \
        == [("aborted",)]
    assert engine.store.query("SELECT status FROM sessions") == [("aborted",)]
    assert engine.store.query("SELECT count(*) FROM api_calls WHERE status = 'in_flight'") == [(0,)]


def test_abort_while_paused_ends_the_waiting_items_aborted(tmp_path):
    async def body(engine, rec, shell):
        await until(lambda: len(rec.of("api_call_finished", SID)) >= 1, message="a call finished")
        pause_id, _ = await control(shell, "pause")
        await applied_flag(rec, pause_id)
        abort_id, _ = await control(shell, "abort")
        assert (await control_result(engine, abort_id)).startswith("aborting: ")

    _, engine = run_async(controlled_session(tmp_path, body, icons_spec(6, latency_scale=0.5)))
    assert set(_finished_per_item(engine).values()) == {1} and len(_finished_per_item(engine)) == 6
    assert engine.store.query("SELECT status, pause_reason FROM sessions") == [("aborted", None)]


def test_repeated_controls_say_so_and_change_nothing(tmp_path):
    async def body(engine, rec, shell):
        await until(lambda: rec.first("openrouter_api_call", SID), message="a call in flight")
        resume_id, _ = await control(shell, "resume")
        first_id, _ = await control(shell, "pause")
        second_id, _ = await control(shell, "pause")
        assert await control_result(engine, resume_id) == "already running; nothing changed"
        assert (await control_result(engine, second_id)) == "already paused (operator); nothing changed"
        first, second = flag_for(rec, first_id), flag_for(rec, second_id)
        assert (first.payload["previous"], first.payload["new"]) == ("running", "paused")
        assert second.payload["previous"] == second.payload["new"] == "paused"
        assert len(rec.of("session_status", SID, status="paused")) == 1
        speed_id, _ = await control(shell, "speed", arg="normal")
        assert await control_result(engine, speed_id) == "already normal; nothing changed"
        flag = flag_for(rec, speed_id)
        assert flag.payload["previous"] == flag.payload["new"] == "normal"
        abort_id, _ = await control(shell, "abort")
        again_id, _ = await control(shell, "abort")
        assert (await control_result(engine, abort_id)).startswith("aborting")
        assert (await control_result(engine, again_id)) in (  # depends on whether the run had ended yet
            "already aborting; nothing changed", f"refused: session {SID} has just ended; nothing left to control",
            f"refused: session {SID} is aborted, not running in this engine")

    _, engine = run_async(controlled_session(tmp_path, body, icons_spec(4, latency_scale=1.0)))
    assert engine.store.query("SELECT count(*) FROM events WHERE type = 'generation_complete'") == [(1,)]


def test_speed_changes_the_limit_for_work_started_afterwards(tmp_path):
    async def body(engine, rec, shell):
        await until(lambda: rec.first("openrouter_api_call", SID), message="a call in flight")
        control_id, _ = await control(shell, "speed", session_id=None, arg="fast")  # NULL session: all running
        flag = await applied_flag(rec, control_id)
        assert (flag.payload["previous"], flag.payload["new"]) == ("normal", "fast")
        await until(lambda: engine.runs[SID].limiter.limit == 16, message="the limit to reach 16")

    _, engine = run_async(controlled_session(tmp_path, body, icons_spec(4, latency_scale=0.2)))
    assert engine.store.query("SELECT speed, status FROM sessions") == [("fast", "completed")]


def test_skipping_an_item_that_just_finished_says_so(tmp_path):
    async def body(engine, rec, shell):
        finished = await until(lambda: rec.first("item_finished", SID, outcome="saved"), message="an item saved")
        pause_id, _ = await control(shell, "pause")  # keeps the session open whatever the pace
        await applied_flag(rec, pause_id)
        control_id, _ = await control(shell, "skip", item_id=finished.item_id)
        assert (await control_result(engine, control_id)) == f"{finished.item_id} has already finished (saved)"
        resume_id, _ = await control(shell, "resume")
        assert await control_result(engine, resume_id) == "resumed"

    run_async(controlled_session(tmp_path, body, icons_spec(8, latency_scale=0.3)))


# Each bad row: (session, command, arg, item, what the result must say).
BAD_CONTROLS = [
    (SID, "explode", None, None, "refused: unknown command 'explode'"),
    (SID, None, None, None, "refused: unknown command None"),
    (SID, "PAUSE", None, None, "refused: unknown command 'PAUSE'"),
    ("s-nope", "pause", None, None, "refused: unknown session 's-nope'"),
    (SID, "skip", None, "icon-not-in-session", "refused: item 'icon-not-in-session' is not open"),
    (SID, "speed", "warp", None, "refused: speed must be one of slow, normal, fast, got 'warp'"),
    (SID, "speed", None, None, "refused: speed must be one of slow, normal, fast, got None"),
    ("s-done", "resume", None, None, "refused: session s-done is completed, not running in this engine"),
]


def test_bad_control_rows_are_refused_with_a_reason_and_the_engine_goes_on(tmp_path):
    async def body(engine, rec, shell):
        await until(lambda: rec.first("openrouter_api_call", SID), message="a call in flight")
        pause_id, _ = await control(shell, "pause")  # holds the session open while the bad rows arrive
        await applied_flag(rec, pause_id)
        await engine.run_session(icons_spec(1), session_id="s-done")  # a session that has ended
        mark = len(rec.records)
        ids = [(await control(shell, command, session_id=sid, arg=arg, item_id=item))[0]
               for sid, command, arg, item, _ in BAD_CONTROLS]
        for control_id, (*_, why) in zip(ids, BAD_CONTROLS):
            result = await control_result(engine, control_id)
            assert result.startswith(why), (why, result)
        since = [r for r in rec.records[mark:] if r.session_id == SID]
        assert not [r for r in since if r.type in ("session_status", "item_finished", "item_started")]
        assert all(r.payload["previous"] == r.payload["new"] for r in since if r.type == "control_flag_change")
        run = engine.runs[SID]
        assert run.speed == "normal" and run.paused and run.pause_reason == "operator"
        resume_id, _ = await control(shell, "resume")
        assert await control_result(engine, resume_id) == "resumed"

    _, engine = run_async(controlled_session(tmp_path, body, icons_spec(4, latency_scale=0.3)))
    assert engine.store.query("SELECT status, speed FROM sessions WHERE session_id = ?", [SID]) == \
        [("completed", "normal")]
