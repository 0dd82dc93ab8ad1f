"""`assetgen run` while a daemon holds the data dir: the run is queued as a job and followed to its end."""
import os
import subprocess
import sys

from engine.store.database import Store
import pytest

from conftest import wait_until

pytestmark = pytest.mark.slow  # starts a `python -m engine serve` daemon and a `run`


def test_run_hands_the_session_to_the_running_daemon_and_follows_it(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "ASSETGEN_WS_PORT": "0"}
    daemon = subprocess.Popen([sys.executable, "-m", "engine", "--data-dir", str(data), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = data / "studio.duckdb.engine.lock"  # beside the database file
        wait_until(lambda: lock.exists() and lock.read_text().strip(),
                   timeout=20, message="daemon up")
        run = subprocess.run([sys.executable, "-m", "engine", "--data-dir", str(data), "run", "--test",
                              "--test-type", "icons", "--latency-scale", "0"],
                             capture_output=True, text=True, timeout=60, env=env)
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
    assert run.returncode == 0, run.stderr
    assert "queued as job 1" in run.stderr
    store = Store(data / "studio.duckdb")
    assert store.query("SELECT status FROM jobs") == [("done",)]
    assert store.query("SELECT status, items_done FROM sessions") == [("completed", 3)]
