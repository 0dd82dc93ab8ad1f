"""The ticker: once per tick, one short transaction on the database file.

In it: tick handlers read the rows operators wrote (controls, decisions, jobs)
and apply them; then every event emitted since the last tick is appended in one
Arrow batch and the projected table rows are upserted. The records come from the
bus once the journal has them on disk; after the commit the journal is told, so
it can delete what is drained. If the file is locked past the store's deadline
(or cannot be written), the records stay in memory, safe in the journal, and the
next tick tries again: nothing is dropped. A failure that repeats is logged once,
and once more when it clears.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol, Sequence

import duckdb

from engine.live.bus import Bus, Record
from engine.live.projection import Projector
from engine.live.storage import is_storage_error
from engine.store.columns import Columns, insert_columns
from engine.store.database import Store, StoreBusy, is_out_of_memory

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Ticker", "TickHandler", "records_to_arrow", "records_to_columns", "insert_events"]

log = logging.getLogger(__name__)

# ts is microseconds since the epoch: added to the epoch as an interval, exact and independent of TimeZone
_EVENT_EXPRESSIONS = {"ts": "to_timestamp(0) + to_microseconds({})", "payload": "{}::JSON"}


class TickHandler(Protocol):
    def on_tick(self, con: duckdb.DuckDBPyConnection) -> None:
        """Runs inside the tick's transaction; may emit events, which land in the same commit. It must not
        wait on anything slow: the transaction holds the file lock that every reader waits on. Work for the
        engine's loop is handed over (engine.intents.handler.RowHandler) and stamped after ``settle``."""


def records_to_columns(records: Sequence[Record]) -> Columns:
    return Columns({
        "seq": [r.seq for r in records], "ts": [r.ts_us for r in records],
        "session_id": [r.session_id for r in records], "item_id": [r.item_id for r in records],
        "type": [r.type for r in records], "payload": [r.payload_json for r in records],
    })


def insert_events(con: duckdb.DuckDBPyConnection, records: Sequence[Record]) -> None:
    """Append ``records`` to the events table in one INSERT."""
    insert_columns(con, "events", records_to_columns(records), expressions=_EVENT_EXPRESSIONS)


def records_to_arrow(records: Sequence[Record]) -> "pa.Table":
    """The records as an Arrow table (benchmarks compare it; the engine writes ``records_to_columns``)."""
    import pyarrow as pa

    schema = pa.schema([("seq", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("session_id", pa.string()),
                        ("item_id", pa.string()), ("type", pa.string()), ("payload", pa.string())])
    return pa.Table.from_arrays(
        [
            pa.array([r.seq for r in records], pa.int64()),
            pa.array([r.ts_us for r in records], pa.timestamp("us", tz="UTC")),
            pa.array([r.session_id for r in records], pa.string()),
            pa.array([r.item_id for r in records], pa.string()),
            pa.array([r.type for r in records], pa.string()),
            pa.array([r.payload_json for r in records], pa.string()),
        ],
        schema=schema,
    )


_DISK_REFUSALS = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded")


def _disk_refused(exc: BaseException) -> bool:
    return is_storage_error(exc) or any(text in str(exc) for text in _DISK_REFUSALS)


def _kind(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:80]}"


class Ticker:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        projector: Projector,
        *,
        interval: float = 0.25,
        handlers: Sequence[TickHandler] = (),
        keep_lag_samples: int = 0,
        settle_timeout: float = 1.0,
    ):
        self.store = store
        self.bus = bus
        self.projector = projector
        self.interval = interval
        self.handlers = list(handlers)
        self.settle_timeout = settle_timeout
        self._unpersisted: list[Record] = []
        self.persisted_seq = bus.last_seq
        self.flushes = 0
        self.failures = 0
        self.lag_samples: deque[float] = deque(maxlen=keep_lag_samples or 1)
        self._keep_lag = keep_lag_samples > 0
        self._poisoned: str | None = None

    @property
    def backlog(self) -> int:
        """Events emitted but not yet committed to the database."""
        return len(self._unpersisted) + self.bus.backlog

    def add_handler(self, handler: TickHandler) -> None:
        self.handlers.append(handler)

    def flush(self) -> int:
        """One transaction, and a second short one when handlers handed rows to the engine's loop;
        returns how many events were committed. Raises StoreBusy on a long lock."""
        if not self._unpersisted:
            # Fold what is pending before taking the file: the CPU work then does not hold the lock
            # that readers wait on. Not while a backlog is kept (file locked), so that it stays in
            # the bus, which warns when it grows.
            self._take_and_fold()
        committed = self._commit(self._on_tick)
        waiting = [h for h in self.handlers if getattr(h, "handed", 0)]
        # Applying a row runs on the engine's loop; wait for it here, with no transaction open, then
        # stamp the results beside the events they emitted.
        if any([h.settle(timeout=self.settle_timeout) for h in waiting]):
            committed += self._commit(lambda con: [h.stamp_finished(con) for h in waiting])
        return committed

    def _on_tick(self, con: duckdb.DuckDBPyConnection) -> None:
        for handler in self.handlers:
            try:
                handler.on_tick(con)
            except Exception:
                log.exception("tick handler %r failed; the engine goes on", handler)

    def _commit(self, work) -> int:
        taken: dict = {}
        try:
            with self.store.write() as con:
                before = self.bus.assigned_seq
                work(con)
                if self.bus.assigned_seq != before:  # once durable (a group commit: ~ms), they are published
                    self.bus.wait_published(self.bus.assigned_seq, timeout=self.settle_timeout)
                self._take_and_fold()  # events the handlers emitted land in this same commit
                records = self._unpersisted
                if records:
                    insert_events(con, records)
                frames, taken = self.projector.take_dirty()
                if self._poisoned:
                    log.error("dropping %d projected rows that failed twice to write: %s",
                              sum(len(k) for k in taken.values()), self._poisoned)
                    frames, taken, self._poisoned = {}, {}, None
                for table, columns in frames.items():
                    insert_columns(con, table, columns, replace=True)
        except StoreBusy:
            if taken:
                self.projector.restore_dirty(taken)
            self.failures += 1
            raise
        except BaseException as exc:
            if taken:
                self.projector.restore_dirty(taken)
                # a projection bug must not stop the event log: the next failure drops the rows (a disk that
                # refuses writes is no bug, nor a transaction over DuckDB's memory limit, which the store raises
                # for the next try: those rows wait, like the events)
                if not (_disk_refused(exc) or is_out_of_memory(exc)):
                    self._poisoned = repr(exc)
            self.failures += 1
            raise
        self._poisoned = None
        committed = len(self._unpersisted)
        if committed:
            self.persisted_seq = self._unpersisted[-1].seq
            self.bus.persisted(self.persisted_seq)
            if self._keep_lag:
                now_us = time.time_ns() // 1000
                self.lag_samples.extend((now_us - r.ts_us) / 1e6 for r in self._unpersisted)
        self._unpersisted = []
        self.flushes += 1
        return committed

    def _take_and_fold(self) -> None:
        fresh = self.bus.take_pending()
        if fresh:
            self._unpersisted.extend(fresh)  # first: whatever apply does, the events are not lost
            self.projector.apply(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, then flush what is left."""
        failing: str | None = None  # the failure being repeated: logged when it starts and when it ends
        while not stop.is_set():
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.flush)
            except StoreBusy as exc:
                log.warning("events kept in memory (%d waiting): %s", self.backlog, exc)
            except Exception as exc:
                if failing != _kind(exc):
                    failing = _kind(exc)
                    if _disk_refused(exc):
                        log.error("cannot write the database %s: %s; events are kept in memory and in the journal, "
                                  "and written once it takes writes again (free space on its filesystem)",
                                  self.store.path, exc)
                    else:
                        log.exception("tick failed; events kept in memory (and in the journal) and retried each "
                                      "tick until it works (logged again only when this changes)")
            else:
                if failing is not None:
                    log.warning("ticks write to the database again (%d events waiting)", self.backlog)
                    failing = None
            remaining = self.interval - (time.monotonic() - started)
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(remaining, 0.0))
            except asyncio.TimeoutError:
                pass
        await self.drain()

    async def drain(self, *, deadline: float = 60.0) -> None:
        """Flush until everything emitted so far is committed, retrying a locked file up to ``deadline`` s."""
        end = time.monotonic() + deadline
        while True:
            try:
                await asyncio.to_thread(self.flush)
                if self.backlog == 0:
                    return
            except Exception as exc:
                if time.monotonic() > end:
                    log.error("gave up writing %d events after %.0fs: %s", self.backlog, deadline, exc)
                    raise
                await asyncio.sleep(0.2)
