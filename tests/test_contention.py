"""The backbone among other processes: readers, a user's own inserts, and a kill -9."""
from __future__ import annotations

import os
import signal

import pytest
from helpers.backbone_procs import follow, persisted_check, run_contention, spawn

from engine.store.database import Store

BATCH = 2000


@pytest.mark.slow
def test_writer_readers_and_a_users_inserts_share_the_file(db_path):
    result = run_contention(db_path, duration=4.0, rate=1000, tick=0.25)
    writer, log = result["writer"], result["log"]

    assert log["gap_free"] and log["count"] == writer["emitted"] == writer["persisted_seq"]
    # a real stream ran throughout (loosely: the suite may share 2 cores with much else)
    assert writer["emitted"] >= 0.25 * 4.0 * 1000 and writer["flushes"] >= 8
    for reader in result["readers"]:
        assert reader["returncode"] == 0 and reader["errors"] == []
        assert reader["queries"] >= 6  # every 0.5 s over 4 s
        assert reader["inconsistent"] == 0  # never saw a half-written tick or seq going backwards
    inserted = result["inserter"]["inserted"]
    assert result["inserter"]["errors"] == [] and len(inserted) >= 3
    assert result["controls_unapplied"] == 0
    assert sorted(result["control_latency"]) == inserted  # each seen by a tick of the writer...
    assert max(result["control_latency"].values()) <= 1.0  # ...within 1 s of its created_at


@pytest.mark.slow
def test_kill_9_mid_stream_loses_at_most_the_last_tick(db_path, wait_until):
    engine = spawn("engine", db_path, "--batch", BATCH)
    lines = follow(engine)
    try:
        # kill while a tick is under way: its last word is "emitted", so it is inside flush()
        wait_until(lambda: sum("persisted" in line for line in lines) >= 5 and "emitted" in lines[-1],
                   timeout=30, interval=0.0005, message="the engine to commit five ticks and start a sixth")
    finally:
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(timeout=30)
    assert engine.returncode == -signal.SIGKILL
    reported = [line["persisted"] for line in lines if "persisted" in line]
    emitted = [line["emitted"] for line in lines if "emitted" in line]

    store = Store(db_path, lock_timeout=5)  # opens cleanly: the cut transaction was rolled back
    log = persisted_check(store)
    assert log["gap_free"], log
    assert reported[-1] <= log["max_seq"] <= emitted[-1]  # everything reported committed survived
    assert emitted[-1] - log["max_seq"] <= BATCH + 1  # at most the tick in progress was lost
    store.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'resume')")  # and takes writes
    assert not db_path.with_name(db_path.name + ".wal").exists()


@pytest.mark.slow
def test_contention_at_benchmark_rate(db_path):
    """The benchmark's scenario in miniature: 20,000 events/s for 3 s, nothing lost."""
    result = run_contention(db_path, duration=3.0, rate=20_000, tick=0.25)
    assert result["log"]["gap_free"] and result["log"]["count"] == result["writer"]["emitted"]
    assert all(r["errors"] == [] and r["inconsistent"] == 0 for r in result["readers"])
    assert result["controls_unapplied"] == 0 and max(result["control_latency"].values()) <= 1.0
