"""The websockets server: live events out, operator commands in.

Every client gets the same stream: a snapshot of the sessions, then every event
after the ``since_seq`` it names (from the bus's memory ring, else the
``events`` table), then live events, gap-free and in seq order. docs/protocol.md
is the contract.

Fan-out is built so that a slow client never slows the engine or anyone else:
the bus subscriber only writes each frame (encoded once) straight into the
sockets that keep up, exactly like ``websockets.broadcast``; a client whose
write buffer is full gets the event appended to its own bounded queue, drained
by its own task; when that queue passes ``max_queue`` the client is dropped
with close code 4429 and told to reconnect with ``since_seq``.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import threading
from collections import deque
from http import HTTPStatus
from typing import Any, Callable, Iterable

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from .bus import Bus, Record
from .commands import CommandError, request_control, request_decision
from .config import Settings, ensure_ws_token
from .store import Store, StoreBusy
from .ws_protocol import (
    CLOSE_BACKFILL_UNAVAILABLE, CLOSE_FELL_BEHIND, CLOSE_HELLO_TIMEOUT, CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED, MAX_MESSAGE_BYTES, BadRequest, Hello, ack_message, control_request,
    decision_request, default_allowed_origins, engine_info, error_message, frame_from_row, origins_from_env,
    parse_hello, parse_message, snapshot_message, to_json,
)

__all__ = ["WsServer", "server_from_settings", "SnapshotSource"]

log = logging.getLogger(__name__)

# A snapshot source returns the sessions (JSON-able dicts), or (last_seq, sessions) when it knows
# exactly which event its state reflects. Called in a worker thread.
SnapshotSource = Callable[[], "list[dict] | tuple[int, list[dict]]"]

_HISTORY_PAGE = 5_000      # rows per read of the events table during a backfill
_YIELD_EVERY = 1_000       # frames written before a backfill lets other tasks run


class _BackfillUnavailable(RuntimeError):
    pass


class _Client:
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


class WsServer:
    """Serve the bus to websockets clients; ``await start()``, ``await close()`` (or ``async with``).

    ``port=0`` picks a free port, readable as ``.port`` after start. ``snapshot`` replaces the
    default sessions read (see SnapshotSource). A client is dropped when more than ``max_queue``
    events wait for it. Must be started on the loop that should serve; ``bus.emit`` may then be
    called from any thread.
    """

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        token: str,
        host: str = "127.0.0.1",
        port: int = 4501,
        allowed_origins: Iterable[str] | None = None,
        console_port: int = 4500,
        snapshot: SnapshotSource | None = None,
        max_queue: int = 10_000,
        write_limit: int = 2**18,
        socket_send_buffer: int | None = 2**18,
        hello_timeout: float = 10.0,
        backfill_timeout: float = 15.0,
        snapshot_limit: int = 200,
        close_grace: float = 5.0,
    ):
        if not token:
            raise ValueError("the websockets server needs a token (engine.config.ensure_ws_token)")
        self.bus = bus
        self.store = store
        self.host = host
        self.port = port
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.socket_send_buffer = socket_send_buffer
        self.hello_timeout = hello_timeout
        self.backfill_timeout = backfill_timeout
        self.snapshot_limit = snapshot_limit
        self.close_grace = close_grace
        self.allowed_origins = (frozenset(o.rstrip("/") for o in allowed_origins) if allowed_origins is not None
                                else default_allowed_origins(console_port))
        self.dropped_clients = 0
        self.queued_events = 0  # events that waited in a client's own queue (backfilling or a full socket)
        self._token = token.encode()
        self._snapshot = snapshot
        self._clients: tuple[_Client, ...] = ()  # greeted clients; a tuple so fan-out iterates a stable view
        self._next_seq = 0        # the next seq the fan-out expects; older arrivals are ignored
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._inbox: deque[Record] = deque()  # records emitted on other threads, waiting for the loop
        self._inbox_lock = threading.Lock()
        self._inbox_scheduled = False
        self._background: set[asyncio.Task] = set()
        self._connections: set[ServerConnection] = set()  # every open socket, greeted or not

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        """Clients that sent a valid hello and are receiving events."""
        return len(self._clients)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.bus.subscribe(self._on_record)
        # Every seq after this one reaches _on_record; older ones are history, served by backfill.
        self._next_seq = self.bus.last_seq + 1
        self._server = await serve(
            self._handle, self.host, self.port,
            process_request=self._check_origin,
            max_size=MAX_MESSAGE_BYTES,
            write_limit=self.write_limit,
            compression=None,  # loopback: deflating each frame per client costs more than it saves
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("websockets server on ws://%s:%d", self.host, self.port)

    async def close(self) -> None:
        self.bus.unsubscribe(self._on_record)
        for client in self._clients:
            if client.pump:
                client.pump.cancel()
        if self._server is not None:
            self._server.close(close_connections=True)  # 1001 going away: clients reconnect
            try:
                async with asyncio.timeout(self.close_grace):
                    await self._server.wait_closed()
            except TimeoutError:  # peers that stopped reading never take the close frame
                for conn in self._connections:
                    conn.transport.abort()
                await self._server.wait_closed()
        self._clients = ()

    async def __aenter__(self) -> "WsServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- handshake ------------------------------------------------------------------------------
    def _check_origin(self, connection: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        # No Origin: not a browser (CLI, scripts); the token still guards it.
        if origin is None or origin.rstrip("/") in self.allowed_origins:
            return None
        log.warning("refused websockets connection from origin %r", origin)
        return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n")

    async def _handle(self, conn: ServerConnection) -> None:
        client = None
        self._connections.add(conn)
        try:
            client = await self._greet(conn)
            if client is None:
                return
            async for text in conn:
                reply = await self._answer(text)
                await conn.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self._connections.discard(conn)
            if client is not None:
                self._forget(client)

    async def _greet(self, conn: ServerConnection) -> _Client | None:
        """Wait for a valid hello; answer anything else with an error and keep waiting."""
        deadline = asyncio.get_running_loop().time() + self.hello_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    text = await conn.recv()
            except TimeoutError:
                await conn.close(CLOSE_HELLO_TIMEOUT, f"no hello within {self.hello_timeout:g}s")
                return None
            try:
                message = parse_message(text)
                if message["type"] != "hello":
                    raise BadRequest('send {"type":"hello","token":...} first', code="hello_required",
                                     request_id=message.get("id"))
                hello = parse_hello(message)
            except BadRequest as exc:
                if exc.code == "unauthorized":
                    return await self._refuse(conn, str(exc))
                await conn.send(error_message(exc.code, str(exc), exc.request_id))
                continue
            if not hmac.compare_digest(hello.token.encode(), self._token):
                return await self._refuse(conn, "wrong token: use the one in <data-dir>/.ws-token")
            return await self._admit(conn, hello)

    async def _refuse(self, conn: ServerConnection, reason: str) -> None:
        await conn.send(error_message("unauthorized", reason))
        await conn.close(CLOSE_UNAUTHORIZED, "unauthorized")
        return None

    async def _admit(self, conn: ServerConnection, hello: Hello) -> _Client | None:
        # _wire_frame sends identical bytes to all: valid only while no extension (deflate) is negotiated.
        assert not conn.protocol.extensions, "websockets extensions must stay off (compression=None)"
        self._bound_kernel_buffer(conn)
        client = _Client(conn)
        # From here every new event is queued for this client; `high` is the last one it will not get live.
        self._clients = (*self._clients, client)
        high = self._next_seq - 1
        try:
            last_seq, sessions = await asyncio.to_thread(self._take_snapshot)
        except Exception as exc:
            self._forget(client)
            log.warning("snapshot failed: %s", exc)
            await conn.send(error_message("unavailable", f"could not read the sessions: {exc}"))
            await conn.close(1013, "try again later")
            return None
        known = max(high, last_seq)
        start = last_seq if hello.since_seq is None else min(hello.since_seq, known)
        await conn.send(snapshot_message(last_seq=last_seq, since_seq=start, sessions=sessions,
                                         engine=engine_info()))
        client.pump = asyncio.create_task(self._pump(client, start, high))
        return client

    def _bound_kernel_buffer(self, conn: ServerConnection) -> None:
        # Linux grows a socket's send buffer up to 4 MiB for a peer that does not read: that hides a
        # stalled client for seconds and costs memory per client. A fixed 256 KiB is plenty on loopback.
        sock = conn.transport.get_extra_info("socket")
        if self.socket_send_buffer and sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_send_buffer)
            except OSError:
                pass

    def _take_snapshot(self) -> tuple[int, list[dict]]:
        if self._snapshot is None:
            return self._read_sessions()
        last_seq = self.bus.last_seq
        result = self._snapshot()
        if isinstance(result, tuple):
            return int(result[0]), list(result[1])
        return last_seq, list(result)

    def _read_sessions(self) -> tuple[int, list[dict]]:
        """The sessions table and the last event it reflects, read in one look (same transaction)."""
        with self.store.read() as con:
            last_seq = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            cur = con.execute("SELECT * FROM sessions ORDER BY created_at DESC NULLS LAST LIMIT ?",
                              [self.snapshot_limit])
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, row)) for row in cur.fetchall()]
        for row in rows:
            if isinstance(row.get("params"), str):
                row["params"] = json.loads(row["params"])
        return int(last_seq), json.loads(to_json(rows))

    # -- requests -------------------------------------------------------------------------------
    async def _answer(self, text: str | bytes) -> str:
        request_id = None
        try:
            message = parse_message(text)
            request_id = message.get("id")
            kind = message["type"]
            if kind == "ping":
                return to_json({"type": "pong"} if request_id is None else {"type": "pong", "id": request_id})
            if kind == "command":
                control_id = await asyncio.to_thread(self._control, message)
                return ack_message(request_id, control_id=control_id)
            if kind == "decision":
                decision_id = await asyncio.to_thread(self._decision, message)
                return ack_message(request_id, decision_id=decision_id)
            if kind == "hello":
                raise BadRequest("already greeted: hello is only the first message")
            raise BadRequest(f"unknown message type {kind!r}; expected ping, command or decision")
        except BadRequest as exc:
            return error_message(exc.code, str(exc), exc.request_id if exc.request_id is not None else request_id)
        except CommandError as exc:
            return error_message("bad_request", str(exc), request_id)
        except StoreBusy as exc:
            return error_message("busy", str(exc), request_id)
        except Exception as exc:  # a bug here must not cut the operator's connection
            log.exception("websockets request failed")
            return error_message("internal", f"{type(exc).__name__}: {exc}", request_id)

    def _control(self, message: dict) -> int:
        return request_control(self.store, **control_request(message), source="ws")

    def _decision(self, message: dict) -> int:
        return request_decision(self.store, **decision_request(message))

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
            self._loop.call_soon_threadsafe(self._drain_inbox)
        except RuntimeError:  # the loop is closed: the server is gone
            pass

    def _drain_inbox(self) -> None:
        with self._inbox_lock:
            records = list(self._inbox)
            self._inbox.clear()
            self._inbox_scheduled = False
        for record in records:
            self._dispatch(record)

    def _dispatch(self, record: Record) -> None:
        """Hand events to clients in seq order, whatever order the emitting threads reached us in."""
        seq = record.seq
        if seq < self._next_seq:
            return  # already sent: it was taken from the ring to fill a gap
        if seq > self._next_seq:
            self._fill_gap(seq)
        self._fan_out(record)
        self._next_seq = seq + 1

    def _fill_gap(self, seq: int) -> None:
        # Another thread's event got its seq first but has not reached us yet. The ring holds it
        # (the bus appends before calling subscribers), so send it now and skip it when it arrives.
        records = self.bus.since(self._next_seq - 1)
        if not records or records[0].seq != self._next_seq:
            log.warning("live stream lost events %d..%d; clients must reconnect", self._next_seq, seq - 1)
            for client in self._clients:
                self._drop(client, CLOSE_FELL_BEHIND, "server fell behind: reconnect with since_seq")
            return
        for missing in records:
            if missing.seq >= seq:
                break
            self._fan_out(missing)

    def _fan_out(self, record: Record) -> None:
        wire = None
        for client in self._clients:
            if client.direct:
                if client.conn.transport.get_write_buffer_size() <= self.write_limit:
                    if wire is None:
                        wire = _wire_frame(record)
                    if _write(client.conn, wire):
                        client.last_seq = record.seq
                    continue
                client.direct = False  # its socket is full: queue from here on, in order
            client.pending.append(record)
            self.queued_events += 1
            if len(client.pending) > self.max_queue:
                self._drop(client, CLOSE_TOO_SLOW,
                           f"too slow: {self.max_queue} events queued; reconnect with since_seq")
            else:
                client.wake.set()

    def _drop(self, client: _Client, code: int, reason: str) -> None:
        if client.dropped:
            return
        client.dropped = True
        self.dropped_clients += 1
        self._forget(client)
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

    def _forget(self, client: _Client) -> None:
        self._clients = tuple(c for c in self._clients if c is not client)
        client.direct = False
        if client.pump is not None and client.pump is not asyncio.current_task():
            client.pump.cancel()

    # -- per-client pump: backfill, then drain the overflow queue --------------------------------
    async def _pump(self, client: _Client, start: int, high: int) -> None:
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

    async def _send_history(self, client: _Client, after: int, upto: int) -> int:
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

    async def _relay(self, client: _Client, last: int) -> None:
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

    async def _send(self, client: _Client, record: Record) -> bool:
        conn = client.conn
        if conn.transport.get_write_buffer_size() > self.write_limit:
            await conn.drain()
        return _write(conn, _wire_frame(record))


def _wire_frame(record: Record) -> bytes:
    """The complete websocket frame. Server frames are unmasked and we negotiate no extensions
    (compression=None), so the bytes are the same for every client: build them once per event."""
    return Frame(Opcode.TEXT, record.frame.encode()).serialize(mask=False)


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


def server_from_settings(settings: Settings, *, bus: Bus, store: Store,
                         snapshot: SnapshotSource | None = None, max_queue: int = 10_000) -> WsServer:
    """The server as the engine runs it: address, console port and token from the settings.

    ASSETGEN_WS_ORIGINS (comma-separated) replaces the allowed browser origins.
    """
    return WsServer(
        bus=bus, store=store, token=ensure_ws_token(settings), host=settings.ws_host, port=settings.ws_port,
        allowed_origins=origins_from_env(settings.console_port), console_port=settings.console_port,
        snapshot=snapshot, max_queue=max_queue,
    )
