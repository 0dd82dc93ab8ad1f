"""Crash-safe resume: kill -9 the engine mid-session, then finish the session without paying twice.

The engine runs as a real `python -m engine … run` child and is killed with SIGKILL while
calls are in flight; the session is then finished by `run --resume` (a second child) or by
the daemon (serve_forever), which resumes what a dead engine left running.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from helpers.engine_child import SqlShell, engine_cli, plain_execute
from helpers.live_engine import icons_spec, live_engine, run_async, start_session, until

from engine.config import load_settings
from engine.process.runner import serve_forever
from engine.process.runtime import Engine
from engine.session.save import read_provenance
from engine.store.database import Store

ITEMS = 8


def kill_mid_session(data: Path, wait_until) -> str:
    """Run 8 icons in a child engine, SIGKILL it once 2 are saved and others are in flight; the session id.

    The database trails the engine by a tick or more on a busy machine: latencies are long enough
    (x0.5) that the session cannot finish between what the file shows and the kill."""
    proc = subprocess.Popen(engine_cli(data, "run", "--type", "icons", "--limit", ITEMS, "--latency-scale", 0.5,
                                       "--no-approval", "--ws-port", 0),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first_line: list[str] = []
    threading.Thread(target=lambda: first_line.append(proc.stdout.readline()), daemon=True).start()
    try:
        wait_until(lambda: first_line, timeout=30, message="the child to print its session id")
        session_id = first_line[0].split()[1]
        store = Store(data / "studio.duckdb", lock_timeout=10)

        def midway():
            if not (data / "studio.duckdb").exists():
                return False
            row = store.query("SELECT count(*) FILTER (status = 'saved'), count(*) FILTER (status = 'in_progress') "
                              "FROM items WHERE session_id = ?", [session_id])[0]
            return row[0] >= 2 and row[1] >= 1
        wait_until(midway, timeout=60, interval=0.05, message="two items saved and others in flight")
        store.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return session_id


def assert_paid_once_and_complete(db: Path, data: Path, session_id: str) -> None:
    store = Store(db)
    try:
        assert store.query("SELECT status FROM sessions WHERE session_id = ?", [session_id]) == [("completed",)]
        items = store.query_dicts("SELECT item_id, asset_id, status FROM items WHERE session_id = ?", [session_id])
        assert len(items) == ITEMS and {i["status"] for i in items} == {"saved"}
        pngs = {p.stem for p in (data / "assets" / session_id).glob("*.png")}
        assert pngs == {i["asset_id"] for i in items}  # images on disk = the selected assets
        assert not list((data / "assets" / session_id).glob("*.part"))
        images = Counter(r[0] for r in store.query(
            "SELECT item_id FROM api_calls WHERE session_id = ? AND purpose = 'image' AND status = 'ok'",
            [session_id]))
        assert max(images.values()) == 1, images  # no image paid for twice
        prompts = Counter(store.query("SELECT item_id, model FROM api_calls WHERE session_id = ? "
                                      "AND purpose = 'prompt' AND status = 'ok'", [session_id]))
        assert max(prompts.values()) == 1, prompts  # no competitor asked twice for the same item
        started = [r[0] for r in store.query("SELECT payload->>'call_id' FROM events WHERE session_id = ? "
                                             "AND type = 'openrouter_api_call'", [session_id])]
        assert len(started) == len(set(started))  # call ids never reused across the two engines
        assert store.query("SELECT count(*) - count(DISTINCT call_id) FROM api_calls") == [(0,)]
        finished = Counter(r[0] for r in store.query(
            "SELECT item_id FROM events WHERE session_id = ? AND type = 'item_finished'", [session_id]))
        assert set(finished.values()) == {1} and len(finished) == ITEMS  # each item ended exactly once
        interrupted, resumed = store.query(
            "SELECT min(seq) FILTER (type = 'session_status' AND payload->>'status' = 'interrupted'), "
            "max(seq) FILTER (type = 'generation_start') FROM events WHERE session_id = ?", [session_id])[0]
        assert interrupted is not None and interrupted < resumed
    finally:
        store.close()


@pytest.mark.slow
def test_after_kill_9_run_resume_finishes_the_session_without_paying_twice(tmp_path, wait_until):
    data = tmp_path / "data"
    session_id = kill_mid_session(data, wait_until)

    async def start_once():  # any engine starting on the directory marks the dead engine's sessions
        async with Engine(load_settings(data_dir=data), serve_websockets=False) as engine:
            return engine.interrupted_at_start
    assert asyncio.run(start_once()) == [session_id]
    store = Store(data / "studio.duckdb")
    assert store.query("SELECT status FROM sessions WHERE session_id = ?", [session_id]) == [("interrupted",)]
    assert store.query("SELECT count(*) FROM api_calls WHERE status = 'in_flight'") == [(0,)]
    store.close()

    resumed = subprocess.run(engine_cli(data, "run", "--resume", session_id, "--ws-port", 0),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"session {session_id} completed" in resumed.stdout
    assert_paid_once_and_complete(data / "studio.duckdb", data, session_id)


@pytest.mark.slow
def test_the_daemon_resumes_what_a_killed_engine_left_running(tmp_path, wait_until):
    data = tmp_path / "data"
    session_id = kill_mid_session(data, wait_until)
    settings = load_settings(data_dir=data, tick_seconds=0.05, ws_port=0)

    async def daemon():
        stop, ready = asyncio.Event(), asyncio.Event()
        served = asyncio.create_task(serve_forever(settings, stop=stop, ready=ready))
        await until(ready.is_set, timeout=20, message="the daemon to start")
        # the daemon's engine holds this process's handle on the file: read from another process
        with SqlShell(settings.db_path) as shell:
            try:
                jobs = await shell.aexecute("SELECT CAST(spec AS VARCHAR), requested_by FROM jobs")
                assert [(json.loads(spec), by) for spec, by in jobs] == \
                    [({"resume": session_id}, "engine (resume after restart)")]

                async def job_done():
                    return await shell.aexecute("SELECT status, session_id FROM jobs") == [["done", session_id]]
                await until(job_done, timeout=60, message="the resume job to finish", interval=0.25)
            finally:
                stop.set()
                await served

    run_async(daemon(), timeout=90)
    assert_paid_once_and_complete(settings.db_path, data, session_id)


@pytest.mark.slow
def test_a_decision_written_while_the_engine_was_down_applies_on_resume(tmp_path, wait_until):
    data = tmp_path / "data"
    db = data / "studio.duckdb"
    proc = subprocess.Popen(engine_cli(data, "run", "--type", "icons", "--limit", 12, "--latency-scale", 0,
                                       "--ws-port", 0), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        store = Store(db, lock_timeout=10)
        batch = wait_until(lambda: db.exists() and store.query_dicts(
            "SELECT batch_id, session_id, CAST(item_ids AS VARCHAR) AS item_ids FROM approvals"),
            timeout=30, interval=0.05, message="the approval request")[0]
        store.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    session_id, listed = batch["session_id"], json.loads(batch["item_ids"])
    approved = sorted(listed)[:4]
    # no engine runs now: the decision waits in its table, as a user's own INSERT would leave it
    plain_execute(db, "INSERT INTO decisions (batch_id, action, item_ids, decided_by) VALUES (?, 'approve_items', ?, "
                      "'reviewer')", [batch["batch_id"], json.dumps(approved)])

    resumed = subprocess.run(engine_cli(data, "run", "--resume", session_id, "--ws-port", 0),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    store = Store(db)
    try:
        assert store.query("SELECT result FROM decisions") == [("applied: approved 4 items, rejected 8",)]
        items = store.query_dicts("SELECT item_id, status, final_prompt, image_path FROM items")
        assert sorted(i["item_id"] for i in items if i["status"] == "saved") == approved
        assert {i["status"] for i in items if i["item_id"] not in approved} == {"rejected"}
        for item in (i for i in items if i["status"] == "saved"):
            provenance = read_provenance(Path(item["image_path"]))
            assert item["final_prompt"] and provenance["prompt"] == item["final_prompt"]
        assert store.query("SELECT count(*) FROM api_calls WHERE purpose = 'image'") == [(4,)]
    finally:
        store.close()


def test_an_engine_stopped_mid_session_leaves_it_resumable_not_completed(tmp_path):
    data = tmp_path / "data"

    async def scenario():
        async with live_engine(data) as (engine, rec):
            start_session(engine, icons_spec(4, latency_scale=0.05), "s-stopped")
            await until(lambda: rec.first("openrouter_api_call", "s-stopped"), message="a call in flight")
        assert not rec.of("generation_complete") and not rec.of("item_finished")
        assert rec.of("session_status", "s-stopped", status="interrupted")  # marked at once, not at next start
        async with live_engine(data) as (engine, rec):
            assert engine.interrupted_at_start == []  # nothing a dead engine left: this one stopped cleanly
            assert engine.store.query("SELECT status FROM sessions") == [("interrupted",)]
            run = await engine.run_session(None, session_id="s-stopped", resume=True)
            return engine, run

    engine, run = run_async(scenario())
    assert run.counts() == {"saved": 4}
    assert engine.store.query("SELECT status FROM sessions") == [("completed",)]


def test_resuming_a_session_this_engine_is_running_is_refused_and_the_run_pays_once(tmp_path):
    from engine.session.resume import ResumeError

    async def scenario():
        async with live_engine(tmp_path / "data") as (engine, rec):
            task = start_session(engine, icons_spec(3, latency_scale=0.05), "s-busy")
            await until(lambda: rec.first("openrouter_api_call", "s-busy"), message="a call in flight")
            try:
                await engine.run_session(None, session_id="s-busy", resume=True)
            except ResumeError as exc:
                refused = str(exc)
            else:
                refused = None
            run = await asyncio.wait_for(task, 30)
            return engine, refused, run

    engine, refused, run = run_async(scenario())
    assert refused == "session s-busy is already running in this engine; nothing to resume"
    assert run.counts() == {"saved": 3}
    assert engine.store.query("SELECT count(*) - count(DISTINCT (item_id, model, purpose)) FROM api_calls "
                              "WHERE status = 'ok'") == [(0,)]


# A child engine that dies (SIGKILL, as a power cut would) the moment its first paid image was kept and
# before it was saved for good: scoring and signing lie in that window, up to seconds on a busy machine.
_DIE_BEFORE_THE_FINAL_SAVE = """
import os, signal, sys
from engine.session.saving import ImageSaver
async def die(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
ImageSaver.save = die
from engine.cli import main
sys.argv = ["assetgen", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_an_image_paid_for_but_not_yet_saved_when_the_engine_dies_is_saved_on_resume_not_bought_again(tmp_path):
    data = tmp_path / "data"
    dying = subprocess.run([sys.executable, "-c", _DIE_BEFORE_THE_FINAL_SAVE,
                            "--data-dir", str(data), "run", "--type", "icons", "--limit", "2", "--latency-scale", "0.05",
                            "--no-approval", "--ws-port", "0"], capture_output=True, text=True, timeout=120)
    assert dying.returncode == -signal.SIGKILL, dying.stderr[-2000:]
    session_id = dying.stdout.split()[1]
    kept = list((data / "assets" / session_id / ".paid").glob("*.png"))
    assert kept and not list((data / "assets" / session_id).glob("*.png"))  # kept, and not saved for good

    resumed = subprocess.run(engine_cli(data, "run", "--resume", session_id, "--ws-port", 0),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    store = Store(data / "studio.duckdb")
    try:
        images = Counter(r[0] for r in store.query(
            "SELECT item_id FROM api_calls WHERE session_id = ? AND purpose = 'image' AND status = 'ok'", [session_id]))
        assert len(images) == 2 and max(images.values()) == 1, images  # each image bought once
        assert store.query("SELECT status FROM sessions WHERE session_id = ?", [session_id]) == [("completed",)]
    finally:
        store.close()
    for path in kept:
        assert (data / "assets" / session_id / path.name).exists()  # the kept image became the asset
    assert not list((data / "assets" / session_id / ".paid").glob("*"))  # and its copy is gone
