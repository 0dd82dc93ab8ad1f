"""`assetgen serve` stopped by SIGTERM mid-session: every event it broadcast is written before it exits."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from browser_support import free_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from engine.store.database import Store
from engine.ws.protocol import hello_message

from conftest import wait_until

pytestmark = pytest.mark.slow  # each test starts `python -m engine serve` daemons


async def _follow_until_closed(port: int, token: str, daemon: subprocess.Popen, *, stop_after_saved: int) -> list[dict]:
    """Record live events; once ``stop_after_saved`` images are saved, SIGTERM the daemon and read on to the close."""
    seen: list[dict] = []
    async with connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(hello_message(token, since_seq=0))
        signalled = False
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                if message["type"] != "event":
                    continue
                seen.append(message)
                saved = sum(m["event"] == "image_saved" for m in seen)
                if saved >= stop_after_saved and not signalled:
                    daemon.send_signal(signal.SIGTERM)
                    signalled = True
        except ConnectionClosed:
            pass
    return seen


def _serve(cli: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_serving(data, port: int) -> None:
    """The token exists and the websockets server accepts connections (it starts after the lock is taken)."""
    wait_until(lambda: (data / ".ws-token").exists() and _listening(port), timeout=30,
               message="the daemon's websockets server")


def _stop_daemon_mid_job(tmp_path) -> tuple:
    """A daemon runs a queued 8-icon job; SIGTERM once two images are saved. Returns (data, cli, env, seen)."""
    data, port = tmp_path / "data", free_port()
    env = {**os.environ, "ASSETGEN_WS_PORT": str(port)}
    cli = [sys.executable, "-m", "engine", "--data-dir", str(data)]
    submitted = subprocess.run([*cli, "submit", "--type", "icons", "--limit", "8", "--speed", "normal",
                                "--no-approval", "--latency-scale", "0.3"], env=env, capture_output=True, text=True,
                               timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    daemon = _serve(cli, env)
    try:
        _wait_serving(data, port)
        token = (data / ".ws-token").read_text().strip()
        seen = asyncio.run(_follow_until_closed(port, token, daemon, stop_after_saved=2))
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, daemon.stderr.read()
    return data, cli, env, seen


def test_sigterm_mid_session_writes_every_broadcast_event_and_marks_the_session_interrupted(tmp_path):
    data, _, _, seen = _stop_daemon_mid_job(tmp_path)
    store = Store(data / "studio.duckdb")
    seqs = [r[0] for r in store.query("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free
    assert {m["seq"] for m in seen} <= set(seqs)  # nothing a client saw was left unwritten
    (session_id, status, done), = store.query("SELECT session_id, status, items_done FROM sessions")
    assert status == "interrupted" and 2 <= done < 8
    last = store.query("SELECT type, payload->>'status' FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
                       [session_id])
    assert last == [("session_status", "interrupted")]  # the very last event, emitted while stopping, is on disk
    assert store.query("SELECT job_id, status, session_id FROM jobs") == [(1, "interrupted", session_id)]


def test_the_next_daemon_takes_the_stopped_job_again_and_finishes_its_session_without_paying_twice(tmp_path):
    data, cli, env, _ = _stop_daemon_mid_job(tmp_path)
    db = data / "studio.duckdb"
    daemon = _serve(cli, env)
    watcher = Store(db, lock_timeout=5)
    try:
        _wait_serving(data, int(env["ASSETGEN_WS_PORT"]))
        wait_until(lambda: watcher.query("SELECT status FROM jobs") == [("done",)],
                   timeout=60, interval=0.25, message="the requeued job to finish")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        watcher.close()
    store = Store(db)
    (session_id, status, done), = store.query("SELECT session_id, status, items_done FROM sessions")
    assert (status, done) == ("completed", 8)
    assert store.query("SELECT job_id, session_id FROM jobs") == [(1, session_id)]  # the same job, no new one
    paid_images = store.query("SELECT item_id, count(*) FROM api_calls WHERE purpose = 'image' AND status = 'ok' "
                              "GROUP BY 1 HAVING count(*) > 1")
    assert paid_images == []
    assert len(list((data / "assets" / session_id).glob("*.png"))) == 8
