"""The event bus: assigns each event its global seq and fans it out once it is durable.

``emit`` never blocks on I/O: it numbers the event and encodes it once. With a
journal (the engine always has one) the record goes to the journal's writer
thread, and only once its group is on disk is it *published*: handed to
subscribers (the websockets server), queued for the ticker (which persists
queued records to DuckDB once per tick) and kept in a ring that serves
reconnecting clients without touching the database. Without a journal
(benchmarks, tests) it is published at once. ``durable(seq)`` lets a paid call
wait until its record is on disk.
"""
from __future__ import annotations

import asyncio
import json
import json.encoder
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from engine.events import Event
from engine.live.event_bounds import ENVELOPE_RESERVE, MAX_EVENT_BYTES, bound_payload
from engine.live.storage import StorageHealth

if TYPE_CHECKING:
    from engine.live.journal import Journal

__all__ = ["Bus", "Record", "encode_frame"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Record:
    seq: int
    ts_us: int  # microseconds since the epoch, UTC
    session_id: str | None
    item_id: str | None
    type: str
    payload_json: str
    frame: str  # the websockets message, encoded once for every client
    payload: dict | None = None

    @property
    def ts_iso(self) -> str:
        return _iso(self.ts_us)


# Events arrive many per second: format the date-time part once per second (a tuple, swapped atomically).
_iso_second: tuple[int, str] = (-1, "")


def _iso(ts_us: int) -> str:
    global _iso_second
    secs, micros = divmod(ts_us, 1_000_000)
    cached = _iso_second
    if cached[0] != secs:
        cached = _iso_second = (secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)))
    return f"{cached[1]}.{micros:06d}Z"


def json_default(value):
    """How an event payload's non-JSON values are written: datetimes as ISO text, sets as lists."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _payload_encoder() -> Callable[[dict], str]:
    """Compact JSON, same output as json.dumps(..., separators=(",", ":")), built once.

    json.dumps builds a new encoder on every call; on the hot path (tens of thousands of events
    per second) reusing CPython's C encoder halves the cost. Circular payloads are not checked
    (they cannot come from event dataclasses).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(default=json_default, separators=(",", ":")).encode
    iterencode = make(None, json_default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda payload: "".join(iterencode(payload, 0))


_encode_payload = _payload_encoder()
_quote = json.encoder.encode_basestring_ascii


def _json_id(value) -> str:
    return _quote(value) if value.__class__ is str else json.dumps(value)


def encode_frame(seq: int, ts_iso: str, session_id, item_id, type_: str, payload_json: str) -> str:
    sid = "null" if session_id is None else _json_id(session_id)
    iid = "null" if item_id is None else _json_id(item_id)
    return (
        f'{{"type":"event","seq":{seq},"ts":"{ts_iso}","session_id":{sid},'
        f'"item_id":{iid},"event":"{type_}","payload":{payload_json}}}'
    )


Subscriber = Callable[[Record], None]
RING_BYTES = 8 * 2**20  # the backfill ring's default size: a few thousand events
_RECORD_OVERHEAD = 200  # the Record itself and its small fields, roughly


def _weight(record: Record) -> int:
    """What a ring record costs in memory, roughly: its frame, its payload text (about as long) and
    the decoded payload (about twice that again)."""
    return 4 * len(record.frame) + _RECORD_OVERHEAD


class Bus:
    """Thread-safe; subscribers are called in the publishing thread (the emitting one, or the journal's
    writer) and must not block."""

    def __init__(self, *, start_seq: int = 0, ring_size: int = 100_000, ring_bytes: int = RING_BYTES,
                 backlog_warning: int = 250_000, max_event_bytes: int = MAX_EVENT_BYTES,
                 journal: "Journal | None" = None):
        self._lock = threading.Lock()
        self._seq = start_seq  # the last seq assigned
        self._published = start_seq  # the last seq handed to subscribers and the ticker
        self.journal = journal
        self.storage = journal.storage if journal is not None else StorageHealth()
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._pending: deque[Record] = deque()
        # Bounded in records and in bytes: a long session's memory must not grow with its length.
        # Reconnecting clients that reach back further are served from the events table.
        self._ring: deque[Record] = deque(maxlen=ring_size)
        self.ring_bytes = ring_bytes
        self._ring_held = 0
        self._subscribers: list[Subscriber] = []
        self.backlog_warning = backlog_warning
        self._warned = False
        self.emitted = 0
        self.max_event_bytes = max_event_bytes  # every frame fits a client's frame limit (event_bounds)
        self.max_payload_chars = max_event_bytes - ENVELOPE_RESERVE

    @property
    def last_seq(self) -> int:
        """The last seq published (durable, seen by subscribers)."""
        return self._published

    @property
    def assigned_seq(self) -> int:
        """The last seq given to an event, durable or not yet."""
        return self._seq

    @property
    def backlog(self) -> int:
        """Records emitted but not yet handed to the ticker (including those still on their way to disk)."""
        return len(self._pending) + (self._seq - self._published if self.journal is not None else 0)

    def reset_seq(self, last_persisted: int) -> None:
        with self._lock:
            self._seq = max(self._seq, last_persisted)
            self._published = max(self._published, last_persisted)

    def subscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

    def unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s is not callback]

    def emit(self, event: Event) -> Record:
        payload = event.payload()
        payload_json = _encode_payload(payload)
        if len(payload_json) > self.max_payload_chars:  # ASCII JSON: characters are bytes
            payload, payload_json = bound_payload(payload, _encode_payload, cap=self.max_event_bytes)
        ts_us = time.time_ns() // 1000
        with self._lock:
            self._seq += 1
            seq = self._seq
            frame = encode_frame(seq, _iso(ts_us), event.session_id, event.item_id, event.name, payload_json)
            record = Record(seq, ts_us, event.session_id, event.item_id, event.name, payload_json, frame, payload)
            self.emitted += 1
            if self.journal is not None:
                self.journal.append(record)  # under the lock: the journal receives records in seq order
                return record
            handed = self._publish_locked((record,))
        self._notify((record,), *handed)
        return record

    def publish_durable(self, records: list[Record]) -> None:
        """The journal's writer calls this with each group once it is on disk, in seq order."""
        with self._lock:
            handed = self._publish_locked(records)
        self._notify(records, *handed)

    def _publish_locked(self, records) -> tuple:
        self._pending.extend(records)
        self._keep(records)
        self._published = records[-1].seq
        ready = ()
        if self._waiters:
            ready = [w for w in self._waiters if w[0] <= self._published]
            if ready:
                self._waiters = [w for w in self._waiters if w[0] > self._published]
        return self._subscribers, len(self._pending), ready

    def _notify(self, records, subscribers, backlog: int, ready) -> None:
        if ready:
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
            for _, loop, future in ready:
                by_loop.setdefault(loop, []).append(future)
            for loop, futures in by_loop.items():  # one wake-up of a loop per group, however many wait
                try:
                    loop.call_soon_threadsafe(_resolve, futures)
                except RuntimeError:  # that loop is closed: nobody waits any more
                    pass
        if backlog > self.backlog_warning and not self._warned:
            self._warned = True
            log.warning(
                "%d events are waiting to be written: the database has been locked for a while. "
                "They are safe in the journal and will be written when the lock is released; new items "
                "wait until the backlog drains.", backlog)
        for record in records:
            for callback in subscribers:
                try:
                    callback(record)
                except Exception:  # a broken subscriber must never stop generation
                    log.exception("event subscriber failed")

    async def durable(self, seq: int) -> None:
        """Return once the event numbered ``seq`` is on disk (and published)."""
        if seq <= self._published:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if seq <= self._published:
                return
            self._waiters.append((seq, loop, future))
        await future

    def wait_published(self, seq: int, *, timeout: float = 5.0) -> bool:
        """From a plain thread: wait (up to ``timeout``) until ``seq`` is durable and published."""
        end = time.monotonic() + timeout
        while self._published < seq:
            if time.monotonic() > end:
                return False
            time.sleep(0.0005)
        return True

    def persisted(self, seq: int) -> None:
        """The ticker committed every record up to ``seq`` to the database: the journal may let them go."""
        if self.journal is not None:
            self.journal.drained(seq)

    def _keep(self, records) -> None:
        """Add to the backfill ring (lock held), evicting the oldest records past either bound."""
        ring = self._ring
        if len(records) > ring.maxlen:
            records = records[-ring.maxlen:]
        held = self._ring_held
        for _ in range(min(len(ring) + len(records) - ring.maxlen, len(ring))):  # those extend would drop
            held -= _weight(ring.popleft())
        ring.extend(records)
        held += 4 * sum([len(record.frame) for record in records]) + _RECORD_OVERHEAD * len(records)  # _weight's sum
        while held > self.ring_bytes and len(ring) > 1:
            held -= _weight(ring.popleft())
        self._ring_held = held

    @property
    def ring_held_bytes(self) -> int:
        """About how many bytes the backfill ring holds (its frames and payload texts)."""
        return self._ring_held

    def take_pending(self) -> list[Record]:
        with self._lock:
            records = list(self._pending)
            self._pending.clear()
            if len(records) < self.backlog_warning // 2:
                self._warned = False
        return records

    def since(self, seq: int) -> list[Record] | None:
        """Records after ``seq`` from memory, or None when memory no longer reaches back that far."""
        with self._lock:
            if not self._ring:
                return [] if seq >= self._published else None
            first = self._ring[0].seq
            if seq + 1 < first:
                return None
            start = max(0, seq + 1 - first)
            return [self._ring[i] for i in range(start, len(self._ring))]


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
