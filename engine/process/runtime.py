"""The engine process: journal, bus, ticker, websockets server and the sessions it runs.

At start the journal (``<data-dir>/journal``) is read and repaired: events it holds
beyond the database's last seq (a kill -9 before the ticker drained them) are
replayed into the file with their projection, and numbering continues after the
higher of the two, so no seq a client may have seen is ever given again.

One engine per database file (an OS lock on ``<db>.engine.lock``, engine/engine_lock.py),
since it alone assigns event seqs. ``assetgen run`` starts one for a single session;
``assetgen serve`` keeps one running and takes jobs.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable
from engine import events as ev
from engine.live.bus import Bus, Record, encode_frame
from engine.live.journal import Journal, JournalEntry
from engine.config import Settings
from engine.live.projection import Projector
from engine.store.database import Store
from engine.live.ticker import Ticker
from engine.vocabulary import SESSION_ACTIVE, sql_list
from engine.store.engine_lock import EngineLockTaken, lock_holder, release_lock, take_lock

__all__ = ["Engine", "EngineBusy", "engine_lock_holder", "limit_malloc_arenas", "release_freed_memory"]

log = logging.getLogger(__name__)


_M_ARENA_MAX = -8  # glibc mallopt parameter
# DuckDB's memory limit in the engine (engine/store/database.py spills past it to <db>.tmp): a tick's transaction
# reads recent blocks and the tables' key indexes, which fit; the engine's whole budget is 300 MB (issue 14).
ENGINE_DUCKDB_MEMORY = "64MB"
# How often the engine hands its C heap's free pages back (release_freed_memory): items come and go by the
# thousand, and glibc keeps what they freed resident (a 5,000-item run: 53 MB of heap, 39 MB of it in use).
TRIM_HEAP_EVERY_S = 10.0
# When the engine compacts the file (engine/store/compact.py): looked at every COMPACT_CHECK_S and after each
# session, and done once this many events were written since the last compaction (during a session; a 50,000-item
# session writes 1.9 million), or the smaller figure once a session ended (what the console then reads for good).
# Counted in events, not bytes: a compaction leaves free blocks in the file that later writes fill first.
COMPACT_CHECK_S = 30.0
COMPACT_EVERY_EVENTS = 250_000
COMPACT_AFTER_SESSION_EVENTS = 10_000


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc heaps (default: 8 per core), before the engine starts its threads.

    The ticker, journal, saver and executor threads each got a heap of their own, and each kept the
    memory it had freed; with two, a 10,000-item run's resident set sat ~20 MB lower (median), at the
    same speed. Elsewhere than glibc, nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, arenas)


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    Parsing a large catalog peaks at several times what it keeps (tomllib's tables and strings), and
    glibc keeps the freed heap resident: at 50,000 assets ~150 MB more resident than live, ~75 MB after
    a trim (issue 14, the engine's peak RSS)."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class EngineBusy(RuntimeError):
    """Another engine already runs on this data directory."""


def engine_lock_holder(settings: Settings) -> int | None:
    """The PID of the engine running on this database file (-1 when it is not known), or None."""
    holder = lock_holder(settings.engine_lock_path)
    return None if holder is None else (holder.pid or -1)


class Engine:
    def __init__(self, settings: Settings, *, lock_timeout: float = 10.0, serve_websockets: bool = True,
                 ws_port: int | None = None, client_factory: Callable | None = None, keep_lag_samples: int = 0):
        self.settings = settings
        self.lock_timeout = lock_timeout
        self.serve_websockets = serve_websockets
        self.ws_port = settings.ws_port if ws_port is None else ws_port
        self.client_factory = client_factory
        self.keep_lag_samples = keep_lag_samples
        self.runs: dict[str, Any] = {}
        self.ws = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock_fd: int | None = None
        self._stop = asyncio.Event()
        self._ticker_task: asyncio.Task | None = None
        self._trim_task: asyncio.Task | None = None
        self.trim_every_s = TRIM_HEAP_EVERY_S
        self.heap_trims = 0
        self._compact_task: asyncio.Task | None = None
        self._compacting = asyncio.Lock()
        self._compacted_at_seq = 0  # events written when the file was last compacted (by this engine)
        self.compactions = 0
        self._session_tasks: set[asyncio.Task] = set()
        self._claimed_sessions: set[str] = set()  # being prepared or running; a second run of one is refused
        self.started_at = datetime.now(timezone.utc)
        self.interrupted_at_start: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------
    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        limit_malloc_arenas()
        self._acquire_lock()
        self.store = Store(self.settings.db_path, lock_timeout=self.lock_timeout, memory_limit=ENGINE_DUCKDB_MEMORY)
        await asyncio.to_thread(self.store.migrate)
        from engine.credentials import StudioCredentials

        # the first start creates the studio's signing identity (engine/credentials/authority.py)
        self.credentials = await asyncio.to_thread(StudioCredentials.open, self.settings.data_dir,
                                                   signing=self.settings.content_credentials)
        self.journal = Journal(self.settings.journal_dir)
        journalled = await asyncio.to_thread(self.journal.recover)
        last_seq = int((await asyncio.to_thread(self.store.query, "SELECT coalesce(max(seq), 0) FROM events"))[0][0])
        self.bus = Bus(start_seq=max(last_seq, journalled[-1].seq if journalled else 0), journal=self.journal)
        self.storage = self.bus.storage
        self.projector = Projector()
        from engine.process.wiring import intent_handlers

        self.ticker = Ticker(self.store, self.bus, self.projector, interval=self.settings.tick_seconds,
                             handlers=intent_handlers(self),
                             keep_lag_samples=self.keep_lag_samples)
        self.replayed = await asyncio.to_thread(self._replay, [e for e in journalled if e.seq > last_seq], last_seq)
        self.journal.start(self.bus.publish_durable)
        await asyncio.to_thread(self._mark_interrupted)
        self._ticker_task = asyncio.create_task(self.ticker.run(self._stop), name="ticker")
        self._trim_task = asyncio.create_task(self._trim_heap(), name="trim-heap")
        self._compact_task = asyncio.create_task(self._compact_when_grown(), name="compact")
        if self.serve_websockets:
            from engine.ws.server import server_from_settings

            # from the settings as documented: address, token, console port and ASSETGEN_WS_ORIGINS
            self.ws = server_from_settings(self.settings.with_(ws_port=self.ws_port), bus=self.bus, store=self.store)
            try:
                await self.ws.start()
            except OSError as exc:  # the port is taken: the console still follows through the database
                log.warning("websockets server not started on %s:%s (%s)", self.settings.ws_host, self.ws_port, exc)
                self.ws = None

    async def stop(self) -> None:
        # Cancel whole sessions, not their item tasks: a session whose items were cancelled one
        # by one would end "completed" with open items, where it must stay resumable.
        current = asyncio.current_task()
        sessions = [t for t in self._session_tasks if t is not current and not t.done()]
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()
        self._stop.set()
        if self._ticker_task is not None:
            await self._ticker_task
        if self._trim_task is not None:
            await self._trim_task
        if self._compact_task is not None:
            await self._compact_task
        if getattr(self, "journal", None) is not None:
            await asyncio.to_thread(self.journal.close)
        self._release_lock()

    async def _trim_heap(self) -> None:
        """Every ``trim_every_s``, off the loop, give the C heap's free pages back to the system."""
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.trim_every_s)
            except asyncio.TimeoutError:
                await asyncio.to_thread(release_freed_memory)
                self.heap_trims += 1

    async def _compact_when_grown(self) -> None:
        """Every ``COMPACT_CHECK_S``, compact the file once ``COMPACT_EVERY_EVENTS`` were written since the last time."""
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=COMPACT_CHECK_S)
            except asyncio.TimeoutError:
                await self.compact(min_events=COMPACT_EVERY_EVENTS)

    async def compact(self, *, min_events: int = 0) -> bool:
        """Merge the file's small row groups in a child process (engine/store/compact.py) once ``min_events`` were
        written since the last compaction; True when it compacted."""
        async with self._compacting:
            ticker = getattr(self, "ticker", None)
            written = ticker.persisted_seq if ticker is not None else 0
            if written - self._compacted_at_seq < max(min_events, 1):
                return False
            from engine.store.compact import compact_aside  # noqa: PLC0415

            if not await compact_aside(self.store.path, lock_timeout=max(self.lock_timeout, 60.0)):
                return False
            self._compacted_at_seq = written
            self.compactions += 1
            return True

    def _acquire_lock(self) -> None:
        try:
            self._lock_fd = take_lock(self.settings.engine_lock_path)
        except EngineLockTaken as exc:
            holder = exc.holder.describe() if exc.holder else "another process"
            raise EngineBusy(
                f"an engine ({holder}) already runs on {self.settings.db_path} (lock {exc.path}): submit work "
                "to it with `assetgen submit …`, or stop it first.") from None

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            release_lock(self._lock_fd)
            self._lock_fd = None

    def _replay(self, entries: list[JournalEntry], last_in_file: int) -> int:
        """Write the journalled events the file lacks, with the rows they project; returns how many."""
        self.journal.drained(last_in_file)
        if not entries:
            return 0
        from engine.session.resume import fetch_rows
        from engine.live.projection import TABLE_KEYS

        if entries[0].seq != last_in_file + 1:
            log.error("the journal starts at seq %d but the database ends at %d: events %d..%d are lost",
                      entries[0].seq, last_in_file, last_in_file + 1, entries[0].seq - 1)
        sessions = sorted({e.session_id for e in entries if e.session_id})
        marks = ", ".join("?" for _ in sessions)
        if sessions:
            with self.store.read() as con:
                for table in TABLE_KEYS:
                    self.projector.load(table, fetch_rows(
                        con, f"SELECT * FROM {table} WHERE session_id IN ({marks})", sessions))
        records = [Record(e.seq, e.ts_us, e.session_id, e.item_id, e.type, e.payload_json, "") for e in entries]
        for record in records:
            record.frame = encode_frame(record.seq, record.ts_iso, record.session_id, record.item_id, record.type,
                                        record.payload_json)
        self.bus.publish_durable(records)
        self.ticker.flush()
        log.warning("replayed %d journalled events (seq %d..%d) the database lacked after an unclean stop",
                    len(records), records[0].seq, records[-1].seq)
        for session_id in sessions:
            self.projector.forget_session(session_id)
        return len(records)

    def _mark_interrupted(self) -> None:
        """Sessions a dead engine left open are `interrupted` until resumed; stale rows are closed."""
        from engine.session.resume import fetch_rows

        with self.store.write() as con:
            # Not a DataFrame: pandas turns NULL timestamps into NaT, which the projector cannot
            # write back; fetch_rows also decodes JSON columns so they are not encoded twice.
            records = fetch_rows(con, f"SELECT * FROM sessions WHERE status IN {sql_list(SESSION_ACTIVE)}")
            con.execute("UPDATE api_calls SET status = 'interrupted' WHERE status = 'in_flight'")
            con.execute("UPDATE controls SET applied_at = now(), result = 'ignored: no engine was running "
                        "when it was requested' WHERE applied_at IS NULL")
        self.interrupted_at_start = [row["session_id"] for row in records]
        self.projector.load("sessions", records)
        for row in records:
            self.bus.emit(ev.SessionStatus(session_id=row["session_id"], status="interrupted",
                                           previous=row["status"], reason="the engine running it stopped"))
        if records:
            self.bus.wait_published(self.bus.assigned_seq, timeout=30)  # on disk, then in this flush
            self.ticker.flush()
            for row in records:
                self.projector.forget_session(row["session_id"])

    # -- what tick handlers and the websockets server ask ------------------------------------
    def submit_to_loop(self, fn: Callable, *args) -> concurrent.futures.Future:
        """Schedule ``fn(*args)`` on the engine's loop from the ticker thread; the caller does not wait."""
        async def call():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(call(), self.loop)

    def register_run(self, run) -> None:
        self.runs[run.session_id] = run

    def unregister_run(self, run) -> None:
        self.runs.pop(run.session_id, None)

    def session_is_active(self, session_id: str) -> bool:
        return session_id in self.runs

    def find_gate(self, batch_id: str):
        for run in list(self.runs.values()):
            gate = run.gates.get(batch_id)
            if gate is not None:
                return gate
        return None

    # -- sessions -----------------------------------------------------------------------------
    async def run_session(self, spec, *, session_id: str | None = None, resume: bool = False, catalog_parse=None):
        """Run one session to its end; returns the SessionRun. ``catalog_parse``: ``spec.catalog`` being parsed
        aside (engine.templates.catalog.load_catalog_aside)."""
        from engine.session.resume import ResumeError, new_session_id, prepare_run

        session_id = session_id or new_session_id()
        if session_id in self._claimed_sessions:  # e.g. a resume job for it while it runs (--max-sessions > 1)
            raise ResumeError(f"session {session_id} is already running in this engine; nothing to resume")
        task = asyncio.current_task()
        self._session_tasks.add(task)
        self._claimed_sessions.add(session_id)
        try:
            run = await prepare_run(self, spec, session_id=session_id, resume=resume, catalog_parse=catalog_parse)
            release_freed_memory()  # the catalog's parse is garbage now: ~75 MB of heap at 50,000 assets
            try:
                await run.run()
            finally:
                await run.client.aclose()
                await self.flush()
                self.projector.forget_session(run.session_id)
            await self.compact(min_events=COMPACT_AFTER_SESSION_EVENTS)  # what the console reads from now on
        finally:
            self._session_tasks.discard(task)
            self._claimed_sessions.discard(session_id)
        return run

    async def wait_for_backlog(self) -> None:
        """Hold new items while too many events wait for a locked database file.

        Emitting never blocks, and events are never dropped; this bounds memory by not
        starting new work until the ticker has caught up.
        """
        limit = self.bus.backlog_warning
        if self.ticker.backlog <= limit:
            return
        log.warning("holding new items: %d events wait to be written", self.ticker.backlog)
        while self.ticker.backlog > limit // 2:
            await asyncio.sleep(0.1)

    async def flush(self) -> None:
        """Commit everything emitted so far (used at the end of a session and on shutdown)."""
        await self.ticker.drain()

    def wait_seconds_since(self, started: float) -> float:
        return time.monotonic() - started
