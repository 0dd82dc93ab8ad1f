"""The only code that opens the database file.

DuckDB lets one process hold a file read-write, or many read-only, never both
(docs/architecture.md). So no process keeps the file: each keeps one in-memory
connection and ATTACHes the file around a single transaction, then DETACHes,
which releases the OS lock. When another process holds the lock we retry with
jittered backoff until a deadline, then raise :class:`StoreBusy` naming the
holder.
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import duckdb

from engine.store.migrations import apply_migrations

log = logging.getLogger(__name__)

__all__ = ["Store", "StoreBusy", "DEFAULT_LOCK_TIMEOUT", "is_out_of_memory"]

DEFAULT_LOCK_TIMEOUT = 10.0
_ALIAS = "db"
_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]i?B)")
_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


MAX_VACUUM_TASKS = 0
# Every transaction here ends in a checkpoint (the file is detached) and leaves a small row group in each table it
# wrote. With no vacuum at all, the next read-write connection with DuckDB's defaults merged them: a user's own
# script then held the file 2-3x longer (65-115 ms against 27-41 ms after 40 ticks) while the engine's next tick
# waited (bench/events.py, persist lag p99 0.56-0.91 s). One task in every checkpoint kept that away but at 50,000
# items slowed the console past 2 s a page; two tasks in every fourth write do neither (docs/operations.md).
VACUUM_EVERY_WRITES = 4
VACUUM_TASKS = 2
ALLOCATOR_FLUSH_THRESHOLD = "8MB"
# A DuckDB instance keeps a little of every file it attached (~1 KB an attach, ~5 KB a write that adds a row
# group; measured with mallinfo on a 10,000-item file), so a process attaching every tick grew by tens of MB over
# a long session (issue 14). A fresh in-memory connection every so many transactions drops it: ~ms each time.
RENEW_CONNECTION_EVERY = 256
# Store.compact: the vacuum tasks its one checkpoint may run, and the _migrations row whose removal makes DuckDB
# vacuum at all (a checkpoint merges row groups only when it writes a deletion).
COMPACT_VACUUM_TASKS = 1000
_COMPACT_MARK = "~compaction"


class StoreBusy(RuntimeError):
    """The database file stayed locked by another process past the deadline."""

    def __init__(self, path: Path, waited: float, detail: str):
        match = _HOLDER.search(detail)
        holder = f"{match['prog']} (PID {match['pid']})" if match else "another process"
        self.holder_pid = int(match["pid"]) if match else None
        super().__init__(
            f"{path} is locked by {holder}; waited {waited:.1f}s. "
            "Another program is holding the database open: close long-running DuckDB sessions "
            "on this file (use `assetgen sql` for ad-hoc queries, it releases the file at once), "
            "or pass a longer --lock-timeout."
        )


def _literal(text: str) -> str:
    return text.replace("'", "''")


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB could not fit a transaction in its memory limit (a commit that ran out says so in a TransactionException)."""
    return isinstance(exc, duckdb.OutOfMemoryException) or (isinstance(exc, duckdb.Error) and "could not allocate" in str(exc))


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


class Store:
    """A per-process gateway to one DuckDB file.

    ``with store.write() as con:`` runs one read-write transaction;
    ``with store.read() as con:`` one read-only look. Inside, unqualified table
    names refer to the file. Thread-safe: transactions are serialised on one
    in-memory connection.
    """

    def __init__(self, path: str | os.PathLike, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 memory_limit: str | None = None, renew_every: int = RENEW_CONNECTION_EVERY,
                 spill_directory: str | os.PathLike | None = None, vacuum_every: int = VACUUM_EVERY_WRITES):
        self.path = Path(path)
        self.vacuum_every = vacuum_every  # 0: no write vacuums (tests that need the fragmented file)
        self._writes = 0
        self._spill_directory = Path(spill_directory) if spill_directory else None
        self.lock_timeout = lock_timeout
        self.memory_limit = memory_limit
        self.renew_every = renew_every
        self._on_this_connection = 0  # transactions since the connection was made
        self._con = self._connect()
        self._lock = threading.RLock()
        self._depth = 0
        self._in_write = False  # guarded by _lock: only the thread holding it reads or sets it
        self._migrated = False
        self.stats = {"attach_retries": 0, "transactions": 0}

    @property
    def spill_directory(self) -> Path:
        """Where DuckDB writes what does not fit its memory limit (``<file>.tmp``, DuckDB's own name for it)."""
        return self._spill_directory or self.path.with_name(self.path.name + ".tmp")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:")
        # No row-group vacuum at checkpoints: every transaction here ends in a checkpoint (the file is
        # detached), and merging the small row groups that leaves behind made a checkpoint now and then
        # take seconds and hundreds of MB, more the bigger the file. The price: a larger file (~2x for events).
        con.execute(f"SET max_vacuum_tasks = {MAX_VACUUM_TASKS}")
        # Give freed memory back after each statement rather than from 128 MB of allocations up (DuckDB's
        # default), and let its allocator's background threads return decayed pages. Each transaction here
        # attaches the file and checkpoints it, so its peak grows with the file; without these the engine's
        # resident set kept each peak (bench/scale.py at 10,000 items, after 160k events: 374 -> 284 MB max).
        con.execute(f"SET allocator_flush_threshold = '{ALLOCATOR_FLUSH_THRESHOLD}'")
        con.execute("SET allocator_background_threads = true")
        if self.memory_limit:
            # A bound on DuckDB's buffers (the file's blocks a transaction reads, its indexes): each transaction
            # attaches a file that grows with the session, and unbounded, what a tick touched stayed resident
            # (bench/scale.py, 5,000 items: peak 362-399 -> 228 MB at 64 MB). Sorts and aggregates spill to the
            # directory (a ":memory:" connection has none of its own); a transaction that still does not fit
            # raises the limit (_raise_memory_limit).
            con.execute(f"SET memory_limit = '{_literal(self.memory_limit)}'")
            con.execute(f"SET temp_directory = '{_literal(str(self.spill_directory))}'")
        return con

    # -- public API -------------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self, *, vacuum_tasks: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One read-write transaction. ``vacuum_tasks``: the row-group merges a table its checkpoint may run; by
        default ``VACUUM_TASKS`` every ``vacuum_every``-th write, none otherwise. Nested, it joins the open one."""
        with self._lock:
            if self._depth:  # e.g. a tick handler calling store.execute: the outer transaction checkpoints
                with self._transaction() as con:
                    yield con
                return
            self._writes += 1
            if vacuum_tasks is None:
                vacuum_tasks = VACUUM_TASKS if self.vacuum_every and self._writes % self.vacuum_every == 0 \
                    else MAX_VACUUM_TASKS
            if vacuum_tasks != MAX_VACUUM_TASKS:
                self._con.execute(f"SET max_vacuum_tasks = {vacuum_tasks}")
            try:
                with self._transaction() as con:
                    yield con
            finally:
                if vacuum_tasks != MAX_VACUUM_TASKS:  # (on a renewed connection too: it is already so)
                    self._con.execute(f"SET max_vacuum_tasks = {MAX_VACUUM_TASKS}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._attached(read_only=False) as con:
            if self._in_write:
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            self._in_write = True
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                self._in_write = False
            con.execute("COMMIT")

    @contextlib.contextmanager
    def read(self, *, migrate: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        if migrate and not self._migrated:
            self.migrate()
        with self._attached(read_only=True) as con:
            yield con

    def migrate(self) -> list[str]:
        """Create or upgrade the schema; returns the names of migrations applied now."""
        with self._attached(read_only=False, migrate=False) as con:
            applied = apply_migrations(con)
        self._migrated = True
        return applied

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        with self.read() as con:
            return con.execute(sql, params).fetchall()

    def query_df(self, sql: str, params: Any = None):
        with self.read() as con:
            return con.execute(sql, params).df()

    def query_dicts(self, sql: str, params: Any = None) -> list[dict]:
        with self.read() as con:
            cur = con.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        """Run one statement in its own write transaction; returns any rows (e.g. RETURNING)."""
        with self.write() as con:
            cur = con.execute(sql, params)
            try:
                return cur.fetchall()
            except duckdb.InvalidInputException:
                return []

    def compact(self) -> None:
        """Merge the small row groups the ticks leave behind (most of their checkpoints merge none), in two short
        write transactions: the second's checkpoint vacuums every table. A scan pays per row group, and a
        50,000-item session with no merges in the ticks left ~900 in each of events, api_calls and proposals:
        after this a console page's reads of them took ~10x less (engine/store/compact.py runs it beside the engine)."""
        with self.write(vacuum_tasks=MAX_VACUUM_TASKS) as con:
            con.execute("INSERT OR REPLACE INTO _migrations VALUES (?, now())", [_COMPACT_MARK])
        with self.write(vacuum_tasks=COMPACT_VACUUM_TASKS) as con:
            con.execute("DELETE FROM _migrations WHERE name = ?", [_COMPACT_MARK])

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- internals --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _attached(self, *, read_only: bool, migrate: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            if self._depth:  # nested use inside a transaction: the file is already attached
                yield self._con
                return
            if migrate and not self._migrated and not read_only:
                self.migrate()
            self._attach(read_only)
            self._depth += 1
            try:
                self._con.execute(f"USE {_ALIAS}")
                self.stats["transactions"] += 1
                yield self._con
            except duckdb.Error as exc:
                if is_out_of_memory(exc):
                    self._raise_memory_limit()
                raise
            finally:
                self._depth -= 1
                self._detach()
            self._on_this_connection += 1
            if self._on_this_connection >= self.renew_every:
                self._reset_connection()

    def _attach(self, read_only: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = " (READ_ONLY)" if read_only else ""
        sql = f"ATTACH '{self._escaped_path()}' AS {_ALIAS}{mode}"
        started = time.monotonic()
        delay = 0.005
        while True:
            try:
                self._con.execute(sql)
                return
            except (duckdb.IOException, duckdb.Error) as exc:
                if not _is_lock_error(exc):
                    raise
                waited = time.monotonic() - started
                if waited >= self.lock_timeout:
                    raise StoreBusy(self.path, waited, str(exc)) from None
                self.stats["attach_retries"] += 1
                time.sleep(min(delay * random.uniform(0.5, 1.5), self.lock_timeout - waited))
                delay = min(delay * 1.7, 0.1)  # a lock is held for one short transaction: look again soon

    def _detach(self) -> None:
        try:
            self._con.execute("USE memory")
        finally:
            try:
                self._con.execute(f"DETACH DATABASE IF EXISTS {_ALIAS}")
            except duckdb.Error as exc:
                # A checkpoint that failed (a full disk) invalidates this process's DuckDB instance, and every
                # later ATTACH on it fails too, even once space is back. The committed data is in the file's
                # WAL: start a fresh in-memory instance so the next transaction can attach and replay it.
                if "invalidated" in str(exc):
                    self._reset_connection()
                raise

    def _raise_memory_limit(self) -> None:
        """A transaction needed more than the limit and nothing could spill (a key index is held whole): double
        the limit so the caller's retry (the ticker's next tick) succeeds rather than fail the same way forever.
        A commit that ran out invalidates the instance; the detach that follows starts a new one, at the new limit."""
        match = _SIZE.fullmatch(self.memory_limit or "")
        if match is None:
            return
        doubled = f"{float(match['number']) * 2:g}{match['unit']}"
        log.warning("DuckDB needed more than its memory limit of %s in one transaction; raising it to %s",
                    self.memory_limit, doubled)
        self.memory_limit = doubled
        try:
            self._con.execute(f"SET memory_limit = '{_literal(doubled)}'")
        except duckdb.Error:
            pass  # invalidated: _reset_connection applies it

    def _reset_connection(self) -> None:
        try:
            self._con.close()
        except duckdb.Error:
            pass
        self._con = self._connect()
        self._on_this_connection = 0

    def _escaped_path(self) -> str:
        return _literal(str(self.path))
