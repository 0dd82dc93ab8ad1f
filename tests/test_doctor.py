"""`assetgen doctor`: each problem a newcomer meets is named with what to do, and only blockers fail the run."""
from __future__ import annotations

import os
import socket
import subprocess
from datetime import date

import httpx
import pytest
from browser_support import free_port
from click.testing import CliRunner
from helpers.backbone_procs import follow, spawn

from engine.cli import cli
from engine.config import load_settings
from engine.process.doctor import FAIL, OK, WARN, check_database, check_openrouter, check_price_snapshot, check_python
from engine.store.database import Store

pytestmark = pytest.mark.timeout(60)
KEY = "sk-or-v1-DOCTORTEST-0123456789abcdef0123456789abcdef"


def _doctor(tmp_path, *args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "doctor", *args],
                              env={"OPENROUTER_API_KEY": None, "ASSETGEN_CONSOLE_PORT": None,
                                   "ASSETGEN_WS_PORT": None, **(env or {})})


@pytest.fixture
def fake_chromium(tmp_path):
    path = tmp_path / "bin" / "chromium"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def listening_socket():
    """A port this test process listens on, as another program holding 4500 would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_console_port_and_no_chromium_are_both_named_and_the_exit_is_non_zero(tmp_path, listening_socket):
    result = _doctor(tmp_path, "--port", str(listening_socket), "--ws-port", str(free_port()),
                     "--chromium", str(tmp_path / "no" / "chromium"))

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    port_line = next(line for line in lines if f"port {listening_socket}" in line)
    assert port_line.startswith(FAIL) and f"PID {os.getpid()}" in port_line  # who holds it
    assert "--port" in lines[lines.index(port_line) + 1]  # and what to do: another port
    chromium_line = next(line for line in lines if "chromium" in line)
    assert chromium_line.startswith(WARN) and str(tmp_path / "no" / "chromium") in chromium_line
    assert "apt-get install chromium" in lines[lines.index(chromium_line) + 1]
    assert lines[-1] == f"blocked: port {listening_socket}"


def test_a_clean_machine_exits_0(tmp_path, fake_chromium):
    result = _doctor(tmp_path, "--port", str(free_port()), "--ws-port", str(free_port()), "--chromium", str(fake_chromium))

    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith(FAIL)]
    assert result.output.splitlines()[-1] == "ready: nothing blocks a run"


def test_the_ports_default_to_the_settings_the_environment_sets(tmp_path, listening_socket, fake_chromium):
    result = _doctor(tmp_path, "--chromium", str(fake_chromium),
                     env={"ASSETGEN_CONSOLE_PORT": str(free_port()), "ASSETGEN_WS_PORT": str(listening_socket)})

    assert result.exit_code == 1
    assert f"fail  port {listening_socket}" in result.output and "--ws-port" in result.output


def test_provider_openrouter_without_a_key_blocks(tmp_path, fake_chromium):
    result = _doctor(tmp_path, "--provider", "openrouter", "--port", str(free_port()), "--ws-port", str(free_port()),
                     "--chromium", str(fake_chromium))

    assert result.exit_code == 1
    assert "OPENROUTER_API_KEY is not set" in result.output and "export OPENROUTER_API_KEY" in result.output


def test_an_accepted_key_is_checked_with_get_key_and_never_shown():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers["authorization"]))
        return httpx.Response(200, json={"data": {"label": KEY[:12] + "...", "limit_remaining": 4.5}})

    check = check_openrouter(provider="openrouter", env={"OPENROUTER_API_KEY": KEY},
                             transport=httpx.MockTransport(answer))

    assert check.status == OK and "4.5 USD left" in check.found
    assert seen == [("GET", "https://openrouter.ai/api/v1/key", f"Bearer {KEY}")]
    assert KEY not in check.found + check.todo and KEY[:12] not in check.found + check.todo


def test_a_refused_key_blocks_and_says_where_to_check_it():
    check = check_openrouter(provider="openrouter", env={"OPENROUTER_API_KEY": KEY},
                             transport=httpx.MockTransport(lambda request: httpx.Response(401, json={})))

    assert check.status == FAIL and "HTTP 401" in check.found and "openrouter.ai/keys" in check.todo


def test_no_network_says_the_machine_may_be_offline_without_showing_the_key():
    closed = f"http://127.0.0.1:{free_port()}/api/v1"  # nothing listens: what offline looks like to httpx
    check = check_openrouter(provider="openrouter", env={"OPENROUTER_API_KEY": KEY, "OPENROUTER_BASE_URL": closed},
                             timeout_s=3)

    assert check.status == FAIL and "may be offline" in check.found and closed in check.found
    assert KEY not in check.found + check.todo


def test_a_database_held_open_by_another_process_names_its_pid(tmp_path, wait_until):
    settings = load_settings(data_dir=tmp_path / "data")
    Store(settings.db_path).migrate()
    holder = spawn("hold", settings.db_path, stdin=subprocess.PIPE)
    lines = follow(holder)
    try:
        pid = wait_until(lambda: lines and lines[0]["locked"], message="the holder to lock the file")
        [check] = check_database(settings, wait_s=0.3)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)

    assert check.status == FAIL and f"PID {pid}" in check.found and "backbone_procs.py" in check.found
    assert check_database(settings, wait_s=0.3)[0].status == OK  # released: it opens again


def test_python_outside_the_supported_range():
    supported = [(3, 11), (3, 12), (3, 13)]

    assert check_python((3, 10, 14), supported=supported).status == FAIL
    assert check_python((3, 12, 1), supported=supported).status == OK
    newer = check_python((3, 14, 0), supported=supported)
    assert newer.status == WARN and "3.11–3.13" in newer.found


def test_an_old_price_snapshot_is_a_warning_with_its_age(tmp_path):
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text('{"as_of": "2026-01-15", "data": []}')

    assert check_price_snapshot(snapshot, today=date(2026, 2, 1)).status == OK
    old = check_price_snapshot(snapshot, today=date(2027, 1, 15))
    assert old.status == WARN and "365 days old" in old.found
