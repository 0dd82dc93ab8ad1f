"""Processes and workloads that exercise the event backbone from the outside.

Run as a script, each subcommand is one of the "other processes" of the
multi-process tests and of bench/events.py: a lock holder, a polling reader, a
user inserting control rows through a plain DuckDB connection, a migrating
opener, and an engine-like writer (Bus + Ticker) meant to be killed. Each prints
JSON lines on stdout so the parent can follow it without sleeping.

Imported, it offers the realistic event mix, the control-row tick handler and
``run_contention``, the in-process writer surrounded by those processes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere, even without the editable install
    sys.path.append(str(REPO))

import engine.events as ev  # noqa: E402
from engine.live.bus import Bus  # noqa: E402
from engine.live.journal import Journal  # noqa: E402
from engine.live.projection import Projector  # noqa: E402
from engine.store.database import Store  # noqa: E402
from engine.live.ticker import Ticker  # noqa: E402

__all__ = ["EventMix", "ControlApplier", "run_contention", "spawn", "follow", "persisted_check"]

THIS = Path(__file__).resolve()
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "google/gemini-2.0-flash-001")


def _say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def spawn(role: str, *args, **popen) -> subprocess.Popen:
    """Start one of this file's roles in a fresh interpreter, stdout piped as text."""
    return subprocess.Popen([sys.executable, str(THIS), role, *map(str, args)],
                            stdout=subprocess.PIPE, text=True, **popen)


def follow(proc: subprocess.Popen) -> list[dict]:
    """A list that fills with the process's JSON lines as they arrive (read in a daemon thread)."""
    lines: list[dict] = []

    def pump() -> None:
        for line in proc.stdout:
            if line.startswith("{"):
                lines.append(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return lines


# -- the workload --------------------------------------------------------------------------------
class EventMix:
    """A cycle of realistic events for a few sessions: progress, stage changes and API calls.

    The sessions and their items are announced first (GenerationStart, ItemStarted) so the
    projector has rows to update. The cycle is built once: the benchmark measures the backbone,
    not dataclass construction. Call ids repeat every cycle, so api_calls rows are upserted
    rather than growing without bound.
    """

    def __init__(self, *, sessions: int = 4, items_per_session: int = 8, calls_per_item: int = 4):
        self.opening: list[ev.Event] = []
        self.cycle: list[ev.Event] = []
        stages = ("discovery", "prompt", "model", "image", "save")
        for s in range(sessions):
            sid = f"bench-{os.getpid()}-{s}"
            item_ids = [f"{sid}:icon-{i}" for i in range(items_per_session)]
            self.opening.append(ev.GenerationStart(
                session_id=sid, total=items_per_session, provider="standin", speed="fast", concurrency=4,
                budget_usd=5.0, catalog="estate_planning_v4", simulated=True,
                items=[{"item_id": i, "asset_id": i.split(":")[1], "asset_type": "icon", "tier": "standard",
                        "title": "Will and testament"} for i in item_ids]))
            for n, item_id in enumerate(item_ids):
                self.opening.append(ev.ItemStarted(session_id=sid, item_id=item_id, asset_id=f"icon-{n}",
                                                   asset_type="icon", tier="standard", title="Will and testament"))
                for c in range(calls_per_item):
                    call_id = f"{item_id}:call-{c}"
                    model = MODELS[c % len(MODELS)]
                    self.cycle += [
                        ev.PipelineStageUpdate(session_id=sid, item_id=item_id, stage=stages[c % 5],
                                               previous=stages[c % 5 - 1]),
                        ev.OpenrouterApiCall(session_id=sid, item_id=item_id, call_id=call_id, purpose="prompt",
                                             model=model, attempt=1, estimated_cost_usd=0.0004),
                        ev.ApiCallFinished(session_id=sid, item_id=item_id, call_id=call_id, model=model,
                                           status="ok", http_status=200, latency_ms=840.5, prompt_tokens=412,
                                           completion_tokens=180, cost_usd=0.00037, generation_id=f"gen-{c}"),
                        ev.ProgressUpdate(session_id=sid, done=n, total=items_per_session, in_flight=3,
                                          eta_s=12.5, elapsed_s=4.2, counts={"saved": n}),
                    ]
        self._next = 0

    def emit_opening(self, bus: Bus) -> None:
        for event in self.opening:
            bus.emit(event)

    def emit(self, bus: Bus, count: int) -> None:
        cycle, n, i = self.cycle, len(self.cycle), self._next
        emit = bus.emit
        for _ in range(count):
            emit(cycle[i])
            i += 1
            if i == n:
                i = 0
        self._next = i


class ControlApplier:
    """Tick handler: stamps applied_at on new control rows and records how late it saw each."""

    def __init__(self) -> None:
        self.seen_latency: dict[int, float] = {}

    def on_tick(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "UPDATE controls SET applied_at = now(), result = 'seen' WHERE applied_at IS NULL "
            "RETURNING control_id, epoch(now()) - epoch(created_at)").fetchall()
        for control_id, latency in rows:
            self.seen_latency[int(control_id)] = float(latency)


def persisted_check(store: Store) -> dict:
    """The gap-free invariant of the event log, as numbers."""
    count, distinct, lo, hi = store.query(
        "SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events")[0]
    return {"count": count, "distinct": distinct, "min_seq": lo, "max_seq": hi,
            "gap_free": count == distinct == hi and (count == 0 or lo == 1)}


# -- the in-process writer among other processes -------------------------------------------------
def _summary(proc: subprocess.Popen, timeout: float) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    result["returncode"] = proc.returncode
    return result


async def _write(store: Store, *, rate: float, duration: float, tick: float, mix: EventMix,
                 applier: ControlApplier, others: list[subprocess.Popen], journal_dir: Path | None = None) -> dict:
    journal = Journal(journal_dir) if journal_dir is not None else None
    bus = Bus(journal=journal)
    if journal is not None:
        journal.start(bus.publish_durable)
    ticker = Ticker(store, bus, Projector(), interval=tick, handlers=[applier],
                    keep_lag_samples=int(rate * (duration + 5)) + 1000)
    stop = asyncio.Event()
    ticking = asyncio.create_task(ticker.run(stop))
    mix.emit_opening(bus)
    started = time.monotonic()
    emitted = 0
    chunk_cap = max(1, int(rate * 0.005))  # a steady stream, in slices the loop can interleave
    while (elapsed := time.monotonic() - started) < duration:
        due = min(int(elapsed * rate) - emitted, chunk_cap)
        if due > 0:
            mix.emit(bus, due)
            emitted += due
        await asyncio.sleep(0.001)
    emit_seconds = time.monotonic() - started
    give_up = time.monotonic() + 60
    while any(p.poll() is None for p in others) and time.monotonic() < give_up:
        await asyncio.sleep(0.05)  # keep ticking: the others' last control rows are applied as usual
    stop.set()
    await ticking
    if journal is not None:
        journal.close()
    total_seconds = time.monotonic() - started
    return {"emitted": bus.last_seq, "journal_groups": journal.groups if journal else None, "emit_seconds": emit_seconds, "total_seconds": total_seconds,
            "persisted_seq": ticker.persisted_seq, "flushes": ticker.flushes, "tick_failures": ticker.failures,
            "lag_samples": list(ticker.lag_samples), "attach_retries": store.stats["attach_retries"]}


def run_contention(path: Path, *, duration: float = 5.0, rate: float = 2000.0, tick: float = 0.25,
                   readers: int = 2, read_interval: float = 0.5, control_interval: float = 1.0,
                   journal_dir: Path | None = None) -> dict:
    """An engine-like writer in this process while readers and a control-row inserter run in others.

    Returns the writer's figures, each other process's summary, the control rows' latencies and the
    event log's invariant as stored.
    """
    path = Path(path)
    store = Store(path)
    store.migrate()
    reader_procs = [spawn("reader", path, "--interval", read_interval, "--duration", duration)
                    for _ in range(readers)]
    inserter = spawn("controls", path, "--interval", control_interval, "--duration", duration)
    applier = ControlApplier()
    try:
        writer = asyncio.run(_write(store, rate=rate, duration=duration, tick=tick, mix=EventMix(),
                                    applier=applier, others=[*reader_procs, inserter], journal_dir=journal_dir))
        reader_results = [_summary(p, timeout=30) for p in reader_procs]
        inserter_result = _summary(inserter, timeout=30)
        unapplied = store.query("SELECT count(*) FROM controls WHERE applied_at IS NULL")[0][0]
        return {"writer": writer, "readers": reader_results, "inserter": inserter_result,
                "control_latency": applier.seen_latency, "controls_unapplied": unapplied,
                "log": persisted_check(store)}
    finally:
        for p in (*reader_procs, inserter):
            if p.poll() is None:
                p.kill()
                p.wait()
        store.close()


# -- roles run as separate processes -------------------------------------------------------------
def role_hold(args) -> None:
    """Hold the file read-write like a user's long DuckDB session, then let go."""
    con = duckdb.connect(args.path)
    con.execute("SELECT 1").fetchall()
    _say(locked=os.getpid())
    if args.release_after is not None:
        time.sleep(args.release_after)  # the holder's own behaviour under test, not a wait for a condition
    else:
        sys.stdin.readline()  # until the parent says so (or closes our stdin)
    con.close()
    _say(released=os.getpid())


def role_migrate(args) -> None:
    """Open a (fresh) file through Store as soon as the go-file appears, racing a sibling."""
    go = Path(args.go)
    deadline = time.monotonic() + 20
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("go-file never appeared")
        time.sleep(0.001)
    store = Store(args.path)
    applied = store.migrate()
    with store.read() as con:
        tables = sorted(r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    _say(applied=applied, tables=tables)


def role_reader(args) -> None:
    """Poll like the console: a read-only attach through Store every interval."""
    store = Store(args.path)
    latencies, errors, inconsistent, last_seq = [], [], 0, 0
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            with store.read() as con:
                count, hi = con.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
            latencies.append(time.monotonic() - started)
            inconsistent += count != hi or hi < last_seq
            last_seq = hi
        except Exception as exc:  # the test asserts there are none: report, don't die
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    latencies.sort()
    _say(queries=len(latencies) + len(errors), errors=errors, inconsistent=inconsistent, last_seq=last_seq,
         p50_ms=1000 * latencies[len(latencies) // 2] if latencies else None,
         max_ms=1000 * latencies[-1] if latencies else None)


def role_controls(args) -> None:
    """A user's own script: a plain duckdb.connect per insert, retrying while the file is locked."""
    inserted, retries, errors = [], 0, []
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        started = time.monotonic()
        delay, give_up = 0.005, started + 10
        while True:
            try:
                con = duckdb.connect(args.path)
                try:
                    row = con.execute("INSERT INTO controls (session_id, command, source) "
                                      "VALUES ('bench', 'pause', 'sql') RETURNING control_id").fetchone()
                finally:
                    con.close()
                inserted.append(int(row[0]))
                break
            except duckdb.Error as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > give_up:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    break
                retries += 1
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 1.7, 0.1)
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    _say(inserted=inserted, retries=retries, errors=errors)


def role_engine(args) -> None:
    """Bus + Ticker writing continuously; reports what it emitted and what each flush committed."""
    store = Store(args.path)
    store.migrate()
    bus = Bus(start_seq=persisted_check(store)["max_seq"])
    ticker = Ticker(store, bus, Projector())
    mix = EventMix()
    mix.emit_opening(bus)
    while True:
        mix.emit(bus, args.batch)
        _say(emitted=bus.last_seq)
        ticker.flush()
        _say(persisted=ticker.persisted_seq)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    p = roles.add_parser("hold")
    p.add_argument("path")
    p.add_argument("--release-after", type=float)
    p = roles.add_parser("migrate")
    p.add_argument("path")
    p.add_argument("--go", required=True)
    for name in ("reader", "controls"):
        p = roles.add_parser(name)
        p.add_argument("path")
        p.add_argument("--interval", type=float, default=0.5 if name == "reader" else 1.0)
        p.add_argument("--duration", type=float, default=5.0)
    p = roles.add_parser("engine")
    p.add_argument("path")
    p.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args(argv)
    {"hold": role_hold, "migrate": role_migrate, "reader": role_reader, "controls": role_controls,
     "engine": role_engine}[args.role](args)


if __name__ == "__main__":
    main()
