"""What the browser tests need around the browser: free ports, the engine and console processes, chromium.

The engine daemon and the Streamlit console run as real subprocesses against one data
directory in tmp_path, exactly as `assetgen up` starts them. Each process writes its output
to a log file (never a pipe nobody reads, which would block it when full), and the logs are
printed with failures. Waiting is always on a condition with a deadline.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from conftest import wait_until
from engine.config import load_settings
from engine.process.runtime import engine_lock_holder

__all__ = [
    "CHROMIUM", "CHROMIUM_ARGS", "REPO_ROOT", "ARTIFACTS", "free_port", "Proc", "Studio",
    "start_studio", "wait_http_ok", "launch_chromium",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
# Playwright's own browser download cannot work offline: Debian's chromium, told to stay quiet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; the race window is tiny on a test box)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Proc:
    """A child process with its combined output in a log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"[{self.name}: no log]"
        return f"--- {self.name} log (exit {self.popen.poll()}) ---\n{text[-chars:]}"

    def stop(self, *, grace: float = 10.0) -> None:
        """SIGINT first (the engine writes every event before it exits), SIGKILL after ``grace`` seconds."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            self.popen.wait(timeout=5)


def _spawn(name: str, argv: list[str], *, env: dict[str, str], log_dir: Path, cwd: Path) -> Proc:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:  # the child keeps its own descriptor; ours can close
        popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
    return Proc(name, popen, log_path)


def wait_http_ok(url: str, *, timeout: float, proc: Proc | None = None) -> None:
    """Until ``url`` answers 200 (and, if given, while ``proc`` is alive)."""
    def ok() -> bool:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited before answering {url}\n{proc.log_tail()}")
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    with _logs_on_failure(proc):
        wait_until(ok, timeout=timeout, interval=0.1, message=f"HTTP 200 from {url}")


@contextlib.contextmanager
def _logs_on_failure(*procs: Proc | None) -> Iterator[None]:
    """A start-up that times out says why: print the children's logs (pytest shows them with the failure)."""
    try:
        yield
    except BaseException:
        for proc in procs:
            if proc is not None:
                print(proc.log_tail())
        raise


@dataclass
class Studio:
    """An engine daemon and a console over one data directory."""

    data_dir: Path
    console_url: str
    ws_port: int
    engine: Proc
    console: Proc

    @property
    def db_path(self) -> Path:
        return self.data_dir / "studio.duckdb"

    def logs(self) -> str:
        return "\n".join(p.log_tail() for p in (self.engine, self.console))

    def stop(self) -> None:
        # console first: it only reads and appends operator rows; the engine then flushes and exits
        for proc in (self.console, self.engine):
            proc.stop()


@contextlib.contextmanager
def start_studio(tmp: Path, *, startup_timeout: float = 45.0) -> Iterator[Studio]:
    """Start `python -m engine serve` and `streamlit run app.py`; stop both on the way out, even on failure."""
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    ws_port, console_port = free_port(), free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETGEN_")}
    base_env["PYTHONUNBUFFERED"] = "1"
    engine = _spawn("engine", [sys.executable, "-m", "engine", "--data-dir", str(data_dir), "serve"],
                    env={**base_env, "ASSETGEN_WS_PORT": str(ws_port)}, log_dir=tmp, cwd=REPO_ROOT)
    procs = [engine]
    try:
        console = _spawn("console", [sys.executable, "-m", "streamlit", "run", "app.py",
                                     "--server.port", str(console_port), "--server.address", "127.0.0.1",
                                     "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                         env={**base_env, "ASSETGEN_DATA_DIR": str(data_dir)}, log_dir=tmp, cwd=REPO_ROOT)
        procs.append(console)
        studio = Studio(data_dir, f"http://127.0.0.1:{console_port}", ws_port, engine, console)
        settings = load_settings(data_dir=data_dir)

        def engine_up() -> bool:
            if not engine.alive():
                raise AssertionError(f"engine exited at start-up\n{engine.log_tail()}")
            return engine_lock_holder(settings) is not None and "engine serving" in engine.log_tail(20000)

        with _logs_on_failure(engine):
            wait_until(engine_up, timeout=startup_timeout, interval=0.1,
                       message="the engine daemon (engine.lock held and 'engine serving' logged)")
        wait_http_ok(f"{studio.console_url}/_stcore/health", timeout=startup_timeout, proc=console)
        yield studio
    finally:
        for proc in reversed(procs):
            proc.stop()


def launch_chromium(playwright):
    """Debian's chromium through Playwright's sync API."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
