"""Event backbone throughput: sustained persisted events/s and persist lag under contention.

The writer (Bus + Projector + Ticker, in this process) emits a realistic mix of events for a
few sessions at a steady --rate while two other processes read the file every 0.5 s through
Store and a third inserts a control row every second through a plain DuckDB connection; the
writer applies control rows in a tick handler (stamps applied_at, records how late it saw each).
Then, as the limit, a persistent connection appends the same events as Arrow batches with no
attach/detach. Target: >= 50,000 events/s persisted with p99 lag <= 1.0 s, no lost or duplicated
seq, every control row seen within 1 s.

    python bench/events.py                  # ~10 s at 60,000 events/s
    python bench/events.py --seconds 5 --rate 80000
    python bench/events.py --profile        # cProfile of emit + flush, single thread

Human figures first; the JSON summary is the last line.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

from _util import REPO, distribution, print_summary

sys.path.insert(0, str(REPO / "tests" / "helpers"))
from backbone_procs import EventMix, run_contention  # noqa: E402

import duckdb  # noqa: E402
from engine.live.bus import Bus  # noqa: E402
from engine.store.migrations import apply_migrations  # noqa: E402
from engine.live.projection import Projector  # noqa: E402
from engine.store.database import Store  # noqa: E402
from engine.live.ticker import Ticker, records_to_arrow  # noqa: E402

TARGET_RATE = 50_000
TARGET_P99_LAG_S = 1.0


def _cpu_seconds() -> float:
    """CPU this process used so far (all threads, DuckDB's included): robust to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_append_rate(path: Path, *, seconds: float, batch_size: int) -> float:
    """Events/s one long-lived read-write connection appends in Arrow batches: the ceiling."""
    bus = Bus()
    mix = EventMix()
    mix.emit(bus, batch_size)
    batch = records_to_arrow(bus.take_pending())  # noqa: F841 (read by DuckDB's replacement scan)
    con = duckdb.connect(str(path))
    apply_migrations(con)
    rows, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO events SELECT seq, ts, session_id, item_id, type, payload::JSON FROM batch")
        con.execute("COMMIT")
        rows += batch_size
    elapsed = time.perf_counter() - started
    con.close()
    return rows / elapsed


def profile_hot_path(path: Path, *, events: int) -> None:
    """Emit then flush ``events`` in one thread under cProfile; print where the time goes."""
    store = Store(path)
    store.migrate()
    bus = Bus()
    ticker = Ticker(store, bus, Projector(), keep_lag_samples=events)
    mix = EventMix()
    mix.emit_opening(bus)
    ticker.flush()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    mix.emit(bus, events)
    emitted = time.perf_counter()
    ticker.flush()
    profiler.disable()
    done = time.perf_counter()
    print(f"profiled: emit {1e6 * (emitted - started) / events:.2f} us/event, "
          f"flush {1e6 * (done - emitted) / events:.2f} us/event (under cProfile)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the writer emits (default 10)")
    parser.add_argument("--rate", type=float, default=60_000, help="events/s the writer emits (default 60000)")
    parser.add_argument("--tick", type=float, default=0.25, help="ticker interval in seconds (default 0.25)")
    parser.add_argument("--raw-seconds", type=float, default=2.0, help="how long to measure raw appends")
    parser.add_argument("--profile", action="store_true", help="profile emit + flush instead of the run")
    parser.add_argument("--no-journal", action="store_true",
                        help="emit without the write-ahead journal (the engine always has one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        if args.profile:
            profile_hot_path(Path(tmp) / "profile.duckdb", events=int(args.rate))
            return 0
        load_before = os.getloadavg()[0]
        cpu_before = _cpu_seconds()
        result = run_contention(Path(tmp) / "studio.duckdb", duration=args.seconds, rate=args.rate,
                                tick=args.tick, journal_dir=None if args.no_journal else Path(tmp) / "journal")
        cpu_per_event_us = 1e6 * (_cpu_seconds() - cpu_before) / max(1, result["writer"]["emitted"])
        raw = raw_append_rate(Path(tmp) / "raw.duckdb", seconds=args.raw_seconds,
                              batch_size=int(args.rate * args.tick))

    writer, log = result["writer"], result["log"]
    persisted_rate = log["count"] / writer["emit_seconds"]
    lag = distribution(writer["lag_samples"])
    controls = distribution(result["control_latency"].values())
    reads = [r for r in result["readers"]]
    read_errors = sum(len(r["errors"]) for r in reads)
    lost_or_duplicated = not log["gap_free"] or log["count"] != writer["emitted"]
    controls_ok = result["controls_unapplied"] == 0 and (controls["max"] or 0) <= 1.0 and \
        sorted(result["control_latency"]) == result["inserter"]["inserted"]

    print(f"writer: emitted {writer['emitted']:,} events in {writer['emit_seconds']:.1f} s "
          f"(asked {args.rate:,.0f}/s), {writer['flushes']} flushes, {writer['attach_retries']} attach retries")
    print(f"persisted: {persisted_rate:,.0f} events/s; lag p50 {lag['p50']} s, p99 {lag['p99']} s, max {lag['max']} s")
    print(f"writer CPU: {cpu_per_event_us:.1f} us per event (all threads); machine load average at start "
          f"{load_before:.1f} on {os.cpu_count()} cores")
    print(f"log: {log['count']:,} rows, {log['distinct']:,} distinct seq, max seq {log['max_seq']:,} "
          f"-> {'gap-free' if not lost_or_duplicated else 'LOST OR DUPLICATED'}")
    for n, r in enumerate(reads, 1):
        print(f"reader {n}: {r['queries']} queries, {len(r['errors'])} errors, p50 {r['p50_ms']:.1f} ms, "
              f"max {r['max_ms']:.1f} ms")
    print(f"controls: {len(result['inserter']['inserted'])} inserted ({result['inserter']['retries']} lock retries), "
          f"seen p50 {controls['p50']} s, max {controls['max']} s, unapplied {result['controls_unapplied']}")
    print(f"raw append limit (persistent connection, Arrow batches of {int(args.rate * args.tick):,}): "
          f"{raw:,.0f} events/s")
    ok = (persisted_rate >= TARGET_RATE and (lag["p99"] or 0) <= TARGET_P99_LAG_S and not lost_or_duplicated
          and read_errors == 0 and controls_ok)
    print(f"target (>= {TARGET_RATE:,}/s, p99 lag <= {TARGET_P99_LAG_S} s, nothing lost, controls within 1 s): "
          f"{'MET' if ok else 'MISSED'}")
    print_summary({
        "benchmark": "events", "seconds": args.seconds, "rate_asked": args.rate, "tick_s": args.tick,
        "emitted": writer["emitted"], "persisted_events_per_s": round(persisted_rate),
        "lag_s": lag, "lost_or_duplicated": lost_or_duplicated, "log": log,
        "reader_queries": sum(r["queries"] for r in reads), "reader_errors": read_errors,
        "reader_max_ms": max((r["max_ms"] or 0) for r in reads),
        "controls_inserted": len(result["inserter"]["inserted"]), "control_seen_s": controls,
        "controls_unapplied": result["controls_unapplied"], "attach_retries": writer["attach_retries"],
        "raw_append_events_per_s": round(raw), "target_met": ok,
        "writer_cpu_us_per_event": round(cpu_per_event_us, 2), "load_average_at_start": round(load_before, 2),
    })
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
