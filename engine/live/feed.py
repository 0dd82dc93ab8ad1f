"""The console's shared live feed: one tail of the event log per console process.

Every browser tab's live panel reruns about once a second; if each ran its own
query the engine's ticker would queue behind them. Instead one Feed per process
(cached by the page layer with ``st.cache_resource``) polls events with
``seq > last_seq`` in one short read-only attach and keeps the last N in memory;
all tabs read that memory. Thread-safe: Streamlit runs each session's script in
its own thread.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from engine.store.database import Store, StoreBusy

# The console opens the studio through its feed: pages take the store from here, not from engine.store.
__all__ = ["Feed", "FeedEvent", "Store", "StoreBusy"]


@dataclass(frozen=True, slots=True)
class FeedEvent:
    seq: int
    ts: datetime
    session_id: str | None
    item_id: str | None
    type: str
    payload: str


class Feed:
    """Tails ``events`` by seq. ``poll()`` is cheap to call often: calls within ``min_interval`` share one read."""

    def __init__(self, store: Store, *, capacity: int = 2000, batch_limit: int = 5000, min_interval: float = 0.25):
        self.store = store
        self.capacity = capacity
        self.batch_limit = batch_limit
        self.min_interval = min_interval
        self._events: deque[FeedEvent] = deque(maxlen=capacity)
        self._lock = threading.Lock()  # guards the buffer
        self._poll_lock = threading.Lock()  # one poll at a time; others reuse its result
        self._last_poll = 0.0
        self.last_seq = 0
        self.polls = 0
        self.skipped_events = 0  # events jumped over because the feed fell more than a buffer behind
        self.last_error: str | None = None
        self.busy = False

    @property
    def newest_ts(self) -> datetime | None:
        with self._lock:
            return self._events[-1].ts if self._events else None

    def staleness_s(self, *, now: datetime | None = None) -> float | None:
        """Seconds between now and the newest event the feed holds (None before any event)."""
        newest = self.newest_ts
        return None if newest is None else ((now or datetime.now(timezone.utc)) - newest).total_seconds()

    def poll(self, *, force: bool = False) -> int:
        """Read new events; returns how many arrived. Never raises StoreBusy: sets ``busy`` instead."""
        if not force and time.monotonic() - self._last_poll < self.min_interval:
            return 0
        if not self._poll_lock.acquire(blocking=force):
            return 0  # another thread is polling right now; its result serves us too
        try:
            self._last_poll = time.monotonic()
            try:
                fresh, skipped = self._read()
            except StoreBusy as exc:
                self.busy, self.last_error = True, str(exc)
                return 0
            self.busy, self.last_error = False, None
            with self._lock:
                self._events.extend(fresh)
                if fresh:
                    self.last_seq = fresh[-1].seq
                self.skipped_events += skipped
                self.polls += 1
            return len(fresh)
        finally:
            self._poll_lock.release()

    def _read(self) -> tuple[list[FeedEvent], int]:
        with self.store.read() as con:
            newest = con.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
            # A feed more than a buffer behind (first poll, or a long stall) jumps ahead: older events would
            # be evicted at once anyway, and reading them would hold the file for nothing.
            start = max(self.last_seq, newest - self.capacity)
            rows = con.execute(
                "SELECT seq, ts, session_id, item_id, type, payload FROM events WHERE seq > ? "
                "ORDER BY seq LIMIT ?", [start, self.batch_limit]).fetchall()
        skipped = max(0, start - self.last_seq) if self.last_seq else 0
        return [FeedEvent(*row) for row in rows], skipped

    def events(self, *, session_id: str | None = None, types: tuple[str, ...] = (), limit: int = 50) -> list[FeedEvent]:
        """The newest events first, optionally of one session and some types."""
        with self._lock:
            snapshot = list(self._events)
        picked = []
        for event in reversed(snapshot):
            if session_id is not None and event.session_id != session_id:
                continue
            if types and event.type not in types:
                continue
            picked.append(event)
            if len(picked) >= limit:
                break
        return picked

    def frame(self, *, session_id: str | None = None, limit: int = 50) -> pd.DataFrame:
        events = self.events(session_id=session_id, limit=limit)
        return pd.DataFrame([_as_dict(e) for e in events], columns=["seq", "ts", "session_id", "item_id", "type", "payload"])

    def stats(self) -> dict:
        with self._lock:
            held = len(self._events)
        return {"last_seq": self.last_seq, "held": held, "polls": self.polls, "busy": self.busy,
                "skipped_events": self.skipped_events, "staleness_s": self.staleness_s()}


def _as_dict(event: FeedEvent) -> dict:
    return {name: getattr(event, name) for name in FeedEvent.__slots__}
