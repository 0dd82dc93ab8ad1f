"""Store: the only code that opens the database file, one transaction at a time."""
from __future__ import annotations

import subprocess
import threading
import time

import duckdb
import pytest
from helpers.backbone_procs import follow, spawn

from engine.store.migrations import MIGRATIONS
from engine.store.database import Store, StoreBusy

MIGRATION_NAMES = [m.__name__ for m in MIGRATIONS]


def test_migrations_are_applied_once_and_recorded(store, db_path):
    assert store.query("SELECT name FROM _migrations ORDER BY name") == [(n,) for n in sorted(MIGRATION_NAMES)]
    again = Store(db_path)
    assert again.migrate() == []
    assert store.query("SELECT count(*) FROM _migrations")[0][0] == len(MIGRATIONS)


def test_two_processes_opening_a_fresh_file_at_once_both_succeed(tmp_path, db_path):
    go = tmp_path / "go"
    procs = [spawn("migrate", db_path, "--go", go) for _ in range(2)]
    outputs = [follow(p) for p in procs]
    go.touch()
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0, 0]
    applied = sorted((out[-1]["applied"] for out in outputs), key=len)
    assert applied == [[], MIGRATION_NAMES]  # one applied everything, the other found it done
    assert all("controls" in out[-1]["tables"] for out in outputs)
    names = Store(db_path).query("SELECT name, count(*) FROM _migrations GROUP BY name ORDER BY name")
    assert names == [(n, 1) for n in sorted(MIGRATION_NAMES)]


def test_write_then_read_round_trip(store):
    with store.write() as con:
        con.execute("INSERT INTO controls (session_id, command, arg) VALUES ('s-1', 'speed', 'fast')")
    with store.read() as con:
        assert con.execute("SELECT session_id, command, arg FROM controls").fetchall() == [("s-1", "speed", "fast")]


def test_a_transaction_that_raises_is_rolled_back(store):
    with pytest.raises(ZeroDivisionError):
        with store.write() as con:
            con.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'pause')")
            1 / 0
    assert store.query("SELECT count(*) FROM controls")[0][0] == 0
    store.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'resume')")  # still usable
    assert store.query("SELECT command FROM controls") == [("resume",)]


def test_a_write_inside_a_write_joins_the_outer_transaction(store):
    with store.write() as con:
        con.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'pause')")
        store.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'resume')")
        assert store.query("SELECT count(*) FROM controls")[0][0] == 2
    assert store.query("SELECT count(*) FROM controls")[0][0] == 2
    with pytest.raises(RuntimeError):
        with store.write():
            store.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'abort')")
            raise RuntimeError("outer fails")
    assert store.query("SELECT command FROM controls ORDER BY control_id") == [("pause",), ("resume",)]


def test_the_file_is_released_after_each_transaction(store, db_path):
    store.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'pause')")
    con = duckdb.connect(str(db_path))  # a user's own session: would fail if Store still held the file
    assert con.execute("SELECT count(*) FROM controls").fetchone()[0] == 1
    con.close()
    assert not db_path.with_name(db_path.name + ".wal").exists()


def test_a_held_file_raises_store_busy_naming_the_holder(store, db_path, wait_until):
    holder = spawn("hold", db_path, stdin=subprocess.PIPE)
    lines = follow(holder)
    try:
        pid = wait_until(lambda: lines and lines[0]["locked"], message="the holder to lock the file")
        started = time.monotonic()
        with pytest.raises(StoreBusy) as caught:
            with Store(db_path, lock_timeout=0.5).write():
                pass
        waited = time.monotonic() - started
    finally:
        holder.stdin.close()  # releases the lock and ends the holder
        holder.wait(timeout=30)
    assert 0.5 <= waited < 3
    assert caught.value.holder_pid == pid
    message = str(caught.value)
    assert f"PID {pid}" in message and str(db_path) in message
    assert "close long-running DuckDB sessions" in message and "--lock-timeout" in message


def test_a_write_waits_for_the_holder_to_release(store, db_path, wait_until):
    holder = spawn("hold", db_path, "--release-after", 0.5)
    lines = follow(holder)
    wait_until(lambda: lines, message="the holder to lock the file")
    patient = Store(db_path, lock_timeout=5)
    patient.execute("INSERT INTO controls (session_id, command) VALUES ('s-1', 'pause')")
    assert holder.wait(timeout=30) == 0
    assert lines[-1]["released"]  # the write only got through because the holder let go
    assert patient.stats["attach_retries"] > 0
    assert store.query("SELECT count(*) FROM controls")[0][0] == 1


def test_threads_sharing_one_store_lose_nothing(store):
    per_thread, errors = 25, []

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                store.execute("INSERT INTO controls (session_id, command, arg) VALUES (?, 'speed', ?)",
                              [f"t{n}", str(i)])
                with store.read() as con:
                    mine = con.execute("SELECT count(*) FROM controls WHERE session_id = ?", [f"t{n}"]).fetchone()[0]
                assert mine == i + 1
        except BaseException as exc:  # surfaced below: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    count, distinct = store.query("SELECT count(*), count(DISTINCT control_id) FROM controls")[0]
    assert count == distinct == 8 * per_thread


def test_a_users_plain_insert_gets_the_defaults(store, db_path):
    con = duckdb.connect(str(db_path))
    con.execute("INSERT INTO controls(session_id, command) VALUES ('s-1', 'pause')")
    con.execute("INSERT INTO controls(session_id, command) VALUES ('s-1', 'resume')")
    con.close()
    rows = store.query("SELECT control_id, created_at IS NOT NULL, applied_at FROM controls ORDER BY control_id")
    assert rows == [(1, True, None), (2, True, None)]



@pytest.mark.slow  # seconds: the limit doubles until a transaction fits
def test_a_memory_limit_bounds_duckdb_and_is_raised_when_a_transaction_needs_more(db_path):
    """The engine's Store caps DuckDB's memory (issue 14: its resident set followed the file's size). A key
    index cannot spill, so a transaction that needs more than the cap fails once and the cap doubles: the
    ticker's retry on its next tick then goes through instead of failing the same way forever."""
    store = Store(db_path, memory_limit="16MB")
    assert store.spill_directory == db_path.with_name(db_path.name + ".tmp")
    limit, spill = store.query("SELECT current_setting('memory_limit'), current_setting('temp_directory')")[0]
    assert limit.endswith("MiB") and float(limit.split()[0]) <= 16 and spill == str(store.spill_directory)
    assert Store(db_path).query("SELECT current_setting('memory_limit')")[0][0] != limit  # others: DuckDB's default
    failures = 0
    while True:  # ~20 MB of primary keys, in one transaction
        try:
            with store.write() as con:
                con.execute("CREATE TABLE IF NOT EXISTS k (id VARCHAR PRIMARY KEY)")
                con.execute("INSERT INTO k SELECT repeat(md5(i::VARCHAR), 4) || i FROM range(100000) r(i)")
            break
        except duckdb.Error as exc:  # out of memory in a statement, or in the commit (which invalidates the instance)
            assert "memory" in str(exc).lower() or "could not allocate" in str(exc) or "invalidated" in str(exc)
            failures += 1
            assert failures < 6
    assert failures >= 1 and store.query("SELECT count(*) FROM k") == [(100_000,)]
    raised = store.query("SELECT current_setting('memory_limit')")[0][0]
    assert float(raised.split()[0]) >= 2 * float(limit.split()[0])


def test_the_connection_is_renewed_every_so_many_transactions_keeping_its_settings(db_path):
    """A DuckDB instance keeps a little of every file it attached: the store starts a fresh one every
    ``renew_every`` transactions (issue 14), with the same settings, a raised memory limit included."""
    store = Store(db_path, memory_limit="48MB", renew_every=3)
    store.execute("CREATE TABLE t (i INTEGER)")  # the first transaction also migrated the file
    first = store._con
    store.memory_limit = "96MB"  # as _raise_memory_limit leaves it
    for i in range(4):
        store.execute("INSERT INTO t VALUES (?)", [i])
    assert store._con is not first
    limit = store.query("SELECT current_setting('memory_limit')")[0][0]
    assert float(limit.split()[0]) > 64 and store.query("SELECT count(*) FROM t") == [(4,)]
    assert store.query("SELECT current_setting('max_vacuum_tasks')") == [(0,)]


def test_columns_of_mixed_kinds_are_written_as_one_type_with_nulls_kept(tmp_path):
    from engine.store.columns import Columns, insert_columns

    con = duckdb.connect(str(tmp_path / "columns.duckdb"))
    con.execute("CREATE TABLE t (n BIGINT, x DOUBLE, label VARCHAR, f DOUBLE)")
    insert_columns(con, "t", Columns({
        "n": [1, None, 3],              # ints with a NULL
        "x": [1, 2.5, None],            # an int among floats: every value a float
        "label": ["a", 7, None],        # text with a number: text
        "f": [0.25, 0.5, 1e300],
    }))
    assert con.execute("SELECT n, x, label, f FROM t ORDER BY rowid").fetchall() == [
        (1, 1.0, "a", 0.25), (None, 2.5, "7", 0.5), (3, None, None, 1e300)]


def _row_groups(store: Store, table: str) -> int:
    return store.query(f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('{table}')")[0][0]


def _small_commits(store: Store, commits: int = 60, rows: int = 20) -> None:
    for i in range(commits):  # what the ticker does: a few rows a transaction, each checkpointed on detach
        store.execute("INSERT INTO events SELECT ? + range, now(), 's', 's:i', 't', '{}' FROM range(?)",
                      [i * rows, rows])


def test_every_fourth_write_merges_the_row_groups_the_others_left_so_a_plain_connection_finds_none(store, db_path):
    """With no vacuum in any write, the next read-write connection with DuckDB's defaults (a user's own script)
    merged what the ticks left while holding the file 2-3x longer, and the engine's next tick waited on it."""
    _small_commits(store)
    groups = _row_groups(store, "events")
    assert groups <= 2  # 60 commits: 60 row groups when no checkpoint merges
    # the 60th write ran two vacuum tasks; the writes after it run none again
    assert store.query("SELECT current_setting('max_vacuum_tasks')") == [(0,)]
    store.close()
    con = duckdb.connect(str(db_path))  # DuckDB's defaults: up to 100 vacuum tasks at its checkpoint
    con.execute("INSERT INTO controls (session_id, command, source) VALUES ('s', 'pause', 'sql')")
    con.close()
    after = Store(db_path)
    try:
        assert _row_groups(after, "events") == groups and after.query("SELECT count(*) FROM events") == [(1200,)]
    finally:
        after.close()


def test_compaction_merges_the_small_row_groups_each_commit_leaves_and_keeps_every_row(db_path):
    """Reads pay per row group: a 50,000-item session left ~900 a table, and Costs' scans of api_calls took ~1 s."""
    store = Store(db_path, vacuum_every=0)  # no write merges: the file compaction is for
    _small_commits(store)
    before = store.query("SELECT count(*), sum(seq), max(seq) FROM events")
    assert _row_groups(store, "events") >= 30
    store.compact()
    assert _row_groups(store, "events") == 1
    assert store.query("SELECT count(*), sum(seq), max(seq) FROM events") == before
    assert store.query("SELECT count(*) FROM _migrations WHERE name LIKE '~%'") == [(0,)]  # its mark is gone
    _small_commits(store, commits=3)  # and later commits still merge nothing by themselves
    assert _row_groups(store, "events") > 1


@pytest.mark.slow
def test_the_engine_compacts_in_a_child_process_beside_it(tmp_path):
    import asyncio

    from engine.store.compact import compact_aside

    store = Store(tmp_path / "studio.duckdb", vacuum_every=0)
    _small_commits(store)
    assert _row_groups(store, "events") >= 30
    assert asyncio.run(compact_aside(store.path)) is True
    assert _row_groups(store, "events") == 1 and store.query("SELECT count(*) FROM events") == [(1200,)]
