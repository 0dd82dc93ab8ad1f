"""The websockets server and `assetgen watch`: a real server on port 0, a real Bus, a real DuckDB file."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from engine import events as ev
from engine.live.bus import Bus
from engine.live.projection import Projector
from engine.store.database import Store
from engine.live.ticker import Ticker
from engine.ws.watch import SessionBoard, watch
from engine.ws.server import WsServer
from engine.ws.protocol import CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED, hello_message
from helpers.waiting import until

TOKEN = "test-token"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "studio.duckdb")
    s.migrate()
    yield s
    s.close()


def run(coro, timeout: float = 30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def tick(bus: Bus, i: int = 0, session_id: str = "s1") -> ev.Event:
    return ev.BatchProgress(session_id=session_id, batch_id="b1", done=i, total=1_000_000)


def emit_many(bus: Bus, n: int, session_id: str = "s1") -> None:
    for i in range(n):
        bus.emit(tick(bus, i, session_id))


@contextlib.asynccontextmanager
async def serving(store: Store, bus: Bus, **settings):
    server = WsServer(bus=bus, store=store, token=TOKEN, port=0, **settings)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def url(server: WsServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


async def greet(server: WsServer, since_seq: int | None = None, **options):
    ws = await connect(url(server), **options)
    await ws.send(hello_message(TOKEN, since_seq))
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert snapshot["type"] == "snapshot", snapshot
    return ws, snapshot


async def receive(ws, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def receive_events(ws, count: int, timeout: float = 20) -> list[dict]:
    got = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            message = json.loads(await ws.recv())
            assert message["type"] == "event", message
            got.append(message)
    return got


# -- hello, snapshot, live ------------------------------------------------------------------------
def test_hello_gets_snapshot_of_sessions_then_live_events(store):
    bus = Bus()
    bus.emit(ev.GenerationStart(session_id="s1", total=3, provider="standin", speed="normal", concurrency=1,
                                budget_usd=1.0, catalog="c", simulated=True, items=[], params={"k": 1}))
    Ticker(store, bus, Projector()).flush()

    async def scenario():
        async with serving(store, bus) as server:
            ws, snapshot = await greet(server)
            assert snapshot["last_seq"] == 1
            assert snapshot["engine"]["pid"] > 0 and snapshot["engine"]["version"]
            [session] = snapshot["sessions"]
            assert (session["session_id"], session["status"], session["items_total"]) == ("s1", "running", 3)
            assert session["params"] == {"k": 1}
            await until(lambda: server.clients == 1)
            bus.emit(ev.ItemStarted(session_id="s1", item_id="s1:a", asset_id="a", asset_type="icon",
                                    tier="core", title="A"))
            live = await receive(ws)
            assert live["seq"] == 2 and live["event"] == "item_started" and live["item_id"] == "s1:a"
            assert live["payload"]["asset_type"] == "icon"
            await ws.close()

    run(scenario())


def test_reconnect_with_since_seq_gets_exactly_the_missed_events_from_memory(store):
    bus = Bus()

    async def scenario():
        async with serving(store, bus) as server:
            ws, _ = await greet(server)
            emit_many(bus, 5)
            first = await receive_events(ws, 5)
            await ws.close()
            emit_many(bus, 7)  # missed while away
            ws, snapshot = await greet(server, since_seq=first[-1]["seq"])
            assert snapshot["since_seq"] == 5
            emit_many(bus, 3)  # live after the reconnect
            rest = await receive_events(ws, 10)
            assert [m["seq"] for m in rest] == list(range(6, 16))
            with pytest.raises(TimeoutError):  # and nothing twice
                await asyncio.wait_for(ws.recv(), 0.2)
            await ws.close()

    run(scenario())


def test_backfill_reads_the_database_when_the_ring_no_longer_reaches_back_while_events_keep_coming(store):
    bus = Bus(ring_size=10)
    ticker = Ticker(store, bus, Projector(), interval=0.02)
    emit_many(bus, 300)
    ticker.flush()  # 1..300 now only in DuckDB (the ring holds the last 10)

    async def scenario():
        async with serving(store, bus) as server:
            stop = asyncio.Event()
            ticking = asyncio.create_task(ticker.run(stop))
            producer = threading.Thread(target=emit_many, args=(bus, 2_000))
            producer.start()  # new events during the backfill, from another thread
            ws, snapshot = await greet(server, since_seq=3)
            producer.join()
            got = await receive_events(ws, 2_300 - 3)
            assert [m["seq"] for m in got] == list(range(4, 2_301))
            assert got[0]["payload"] == {"batch_id": "b1", "done": 3, "total": 1_000_000}
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.2)
            await ws.close()
            stop.set()
            await ticking

    run(scenario())


def test_events_the_snapshot_already_reflects_are_not_sent_again(store):
    bus = Bus()

    def snapshot():
        emit_many(bus, 50)  # the state moves on while the snapshot is taken (a worker thread)
        return bus.last_seq, [{"session_id": "s1", "status": "running"}]

    async def scenario():
        async with serving(store, bus, snapshot=snapshot) as server:
            ws, snap = await greet(server)
            assert snap["last_seq"] == 50
            bus.emit(tick(bus, 51))
            [first] = await receive_events(ws, 1)
            assert first["seq"] == 51
            await ws.close()

    run(scenario())


def test_events_emitted_from_several_threads_arrive_in_seq_order_without_gaps(store):
    bus = Bus()

    async def scenario():
        async with serving(store, bus) as server:
            ws, _ = await greet(server)
            await until(lambda: server.clients == 1)
            threads = [threading.Thread(target=emit_many, args=(bus, 3_000, f"s{i}")) for i in range(2)]
            for t in threads:
                t.start()
            for _ in range(30):  # and from the loop thread meanwhile
                emit_many(bus, 100)
                await asyncio.sleep(0)
            for t in threads:
                t.join()
            got = await receive_events(ws, 9_000)
            assert [m["seq"] for m in got] == list(range(1, 9_001))
            await ws.close()

    run(scenario())


# -- requests and errors --------------------------------------------------------------------------
def test_bad_json_gets_an_error_and_the_connection_stays_open(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            ws, _ = await greet(server)
            await ws.send("{not json")
            error = await receive(ws)
            assert (error["type"], error["code"]) == ("error", "bad_request")
            await ws.send(json.dumps({"type": "ping", "id": 7}))
            assert await receive(ws) == {"type": "pong", "id": 7}
            await ws.close()

    run(scenario())


def test_unknown_message_type_gets_bad_request(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            ws, _ = await greet(server)
            await ws.send(json.dumps({"type": "launch_rockets", "id": "x"}))
            error = await receive(ws)
            assert (error["code"], error["id"]) == ("bad_request", "x")
            assert "launch_rockets" in error["message"]
            await ws.close()

    run(scenario())


def test_anything_before_hello_gets_an_error_and_hello_still_works(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            async with connect(url(server)) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                assert (await receive(ws))["code"] == "hello_required"
                await ws.send(hello_message(TOKEN))
                assert (await receive(ws))["type"] == "snapshot"

    run(scenario())


def test_wrong_token_is_refused_and_closed(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            async with connect(url(server)) as ws:
                await ws.send(hello_message("guess"))
                error = await receive(ws)
                assert error["code"] == "unauthorized"
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == CLOSE_UNAUTHORIZED
                assert server.clients == 0

    run(scenario())


def test_browser_origin_other_than_the_console_is_refused_at_the_handshake(store):
    async def scenario():
        async with serving(store, Bus(), console_port=4500) as server:
            with pytest.raises(InvalidStatus) as refused:
                await connect(url(server), origin="http://evil.example")
            assert refused.value.response.status_code == 403
            for origin in ("http://localhost:4500", "http://127.0.0.1:4500", None):
                ws, _ = await greet(server, origin=origin)
                await ws.close()

    run(scenario())


def test_frames_over_one_mebibyte_are_refused(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            ws, _ = await greet(server, max_size=None)
            await ws.send("x" * (2**20 + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1009  # message too big

    run(scenario())


def test_a_command_becomes_a_controls_row_from_ws_and_the_ack_carries_its_id(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            ws, _ = await greet(server)
            await ws.send(json.dumps({"type": "command", "command": "pause", "session_id": "s1",
                                      "requested_by": "ana", "id": 41}))
            ack = await receive(ws)
            await ws.send(json.dumps({"type": "command", "command": "speed", "arg": "warp", "id": 42}))
            refused = await receive(ws)
            await ws.close()
            return ack, refused

    ack, refused = run(scenario())
    assert ack["type"] == "ack" and ack["id"] == 41
    rows = store.query_dicts("SELECT control_id, command, session_id, requested_by, source FROM controls")
    assert rows == [{"control_id": ack["control_id"], "command": "pause", "session_id": "s1",
                     "requested_by": "ana", "source": "ws"}]
    assert (refused["code"], refused["id"]) == ("bad_request", 42) and "speed" in refused["message"]


def test_a_decision_becomes_a_decisions_row_and_the_ack_carries_its_id(store):
    async def scenario():
        async with serving(store, Bus()) as server:
            ws, _ = await greet(server)
            await ws.send(json.dumps({"type": "decision", "action": "approve_items", "batch_id": "b1",
                                      "item_ids": ["s1:a"], "comment": "ok", "decided_by": "ana", "id": "d"}))
            ack = await receive(ws)
            await ws.close()
            return ack

    ack = run(scenario())
    assert ack["id"] == "d"
    [row] = store.query_dicts("SELECT decision_id, action, batch_id, item_ids, decided_by FROM decisions")
    assert row["decision_id"] == ack["decision_id"] and row["action"] == "approve_items"
    assert json.loads(row["item_ids"]) == ["s1:a"] and row["decided_by"] == "ana"


# -- slow clients ---------------------------------------------------------------------------------
def test_a_stalled_client_does_not_slow_emit_and_the_other_client_gets_everything(store):
    bus = Bus()
    total = 50_000

    async def scenario():
        async with serving(store, bus, max_queue=total) as server:
            stalled, _ = await greet(server, max_queue=1)  # never reads: its socket fills up
            reader, _ = await greet(server)
            await until(lambda: server.clients == 2)
            timings = {}

            def produce():
                started = time.perf_counter()
                emit_many(bus, total)
                timings["emit_s"] = time.perf_counter() - started

            producer = threading.Thread(target=produce)
            producer.start()
            got = await receive_events(reader, total, timeout=40)
            producer.join()
            assert [m["seq"] for m in got] == list(range(1, total + 1))
            await reader.close()
            stalled.transport.abort()
            return timings["emit_s"]

    emit_s = run(scenario(), timeout=55)
    # 50k emits with no clients at all take ~0.3-0.6 s here; a stalled socket must not add its wait.
    assert emit_s < 5.0, f"emit took {emit_s:.2f}s"


def test_a_client_that_falls_too_far_behind_is_dropped_and_told_to_reconnect_with_since_seq(store):
    bus = Bus()

    async def scenario():
        async with serving(store, bus, max_queue=100) as server:
            slow, _ = await greet(server, max_queue=1)
            await until(lambda: server.clients == 1)
            emitted = 0
            while server.dropped_clients == 0 and emitted < 400_000:
                emit_many(bus, 2_000)
                emitted += 2_000
                await asyncio.sleep(0)
            assert server.dropped_clients == 1 and server.clients == 0
            seqs = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:  # the slow client reads at last: what it got, then the close frame
                    message = json.loads(await asyncio.wait_for(slow.recv(), 10))
                    seqs.append(message["seq"])
            assert closed.value.rcvd.code == CLOSE_TOO_SLOW
            assert "since_seq" in closed.value.rcvd.reason
            assert seqs == list(range(1, len(seqs) + 1))  # a prefix, no holes: resuming is exact
            resumed, _ = await greet(server, since_seq=seqs[-1])
            rest = await receive_events(resumed, emitted - seqs[-1])
            assert rest[0]["seq"] == seqs[-1] + 1 and rest[-1]["seq"] == emitted
            await resumed.close()

    run(scenario(), timeout=55)


def test_a_dropped_client_that_never_reads_is_cut_after_the_grace_period(store):
    bus = Bus()

    async def scenario():
        async with serving(store, bus, max_queue=100, close_grace=0.2) as server:
            stalled, _ = await greet(server, max_queue=1)
            await until(lambda: server.clients == 1)
            [conn] = server._server.connections
            while server.dropped_clients == 0:
                emit_many(bus, 2_000)
                await asyncio.sleep(0)
            # its close frame sits behind data it will never read: only cutting frees the buffers
            await until(lambda: conn.state is State.CLOSED, timeout=5, message="connection cut")
            stalled.transport.abort()

    run(scenario())


def test_closing_the_server_does_not_wait_on_a_client_that_stopped_reading(store):
    bus = Bus()

    async def scenario():
        server = WsServer(bus=bus, store=store, token=TOKEN, port=0, max_queue=1_000_000, close_grace=0.3)
        await server.start()
        stalled, _ = await greet(server, max_queue=1)
        await until(lambda: server.clients == 1)
        emit_many(bus, 20_000)  # fills its socket: the close frame cannot get through
        started = time.monotonic()
        await server.close()
        stalled.transport.abort()
        return time.monotonic() - started

    assert run(scenario()) < 3.0


# -- assetgen watch -------------------------------------------------------------------------------
def test_session_board_folds_progress_cost_and_status():
    board = SessionBoard()
    board.load_snapshot({"last_seq": 0, "since_seq": 0, "sessions": [
        {"session_id": "s1", "status": "running", "items_done": 1, "items_total": 4, "cost_usd": 0.01}]},
        replace=True)
    for seq, (kind, payload) in enumerate([
        ("progress_update", {"done": 2, "total": 4, "in_flight": 1, "eta_s": 65, "elapsed_s": 3}),
        ("cost_update", {"total_usd": 0.25, "delta_usd": 0.1, "by_model": {}, "budget_usd": 2.0,
                         "reserved_usd": 0, "simulated": True}),
        ("session_status", {"status": "paused", "previous": "running", "reason": "operator"}),
    ], start=1):
        assert board.apply({"type": "event", "seq": seq, "ts": "", "session_id": "s1", "item_id": None,
                            "event": kind, "payload": payload})
    assert not board.apply({"type": "event", "seq": 2, "session_id": "s1", "event": "cost_update",
                            "payload": {}})  # already seen
    [line] = board.render()
    assert "2/4" in line and "$0.2500" in line and "paused" in line and "ETA 1m0" in line
    assert "############" in line  # half the bar


def test_watch_shows_events_and_resumes_after_a_disconnect_without_repeats(store):
    bus = Bus()

    async def scenario():
        out = io.StringIO()
        server = WsServer(bus=bus, store=store, token=TOKEN, port=0)
        await server.start()
        port = server.port
        stop = asyncio.Event()
        viewer = asyncio.create_task(watch(f"ws://127.0.0.1:{port}", lambda: TOKEN, events=True, out=out,
                                           interactive=False, redraw_every=0.02,
                                           retry_delays=(0.05, 0.2), stop=stop))
        await until(lambda: server.clients == 1)
        bus.emit(ev.GenerationStart(session_id="s1", total=4, provider="standin", speed="normal",
                                    concurrency=1, budget_usd=None, catalog="c", simulated=True))
        bus.emit(ev.ProgressUpdate(session_id="s1", done=1, total=4, in_flight=1, eta_s=9, elapsed_s=1))
        await until(lambda: "1/4" in out.getvalue(), message="first progress")
        await server.close()  # the engine restarts: watch must come back and catch up
        bus.emit(ev.ProgressUpdate(session_id="s1", done=3, total=4, in_flight=1, eta_s=2, elapsed_s=2))
        server = WsServer(bus=bus, store=store, token=TOKEN, port=port)
        await server.start()
        await until(lambda: "3/4" in out.getvalue(), message="progress after reconnect")
        bus.emit(ev.GenerationComplete(session_id="s1", outcome="completed", counts={"saved": 4},
                                       cost_usd=0.5, duration_s=3))
        await until(lambda: "completed" in out.getvalue(), message="completion")
        stop.set()
        board = await viewer
        await server.close()
        return out.getvalue(), board

    text, board = run(scenario())
    for seq in (1, 2, 3, 4):
        assert text.count(f"#{seq} ") == 1, text
    assert "reconnecting from seq 2" in text
    assert board.sessions["s1"].status == "completed" and board.last_seq == 4


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_the_prebuilt_wire_frame_is_what_websockets_would_send(size):
    from websockets.frames import Frame, Opcode

    from engine.live.bus import Record
    from engine.ws.fanout import _wire_frame

    text = "x" * size
    record = Record(1, 0, None, None, "t", "{}", text)
    assert _wire_frame(record) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
