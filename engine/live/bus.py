"""The event bus: assigns each event its global seq and fans it out at once.

``emit`` never blocks on I/O: it numbers the event, encodes it once, hands the
frame to subscribers (the websockets server) and queues it for the ticker,
which persists queued records once per tick. A ring of recent records serves
reconnecting clients without touching the database.
"""
from __future__ import annotations

import json
import json.encoder
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from engine.events import Event

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


def _default(value):
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
        return json.JSONEncoder(default=_default, separators=(",", ":")).encode
    iterencode = make(None, _default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
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
    """Thread-safe; subscribers are called in the emitting thread and must not block."""

    def __init__(self, *, start_seq: int = 0, ring_size: int = 100_000, ring_bytes: int = RING_BYTES,
                 backlog_warning: int = 250_000):
        self._lock = threading.Lock()
        self._seq = start_seq
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

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def backlog(self) -> int:
        """Records emitted but not yet handed to the ticker."""
        return len(self._pending)

    def reset_seq(self, last_persisted: int) -> None:
        with self._lock:
            self._seq = max(self._seq, last_persisted)

    def subscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

    def unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s is not callback]

    def emit(self, event: Event) -> Record:
        payload = event.payload()
        payload_json = _encode_payload(payload)
        ts_us = time.time_ns() // 1000
        with self._lock:
            self._seq += 1
            seq = self._seq
            frame = encode_frame(seq, _iso(ts_us), event.session_id, event.item_id, event.name, payload_json)
            record = Record(seq, ts_us, event.session_id, event.item_id, event.name, payload_json, frame, payload)
            self._pending.append(record)
            self._keep(record)
            subscribers = self._subscribers
            self.emitted += 1
            backlog = len(self._pending)
        if backlog > self.backlog_warning and not self._warned:
            self._warned = True
            log.warning(
                "%d events are waiting to be written: the database has been locked for a while. "
                "They are kept and will be written when the lock is released; new items wait until "
                "the backlog drains.", backlog)
        for callback in subscribers:
            try:
                callback(record)
            except Exception:  # a broken subscriber must never stop generation
                log.exception("event subscriber failed")
        return record

    def _keep(self, record: Record) -> None:
        """Add to the backfill ring (lock held), evicting the oldest records past either bound."""
        ring = self._ring
        if len(ring) == ring.maxlen:
            self._ring_held -= _weight(ring[0])  # the deque drops it on append
        ring.append(record)
        self._ring_held += _weight(record)
        while self._ring_held > self.ring_bytes and len(ring) > 1:
            self._ring_held -= _weight(ring.popleft())

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
                return [] if seq >= self._seq else None
            first = self._ring[0].seq
            if seq + 1 < first:
                return None
            start = max(0, seq + 1 - first)
            return [self._ring[i] for i in range(start, len(self._ring))]
