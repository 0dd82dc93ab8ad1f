"""The write-ahead journal: durable before published, checksummed, replayed, bounded, never reusing a seq."""
from __future__ import annotations

import threading
from pathlib import Path

from helpers.live_engine import icons_spec, live_engine, query, run_async

import engine.events as ev
from engine.live.bus import Bus
from engine.live.journal import Journal, encode_group, encode_line, read_journal
from engine.live.projection import Projector
from engine.live.ticker import Ticker
from engine.store.database import Store

SID = "s-20261201-0001"


def journalled_bus(directory: Path, **kw) -> tuple[Bus, Journal]:
    journal = Journal(directory, **kw)
    bus = Bus(journal=journal)
    journal.start(bus.publish_durable)
    return bus, journal


def progress(n: int) -> ev.Event:
    return ev.ProgressUpdate(session_id=SID, done=n, total=100, in_flight=1, eta_s=None, elapsed_s=0.0, counts={})


def bus_frame(seq: int) -> str:
    """The frame the bus gives the event numbered ``seq`` (what the journal writes)."""
    return Bus(start_seq=seq - 1).emit(progress(seq)).frame


def test_a_subscriber_sees_an_event_only_once_it_is_on_disk(tmp_path):
    on_disk_when_seen: list[bool] = []
    bus, journal = journalled_bus(tmp_path / "journal")
    bus.subscribe(lambda r: on_disk_when_seen.append(
        r.seq in {e.seq for e in read_journal(tmp_path / "journal")}))
    for n in range(50):
        bus.emit(progress(n))
    journal.close()
    assert len(on_disk_when_seen) == 50 and all(on_disk_when_seen)
    assert [e.seq for e in read_journal(tmp_path / "journal")] == list(range(1, 51))


def test_many_events_share_one_fsync(tmp_path):
    bus, journal = journalled_bus(tmp_path / "journal", window_s=0.005)
    threads = [threading.Thread(target=lambda: [bus.emit(progress(n)) for n in range(500)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    assert journal.written == 2000 and journal.groups < 200
    assert [e.seq for e in read_journal(tmp_path / "journal")] == list(range(1, 2001))


def test_a_torn_or_corrupt_tail_is_cut_by_its_checksum(tmp_path):
    directory = tmp_path / "journal"
    directory.mkdir()
    frames = [bus_frame(s) for s in range(1, 7)]
    good = encode_group(frames[:2]) + encode_group(frames[2:3])
    flipped = bytearray(encode_group(frames[3:5]))
    flipped[-5] ^= 0x01  # one bit of a payload: the group's checksum no longer matches
    segment = directory / "0000000000000001-a.log"
    segment.write_bytes(good + bytes(flipped) + encode_group(frames[5:])[:-7])  # then a torn group
    journal = Journal(directory)
    assert [e.seq for e in journal.recover()] == [1, 2, 3]
    assert segment.read_bytes() == good  # cut, so the next writer appends after intact records only


def test_a_replayed_record_has_the_fields_and_the_exact_payload_text_it_was_emitted_with(tmp_path):
    bus, journal = journalled_bus(tmp_path / "journal")
    emitted = [bus.emit(progress(n)) for n in range(3)]
    emitted.append(bus.emit(ev.ItemStarted(session_id=SID, item_id=f"{SID}:\"odd\"\tid é", asset_id="a",
                                           asset_type="icon", tier="standard", title="Ünïcode «title»")))
    journal.close()
    replayed = read_journal(tmp_path / "journal")
    assert [(e.seq, e.ts_us, e.session_id, e.item_id, e.type, e.payload_json) for e in replayed] == \
        [(r.seq, r.ts_us, r.session_id, r.item_id, r.type, r.payload_json) for r in emitted]


def test_a_segment_written_one_line_per_record_before_groups_is_still_read(tmp_path):
    directory = tmp_path / "journal"
    directory.mkdir()
    old = b"".join(encode_line(s, 1_700_000_000_000_000 + s, SID, None, "progress_update", '{"done":1}')
                   for s in (1, 2))
    (directory / "0000000000000001-a.log").write_bytes(old)
    (directory / "0000000000000003-b.log").write_bytes(encode_group([bus_frame(3)]))
    entries = Journal(directory).recover()
    assert [(e.seq, e.ts_us, e.payload_json) for e in entries[:2]] == \
        [(1, 1_700_000_000_000_001, '{"done":1}'), (2, 1_700_000_000_000_002, '{"done":1}')]
    assert [e.seq for e in entries] == [1, 2, 3]


def test_drained_segments_are_deleted_so_the_journal_stays_bounded(tmp_path, store):
    bus, journal = journalled_bus(tmp_path / "journal", segment_bytes=4096)
    ticker = Ticker(store, bus, Projector())
    for n in range(2000):
        bus.emit(progress(n))
        if n % 200 == 0:
            ticker.flush()
    run_async(ticker.drain())
    journal.close()
    assert store.query("SELECT count(*), max(seq) FROM events") == [(2000, 2000)]
    assert list((tmp_path / "journal").glob("*.log")) == []


def test_the_engine_replays_what_the_database_lacks_and_never_reuses_a_seq(tmp_path):
    """A kill -9 after events were journalled (and maybe broadcast) but before the ticker wrote them."""
    data = tmp_path / "data"
    store = Store(data / "studio.duckdb")
    store.migrate()
    # a dead engine's journal: a whole small session, none of it in the file
    bus, journal = journalled_bus(data / "journal")
    bus.emit(ev.GenerationStart(session_id=SID, total=1, provider="standin", speed="normal", concurrency=1,
                                budget_usd=None, catalog="x", simulated=True, resumed=False, params={},
                                items=[{"item_id": f"{SID}:a", "asset_id": "a", "asset_type": "icon",
                                        "tier": "t", "title": "A"}]))
    bus.emit(ev.OpenrouterApiCall(session_id=SID, item_id=f"{SID}:a", call_id="c-1", purpose="image", model="m",
                                  attempt=1, estimated_cost_usd=0.05))
    bus.emit(ev.ApiCallFinished(session_id=SID, item_id=f"{SID}:a", call_id="c-1", model="m", status="ok",
                                http_status=200, latency_ms=1.0, prompt_tokens=1, completion_tokens=1,
                                cost_usd=0.04, error=None, generation_id="gen-1"))
    journal.close()
    store.close()

    async def scenario():
        async with live_engine(data) as (engine, _):
            assert engine.replayed == 3
            record = engine.bus.emit(progress(1))
            await engine.bus.durable(record.seq)
            await engine.flush()
            calls = await query(engine, "SELECT status, cost_usd, generation_id FROM api_calls")
            events = await query(engine, "SELECT seq, type FROM events ORDER BY seq")
            return record.seq, calls, events
    new_seq, calls, events = run_async(scenario())
    assert new_seq > 3
    assert calls == [{"status": "ok", "cost_usd": 0.04, "generation_id": "gen-1"}]
    seqs = [e["seq"] for e in events]
    assert seqs[:3] == [1, 2, 3] and seqs == list(range(1, len(seqs) + 1))


def test_a_paid_call_is_on_disk_before_its_request_is_sent(tmp_path):
    """At every request the stand-in receives, the journal holds at least as many call starts as were sent."""
    async def scenario():
        async with live_engine(tmp_path / "data") as (engine, recorder):
            starts_on_disk_vs_sent: list[tuple[int, int]] = []

            from engine.session.resume import make_client

            def client_factory(spec, *, price_book=None):
                client = make_client(spec, price_book=price_book)
                original = client.chat_once

                async def chat_once(**kw):
                    on_disk = sum(e.type == "openrouter_api_call" for e in read_journal(engine.settings.journal_dir))
                    starts_on_disk_vs_sent.append((on_disk, len(starts_on_disk_vs_sent) + 1))
                    return await original(**kw)
                client.chat_once = chat_once
                return client
            engine.client_factory = client_factory
            run = await engine.run_session(icons_spec(2, approval=False), session_id=SID)
            return run.counts(), starts_on_disk_vs_sent
    counts, seen = run_async(scenario())
    assert counts == {"saved": 2} and len(seen) >= 8
    assert all(on_disk >= sent for on_disk, sent in seen), seen


def test_a_resume_adopts_an_image_with_the_cost_its_provenance_records_and_keeps_item_costs(tmp_path):
    """An image on disk whose bill never reached the log (as after a lost tail) counts once, at its recorded cost;
    items.cost_usd, item_finished and the session total are the sums of the item's calls across runs."""
    data = tmp_path / "data"

    async def first_run():
        async with live_engine(data) as (engine, _):
            await engine.run_session(icons_spec(2, approval=False), session_id=SID)
    run_async(first_run())
    store = Store(data / "studio.duckdb")
    item, call_id, image_cost = store.query(
        "SELECT item_id, call_id, cost_usd FROM api_calls WHERE purpose = 'image' AND status = 'ok' LIMIT 1")[0]
    assert image_cost > 0
    with store.write() as con:  # the bill and the item's end were lost; the PNG (with its provenance) was not
        con.execute("UPDATE api_calls SET cost_usd = 0, status = 'interrupted' WHERE call_id = ?", [call_id])
        con.execute("UPDATE items SET status = 'in_progress', cost_usd = 0 WHERE item_id = ?", [item])
        con.execute("UPDATE sessions SET status = 'interrupted'")
    store.close()

    async def resume():
        async with live_engine(data) as (engine, recorder):
            run = await engine.run_session(None, session_id=SID, resume=True)
            await engine.flush()
            settled = recorder.first("api_cost_settled", SID, source="provenance")
            finished = recorder.first("item_finished", SID)
            return run.counts(), settled, finished, await query(
                engine, "SELECT (SELECT cost_usd FROM sessions) AS session, (SELECT sum(cost_usd) FROM api_calls) "
                        "AS calls, (SELECT sum(cost_usd) FROM items) AS items")
    counts, settled, finished, totals = run_async(resume())
    assert counts == {"saved": 2}
    assert settled is not None and settled.payload["call_id"] == call_id and settled.payload["cost_usd"] == image_cost
    assert finished.item_id == item and finished.payload["cost_usd"] > image_cost  # prompts + image, not 0
    from engine.session.save import read_provenance
    pngs = sum(read_provenance(p)["costs"]["total_usd"] for p in (data / "assets" / SID).glob("*.png"))
    row = totals[0]
    assert abs(row["session"] - row["calls"]) < 1e-9 and abs(row["calls"] - row["items"]) < 1e-9
    assert abs(row["items"] - pngs) < 1e-9


def test_after_a_busy_group_the_writer_pauses_so_the_next_records_share_one_write(tmp_path):
    bus, journal = journalled_bus(tmp_path / "journal", busy_group=100, busy_pause_s=0.5)
    with journal._cond:  # the writer takes the hundred as one group (it cannot wake while we hold its lock)
        for n in range(100):
            bus.emit(progress(n))
    for n in range(5):  # a slower trickle meanwhile: without the pause each would be its own write
        bus.emit(progress(100 + n))
        threading.Event().wait(0.01)
    journal.close()
    assert journal.written == 105 and journal.groups == 2
    assert [e.seq for e in read_journal(tmp_path / "journal")] == list(range(1, 106))


def test_a_quiet_stream_is_written_without_waiting(tmp_path):
    bus, journal = journalled_bus(tmp_path / "journal", busy_group=100, busy_pause_s=0.5)
    for n in range(5):
        bus.emit(progress(n))
        assert bus.wait_published(bus.assigned_seq, timeout=0.4), "a small group waited for the busy pause"
    journal.close()
    assert journal.written == 5
