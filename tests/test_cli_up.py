"""`assetgen up`: engine and console start together, and one SIGINT stops both, even when inherited ignored."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import socket
import urllib.request

import pytest
from browser_support import free_port
from click.testing import CliRunner

from engine.cli import cli
from engine.config import load_settings
from engine.process.runtime import engine_lock_holder

from conftest import wait_until


def _console_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_up_starts_both_and_sigint_stops_both_even_when_started_with_sigint_ignored(tmp_path):
    data, console_port, ws_port = tmp_path / "data", free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "ASSETGEN_WS_PORT"}
    # A script's background job (`assetgen up &`) inherits SIGINT ignored: `up` must still obey it.
    up = subprocess.Popen([sys.executable, "-m", "engine", "--data-dir", str(data), "up", "--port", str(console_port),
                           "--ws-port", str(ws_port), "--no-demo"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    settings = load_settings(data_dir=data)
    try:
        wait_until(lambda: _console_answers(console_port) and engine_lock_holder(settings) and _listening(ws_port),
                   timeout=60, interval=0.2,
                   message="the console to answer, the engine to hold the data dir and listen on --ws-port")
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


def test_up_with_a_taken_port_names_its_holder_and_starts_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "up", "--port", str(free_port()),
                                          "--ws-port", str(port)])

    assert result.exit_code == 1
    assert f"engine websockets port is taken by PID {os.getpid()}" in result.output and "--ws-port N" in result.output
    assert not (tmp_path / "data").exists()  # no demo queued, no engine started
