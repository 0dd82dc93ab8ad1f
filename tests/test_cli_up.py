"""`assetgen up`: engine and console start together, and one SIGINT stops both, even when inherited ignored."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

from browser_support import free_port

from engine.config import load_settings
from engine.process.runtime import engine_lock_holder

from conftest import wait_until


def _console_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_up_starts_both_and_sigint_stops_both_even_when_started_with_sigint_ignored(tmp_path):
    data, console_port = tmp_path / "data", free_port()
    env = {**os.environ, "ASSETGEN_WS_PORT": str(free_port())}
    # A script's background job (`assetgen up &`) inherits SIGINT ignored: `up` must still obey it.
    up = subprocess.Popen([sys.executable, "-m", "engine", "--data-dir", str(data), "up", "--port", str(console_port),
                           "--no-demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    settings = load_settings(data_dir=data)
    try:
        wait_until(lambda: _console_answers(console_port) and engine_lock_holder(settings),
                   timeout=60, interval=0.2, message="the console to answer and the engine to hold the data dir")
        up.send_signal(signal.SIGINT)
        out, _ = up.communicate(timeout=40)
    finally:
        if up.poll() is None:  # kill its children too: they hold the output pipe open
            os.killpg(up.pid, signal.SIGKILL)
            up.communicate()
    assert up.returncode == 0, out
    assert "stopped engine and console" in out
    assert engine_lock_holder(settings) is None  # the engine exited and let go of the data dir
    assert not _console_answers(console_port)
