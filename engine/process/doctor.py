"""`assetgen doctor`: what a newcomer trips on, checked one by one, each with what to do next.

Every check is a plain function returning a :class:`Check` (ok / warn / fail, what was
found, what to do), with what it inspects passed in (ports, paths, environment, HTTP
transport), so tests can stage a busy port or a missing chromium without touching the
machine. ``fail`` means a run would not work as things stand; ``warn`` means it works but
something is missing or worth knowing. Nothing here prints the OpenRouter key.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable, Mapping

import httpx

from engine.config import REPO_ROOT, Settings
from engine.process.runtime import engine_lock_holder
from engine.store.database import StoreBusy

__all__ = [
    "OK", "WARN", "FAIL", "Check", "DEFAULT_CHROMIUM",
    "supported_pythons", "check_python", "check_venv", "check_chromium", "check_port", "port_holders",
    "describe_pid", "check_data_dir", "check_database", "check_openrouter", "check_price_snapshot",
    "run_checks", "format_report", "exit_code",
]

OK, WARN, FAIL = "ok", "warn", "fail"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Below this the database and PNGs cannot be written; below the warning level a long catalog may not fit.
MIN_FREE_MB, LOW_FREE_MB = 50, 1024
SNAPSHOT_MAX_AGE_DAYS = 90


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    found: str
    todo: str = ""  # what to do about it; empty when nothing needs doing


# --- Python and the virtual environment ---------------------------------------------------------
def supported_pythons() -> list[tuple[int, int]]:
    """The Python versions the project supports, from its own metadata (pyproject.toml's classifiers)."""
    pyproject = REPO_ROOT / "pyproject.toml"
    if pyproject.exists():  # a checkout (editable install): its pyproject.toml is the current word
        import tomllib  # noqa: PLC0415

        with open(pyproject, "rb") as fh:
            classifiers = tomllib.load(fh)["project"].get("classifiers", [])
    else:
        from importlib import metadata  # noqa: PLC0415

        classifiers = metadata.metadata("assetgen").get_all("Classifier") or []
    found = (re.fullmatch(r"Programming Language :: Python :: (\d+)\.(\d+)", c) for c in classifiers)
    return sorted((int(m[1]), int(m[2])) for m in found if m)


def check_python(version: tuple[int, ...] | None = None, *, supported: list[tuple[int, int]] | None = None) -> Check:
    version = tuple(version or sys.version_info[:3])
    supported = supported or supported_pythons()
    low, high = supported[0], supported[-1]
    shown = ".".join(map(str, version))
    span = f"{low[0]}.{low[1]}–{high[0]}.{high[1]}"
    if version[:2] < low:
        return Check("python", FAIL, f"Python {shown}; assetgen needs {span}",
                     f"install Python {low[0]}.{low[1]} or newer, then `rm -rf .venv` and run ./scripts/up.sh again")
    if version[:2] > high:
        return Check("python", WARN, f"Python {shown} is newer than the tested {span}",
                     f"it may work; if something breaks, make .venv with Python {high[0]}.{high[1]}")
    return Check("python", OK, f"Python {shown} (supported {span})")


def check_venv(*, prefix: str | None = None, base_prefix: str | None = None, repo_root: Path = REPO_ROOT) -> Check:
    prefix, base_prefix = prefix or sys.prefix, base_prefix or sys.base_prefix
    project_venv = repo_root / ".venv"
    if Path(prefix).resolve() == project_venv.resolve():
        return Check("venv", OK, f"running in the project venv {project_venv}")
    if prefix != base_prefix:
        return Check("venv", OK, f"running in the virtual environment {prefix}",
                     "" if project_venv.exists() else "the README's commands make and use their own .venv")
    if project_venv.exists():
        return Check("venv", WARN, f"not in a virtual environment ({prefix}); the project venv is {project_venv}",
                     f"run `{project_venv}/bin/assetgen …`, or `. .venv/bin/activate` first")
    return Check("venv", WARN, f"not in a virtual environment ({prefix}) and no project venv yet",
                 "./scripts/up.sh (or ./scripts/test.sh) makes .venv once and runs inside it")


# --- the browser the browser tests drive --------------------------------------------------------
def check_chromium(path: str | os.PathLike = DEFAULT_CHROMIUM) -> Check:
    if os.access(path, os.X_OK) and Path(path).is_file():
        return Check("chromium", OK, f"{path} (for the browser tests)")
    return Check("chromium", WARN, f"no chromium at {path}: the browser tests will be skipped",
                 "sudo apt-get install chromium (./scripts/test.sh installs it when run as root)")


# --- ports ---------------------------------------------------------------------------------------
def check_port(port: int, *, role: str, option: str, host: str = "127.0.0.1") -> Check:
    """Free if a server could listen on host:port now (SO_REUSEADDR, as the servers set it)."""
    name = f"port {port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            error = exc
        else:
            return Check(name, OK, f"free for the {role}")
    holders = port_holders(port)
    if holders:
        who = "; ".join(f"PID {pid}: {cmd}" for pid, cmd in holders)
        kill = " ".join(str(pid) for pid, _ in holders)
        todo = f"stop it (`kill {kill}`) or pick another port: `assetgen up {option} N`"
        if any("engine" in cmd or "streamlit" in cmd for _, cmd in holders):
            todo = f"a studio may already run (open it, or `kill -INT {kill}`); or `assetgen up {option} N`"
        return Check(name, FAIL, f"the {role} port is taken by {who}", todo)
    return Check(name, FAIL, f"the {role} port cannot be used ({error.strerror}); its holder is not visible "
                 "to this user", f"`sudo ss -ltnp 'sport = :{port}'` shows who holds it; or `assetgen up {option} N`")


def port_holders(port: int) -> list[tuple[int, str]]:
    """(PID, command) of processes listening on TCP ``port``: /proc first, then `ss -ltnp` if present."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    pids = set()
    if inodes:
        for fd_dir in Path("/proc").glob("[0-9]*/fd"):
            try:
                if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                    pids.add(int(fd_dir.parent.name))
            except OSError:  # gone, or another user's process
                continue
    if not pids and shutil.which("ss"):
        try:
            out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        pids.update(int(p) for p in re.findall(r"pid=(\d+)", out))
    return [(pid, describe_pid(pid)) for pid in sorted(pids)]


def describe_pid(pid: int) -> str:
    """The command line of a process, shortened; '?' when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if words:
        words[0] = Path(words[0]).name
    text = " ".join(words) or "?"
    return text if len(text) <= 100 else text[:97] + "…"


# --- the data directory and the database file ---------------------------------------------------
def check_data_dir(data_dir: Path, *, min_free_mb: int = MIN_FREE_MB, low_free_mb: int = LOW_FREE_MB) -> Check:
    existing = next(p for p in (data_dir, *data_dir.parents) if p.exists())
    if not existing.is_dir():
        return Check("data dir", FAIL, f"{existing} is a file, not a directory", "pass another --data-dir")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data dir", FAIL, f"{existing} is not writable ({exc.strerror})",
                     "fix its permissions or pass --data-dir to a writable place")
    free_mb = shutil.disk_usage(existing).free // 2**20
    where = str(data_dir) if existing == data_dir else f"{data_dir} (created on first run)"
    if free_mb < min_free_mb:
        return Check("data dir", FAIL, f"{where}: only {free_mb} MB free", "free some disk space or use another --data-dir")
    if free_mb < low_free_mb:
        return Check("data dir", WARN, f"{where}: {free_mb} MB free, a large catalog of PNGs may not fit",
                     "free some disk space or use another --data-dir")
    return Check("data dir", OK, f"{where}: writable, {free_mb / 1024:.1f} GB free")


def check_database(settings: Settings, *, wait_s: float = 1.0) -> list[Check]:
    """Who holds the data dir's engine lock, and whether the database file can be opened now."""
    checks = []
    engine_pid = engine_lock_holder(settings)
    if engine_pid:
        checks.append(Check("engine", WARN, f"an engine already runs on {settings.data_dir} "
                            f"(PID {engine_pid}: {describe_pid(engine_pid)})",
                            "`assetgen run` queues on it; to start `assetgen up` here stop it first "
                            f"(`kill -INT {engine_pid}`) or use another --data-dir"))
    path = settings.db_path
    if not path.exists():
        checks.append(Check("database", OK, f"{path} does not exist yet; the first run creates it"))
        return checks
    import duckdb  # noqa: PLC0415

    con = duckdb.connect(":memory:")
    escaped = str(path).replace("'", "''")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:  # read-only: the doctor never migrates or writes the file
                con.execute(f"ATTACH '{escaped}' AS probe (READ_ONLY)")
                con.execute("DETACH probe")
                checks.append(Check("database", OK, f"{path} opens"))
                return checks
            except duckdb.Error as exc:
                if "Conflicting lock" not in str(exc):
                    checks.append(Check("database", FAIL, f"{path} cannot be opened: {str(exc).splitlines()[0]}",
                                        "move the file aside (the first run makes a new one) or restore a backup"))
                    return checks
                if time.monotonic() >= deadline:  # the engine holds it a few ms per transaction, not seconds
                    holder = StoreBusy(path, wait_s, str(exc)).holder_pid
                    who = f"PID {holder}: {describe_pid(holder)}" if holder else "another process"
                    checks.append(Check("database", FAIL, f"{path} is held open by {who}",
                                        "close that program's DuckDB connection (use `assetgen sql` for queries: "
                                        f"it lets go at once){f' or `kill -INT {holder}`' if holder else ''}"))
                    return checks
                time.sleep(0.05)
    finally:
        con.close()


# --- OpenRouter and prices ----------------------------------------------------------------------
def check_openrouter(*, provider: str, env: Mapping[str, str] | None = None,
                     transport: httpx.BaseTransport | None = None, timeout_s: float = 8.0) -> Check:
    """The key is present (never shown); with provider openrouter, GET {base}/key answers with it."""
    from engine.providers.openrouter import DEFAULT_BASE_URL  # noqa: PLC0415

    env = os.environ if env is None else env
    key = env.get("OPENROUTER_API_KEY", "").strip()
    if provider != "openrouter":
        found = "OPENROUTER_API_KEY is set (not shown)" if key else "OPENROUTER_API_KEY not set"
        return Check("openrouter", OK, f"{found}; runs use the offline stand-in",
                     "" if not key else "add --provider openrouter to check the key reaches OpenRouter")
    if not key:
        return Check("openrouter", FAIL, "OPENROUTER_API_KEY is not set",
                     "export OPENROUTER_API_KEY=… (from openrouter.ai/keys), or run on the offline stand-in")
    base = (env.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    try:
        with httpx.Client(transport=transport, timeout=timeout_s) as client:
            response = client.get(f"{base}/key", headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:  # the message names the URL, never the header
        return Check("openrouter", FAIL, f"cannot reach {base} ({type(exc).__name__}): this machine may be offline",
                     "check the network (or OPENROUTER_BASE_URL); offline, use the default stand-in provider")
    if response.status_code in (401, 403):
        return Check("openrouter", FAIL, f"{base}/key refused the key (HTTP {response.status_code})",
                     "check OPENROUTER_API_KEY at openrouter.ai/keys (a revoked or mistyped key)")
    if response.status_code != 200:
        return Check("openrouter", FAIL, f"{base}/key answered HTTP {response.status_code}",
                     "try again later; status.openrouter.ai says whether OpenRouter is down")
    try:
        data = response.json().get("data") or {}
    except ValueError:
        data = {}
    remaining = data.get("limit_remaining")
    credit = "no credit limit" if remaining is None else f"{remaining} USD left on its limit"
    return Check("openrouter", OK, f"key accepted by {base} (key not shown; {credit})")


def check_price_snapshot(path: str | os.PathLike | None = None, *, today: date | None = None,
                         max_age_days: int = SNAPSHOT_MAX_AGE_DAYS) -> Check:
    from engine.providers.pricing import load_snapshot  # noqa: PLC0415

    try:
        book = load_snapshot(path)
    except (OSError, ValueError, KeyError) as exc:
        return Check("prices", FAIL, f"price snapshot unreadable: {exc}",
                     "restore data/pricing/openrouter-snapshot.json from git (`git checkout data/pricing`)")
    try:
        as_of = date.fromisoformat(str(book.as_of))
    except ValueError:
        return Check("prices", WARN, f"price snapshot has no date ({book.as_of!r})", "add an as_of date to it")
    age = ((today or date.today()) - as_of).days
    if age > max_age_days:
        return Check("prices", WARN, f"price snapshot is {age} days old (as of {as_of}): estimates may be off",
                     "estimates only (bills use usage.cost); put a newer copy of GET /models in data/pricing/")
    return Check("prices", OK, f"price snapshot as of {as_of} ({max(age, 0)} days old, {len(book)} models)")


# --- all of them ---------------------------------------------------------------------------------
def run_checks(settings: Settings, *, provider: str = "standin", chromium_path: str | os.PathLike = DEFAULT_CHROMIUM,
               env: Mapping[str, str] | None = None, transport: httpx.BaseTransport | None = None) -> list[Check]:
    """Every check, for the ports, data dir and database ``settings`` names."""
    return [
        check_python(),
        check_venv(),
        check_chromium(chromium_path),
        check_port(settings.console_port, role="console", option="--port"),
        check_port(settings.ws_port, role="engine websockets", option="--ws-port"),
        check_data_dir(settings.data_dir),
        *check_database(settings),
        check_openrouter(provider=provider, env=env, transport=transport),
        check_price_snapshot(),
    ]


def format_report(checks: Iterable[Check]) -> str:
    checks = list(checks)
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:4}  {check.name:{width}}  {check.found}")
        if check.todo:
            lines.append(f"{'':4}  {'':{width}}  → {check.todo}")
    failed = [c.name for c in checks if c.status == FAIL]
    lines.append(f"blocked: {', '.join(failed)}" if failed else "ready: nothing blocks a run")
    return "\n".join(lines)


def exit_code(checks: Iterable[Check]) -> int:
    """1 when something blocks a run, else 0 (warnings do not)."""
    return 1 if any(c.status == FAIL for c in checks) else 0
