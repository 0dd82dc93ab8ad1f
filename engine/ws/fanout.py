"""Fan-out: every bus event to every greeted websockets client, gap-free, in seq order.

Built so that a slow client never slows the engine or anyone else: the bus
subscriber only writes each frame (encoded once) straight into the sockets that
keep up, exactly like ``websockets.broadcast``; a client whose write buffer is
full gets the event appended to its own bounded queue, drained by its own task
(the pump, which first backfills the events it missed from the bus's memory ring
or the ``events`` table); when that queue passes ``max_queue`` the client is
dropped with close code 4429 and told to reconnect with ``since_seq``.

engine/ws.py owns the server, the handshake and requests, and hands each
greeted connection to a ``Fanout``.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections import deque
from typing import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.protocol import State

from engine.live.bus import Bus, Record
from engine.store.database import Store, StoreBusy
from engine.ws.protocol import CLOSE_BACKFILL_UNAVAILABLE, CLOSE_FELL_BEHIND, CLOSE_TOO_SLOW, frame_from_row

__all__ = ["Fanout", "Client"]

log = logging.getLogger(__name__)

_HISTORY_PAGE = 5_000      # rows per read of the events table during a backfill
_YIELD_EVERY = 1_000       # frames written before a backfill lets other tasks run


class _BackfillUnavailable(RuntimeError):
    pass


class Client:
    """One greeted connection and its private overflow queue."""

    __slots__ = ("conn", "pending", "wake", "direct", "last_seq", "dropped", "pump")

    def __init__(self, conn: ServerConnection):
        self.conn = conn
        self.pending: deque[Record] = deque()  # events waiting while the socket is full or backfilling
        self.wake = asyncio.Event()
        self.direct = False  # True once caught up: events go straight into the socket
        self.last_seq = 0    # last seq handed to the socket
        self.dropped = False
        self.pump: asyncio.Task | None = None


class Fanout:
    """Deliver bus records to the joined clients; ``start()`` and ``stop()`` on the serving loop.

    After ``start()``, ``bus.emit`` may be called from any thread. A client is dropped when more
    than ``max_queue`` events wait for it; ``dropped_clients`` and ``queued_events`` count what
    happened, for tests and the benchmark.
    """

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        max_queue: int = 10_000,
        write_limit: int = 2**18,
        backfill_timeout: float = 15.0,
        close_grace: float = 5.0,
        gather_s: float = 0.004,
    ):
        self.bus = bus
        # Events from other threads are gathered this long before the loop sends them: one wake-up of the
        # loop and one socket write per client for all of them. Each write to a local client costs the loop
        # ~0.1 ms of kernel work (5.7 % of its time in bench/pipeline.py under py-spy, one write per journal
        # group); a few ms is well inside the live stream's latency budget (bench/ws_fanout.py).
        self.gather_s = gather_s
        self.store = store
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.backfill_timeout = backfill_timeout
        self.close_grace = close_grace
        self.dropped_clients = 0
        self.queued_events = 0  # events that waited in a client's own queue (backfilling or a full socket)
        self.clients: tuple[Client, ...] = ()  # joined clients; a tuple so fan-out iterates a stable view
        self._next_seq = 0        # the next seq the fan-out expects; older arrivals are ignored
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._inbox: deque[Record] = deque()  # records emitted on other threads, waiting for the loop
        self._inbox_lock = threading.Lock()
        self._inbox_scheduled = False
        self._background: set[asyncio.Task] = set()

    # -- joining and leaving --------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.bus.subscribe(self._on_record)
        # Every seq after this one reaches _on_record; older ones are history, served by backfill.
        self._next_seq = self.bus.last_seq + 1

    def stop(self) -> None:
        self.bus.unsubscribe(self._on_record)
        for client in self.clients:
            if client.pump:
                client.pump.cancel()

    def join(self, conn: ServerConnection) -> tuple[Client, int]:
        """Queue every new event for ``conn``; returns its client and the last seq it will not get live."""
        client = Client(conn)
        self.clients = (*self.clients, client)
        return client, self._next_seq - 1

    def begin(self, client: Client, start: int, high: int) -> None:
        """Start sending: the events after ``start`` up to ``high`` from history, then the live ones."""
        client.pump = asyncio.create_task(self._pump(client, start, high))

    # -- fan-out (loop thread only) -------------------------------------------------------------
    def _on_record(self, record: Record) -> None:
        """Bus subscriber: runs in the emitting thread, must never block."""
        if threading.get_ident() == self._loop_thread:
            self._dispatch(record)
            return
        with self._inbox_lock:
            self._inbox.append(record)
            if self._inbox_scheduled:
                return
            self._inbox_scheduled = True
        try:  # one hop per burst, not per event
            if self.gather_s > 0:
                self._loop.call_soon_threadsafe(self._loop.call_later, self.gather_s, self._drain_inbox)
            else:
                self._loop.call_soon_threadsafe(self._drain_inbox)
        except RuntimeError:  # the loop is closed: the server is gone
            pass

    def _drain_inbox(self) -> None:
        with self._inbox_lock:
            records = list(self._inbox)
            self._inbox.clear()
            self._inbox_scheduled = False
        self._dispatch_many(records)

    def _dispatch(self, record: Record) -> None:
        self._dispatch_many((record,))

    def _dispatch_many(self, records: Iterable[Record]) -> None:
        """Hand events to clients in seq order, whatever order the emitting threads reached us in;
        a burst goes out as one write per client (one syscall, not one per event)."""
        ready: list[Record] = []
        for record in records:
            seq = record.seq
            if seq < self._next_seq:
                continue  # already sent: it was taken from the ring to fill a gap
            if seq > self._next_seq:
                if ready:
                    self._fan_out(ready)
                    ready = []
                self._fill_gap(seq)
            ready.append(record)
            self._next_seq = seq + 1
        if ready:
            self._fan_out(ready)

    def _fill_gap(self, seq: int) -> None:
        # Another thread's event got its seq first but has not reached us yet. The ring holds it
        # (the bus appends before calling subscribers), so send it now and skip it when it arrives.
        records = self.bus.since(self._next_seq - 1)
        if not records or records[0].seq != self._next_seq:
            log.warning("live stream lost events %d..%d; clients must reconnect", self._next_seq, seq - 1)
            for client in self.clients:
                self._drop(client, CLOSE_FELL_BEHIND, "server fell behind: reconnect with since_seq")
            return
        missing = [record for record in records if record.seq < seq]
        if missing:
            self._fan_out(missing)

    def _fan_out(self, records: list[Record]) -> None:
        wire = None
        last = records[-1].seq
        for client in self.clients:
            if client.direct:
                if client.conn.transport.get_write_buffer_size() <= self.write_limit:
                    if records[0].seq <= client.last_seq:  # it joined after a snapshot that reflects these
                        newer = [record for record in records if record.seq > client.last_seq]
                        if newer and _write(client.conn, b"".join([_wire_frame(record) for record in newer])):
                            client.last_seq = last
                        continue
                    if wire is None:
                        wire = b"".join([_wire_frame(record) for record in records])
                    if _write(client.conn, wire):
                        client.last_seq = last
                    continue
                client.direct = False  # its socket is full: queue from here on, in order
            client.pending.extend(records)
            self.queued_events += len(records)
            if len(client.pending) > self.max_queue:
                self._drop(client, CLOSE_TOO_SLOW,
                           f"too slow: {self.max_queue} events queued; reconnect with since_seq")
            else:
                client.wake.set()

    def _drop(self, client: Client, code: int, reason: str) -> None:
        if client.dropped:
            return
        client.dropped = True
        self.dropped_clients += 1
        self.forget(client)
        client.pending.clear()
        task = asyncio.ensure_future(self._close(client.conn, code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close(self, conn: ServerConnection, code: int, reason: str) -> None:
        # close() first waits for the socket to drain, which a stalled peer never lets happen:
        # after a grace period cut the connection so its buffers are freed.
        try:
            async with asyncio.timeout(self.close_grace):
                await conn.close(code, reason)
        except TimeoutError:
            conn.transport.abort()

    def forget(self, client: Client) -> None:
        self.clients = tuple(c for c in self.clients if c is not client)
        client.direct = False
        if client.pump is not None and client.pump is not asyncio.current_task():
            client.pump.cancel()

    # -- per-client pump: backfill, then drain the overflow queue --------------------------------
    async def _pump(self, client: Client, start: int, high: int) -> None:
        try:
            last = start
            if high > start:
                last = await self._send_history(client, start, high)
            await self._relay(client, last)
        except _BackfillUnavailable as exc:
            log.warning("backfill failed: %s", exc)
            self._drop(client, CLOSE_BACKFILL_UNAVAILABLE, "missed events not available yet: reconnect")
        except (ConnectionClosed, asyncio.CancelledError):
            pass

    async def _send_history(self, client: Client, after: int, upto: int) -> int:
        """Write events after..upto: from memory when it reaches back, else from the events table."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.backfill_timeout
        cursor = after
        written = 0
        while cursor < upto:
            records = self.bus.since(cursor)
            if records and records[0].seq == cursor + 1:
                source: Iterable[Record] = records
            else:
                try:
                    rows = await asyncio.to_thread(self._read_events, cursor, upto)
                except StoreBusy as exc:
                    rows, busy = [], exc
                else:
                    busy = None
                if not rows or rows[0][0] != cursor + 1:
                    # Not yet persisted and already out of the ring: the next tick writes it.
                    if loop.time() > deadline:
                        raise _BackfillUnavailable(f"events after {cursor} not found ({busy or 'not persisted'})")
                    await asyncio.sleep(0.05)
                    continue
                source = (frame_from_row(*row) for row in rows)
            for record in source:
                if record.seq > upto:
                    break
                if record.seq != cursor + 1:
                    break  # a hole in this source: look again from the cursor
                if not await self._send(client, record):
                    return cursor  # closed: the relay stops at its first write too
                cursor = record.seq
                written += 1
                if written % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a long backfill must not starve the engine or others
        return cursor

    def _read_events(self, after: int, upto: int) -> list[tuple]:
        with self.store.read() as con:
            return con.execute(
                "SELECT seq, epoch_us(ts), session_id, item_id, type, payload::VARCHAR FROM events "
                "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", [after, upto, _HISTORY_PAGE]).fetchall()

    async def _relay(self, client: Client, last: int) -> None:
        while True:
            while client.pending:
                record = client.pending.popleft()
                if record.seq <= last:
                    continue  # already sent by the backfill
                if not await self._send(client, record):
                    return
                last = record.seq
            # Caught up, with no await since the queue emptied: the fan-out may write directly again.
            client.last_seq = last
            client.direct = True
            client.wake.clear()
            await client.wake.wait()

    async def _send(self, client: Client, record: Record) -> bool:
        conn = client.conn
        if conn.transport.get_write_buffer_size() > self.write_limit:
            await conn.drain()
        return _write(conn, _wire_frame(record))



def _wire_frame(record: Record) -> bytes:
    """The complete websocket frame. Server frames are unmasked and we negotiate no extensions
    (compression=None), so the bytes are the same for every client: build them once per event.
    The header is written here (RFC 6455 5.2: FIN + text opcode, then the length in 7, 16 or 64 bits)
    rather than by ``Frame.serialize``, whose checks cost more than the frame on the engine's loop."""
    data = record.frame.encode()
    size = len(data)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + data
    if size < 65536:
        return _HEADER_16.pack(_FIN_TEXT, 126, size) + data
    return _HEADER_64.pack(_FIN_TEXT, 127, size) + data


_FIN_TEXT = 0x80 | Opcode.TEXT.value
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def _write(conn: ServerConnection, wire: bytes) -> bool:
    """Write one ready-made frame without awaiting (what websockets.broadcast does, minus the
    per-client framing). Whole frames only, so it interleaves safely with the library's pongs."""
    if conn.protocol.state is not State.OPEN:
        return False
    try:
        conn.transport.write(wire)
    except Exception:  # a socket failing mid-write is closed by websockets; the others go on
        return False
    return True
