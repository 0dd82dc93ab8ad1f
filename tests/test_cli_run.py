"""`assetgen run` from a fresh data directory, through a real subprocess, as a user types it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from engine.session.save import read_provenance, read_text_chunks
from engine.store.database import Store

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # starts `python -m engine run`


def test_run_test_icons_exits_0_prints_the_session_and_saves_three_pngs(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OPENROUTER_API_KEY", None)  # offline by default: the stand-in needs no key
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "engine", "--data-dir", str(data), "run", "--test", "--test-type",
                           "icons", "--latency-scale", "0", "--ws-port", "0"],
                          capture_output=True, text=True, timeout=45, env=env)
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    match = re.fullmatch(r"session (s\d{8}-\d{6}-[0-9a-f]{4})", first)
    assert match, done.stdout
    session_id = match[1]
    assert f"session {session_id} completed: 3 saved" in done.stdout
    assert "(simulated)" in done.stdout
    pngs = sorted((data / "assets" / session_id).glob("*.png"))
    assert len(pngs) == 3
    for png in pngs:
        assert read_text_chunks(png)["parameters"].count(", Model: ") == 1  # on the A1111 settings line
        assert read_provenance(png)["session_id"] == session_id
    # the run itself within 5 s; the wall clock adds interpreter start-up (~1.5 s idle, more on a busy box)
    store = Store(data / "studio.duckdb")
    run_s = store.query("SELECT epoch(finished_at) - epoch(created_at) FROM sessions WHERE session_id = ?",
                        [session_id])[0][0]
    assert run_s < 5.0, f"session took {run_s:.1f}s"
    assert elapsed < 15.0, f"{elapsed:.1f}s wall clock"
