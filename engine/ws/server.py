"""The websockets server: live events out, operator commands in.

Every client gets the same stream: a snapshot of the sessions, then every event
after the ``since_seq`` it names (from the bus's memory ring, else the
``events`` table), then live events, gap-free and in seq order. docs/protocol.md
is the contract.

This module owns the server's life, the handshake (origin, hello, token), the
snapshot and the operator's requests; delivering events to each greeted client,
without a slow one slowing anyone else, is engine/ws_fanout.py.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
from http import HTTPStatus
from typing import Callable, Iterable

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from engine.live.bus import Bus
from engine.intents.requests import CommandError, request_control, request_decision
from engine.config import Settings, ensure_ws_token
from engine.store.database import Store, StoreBusy
from engine.ws.fanout import Client, Fanout
from engine.ws.hello_limit import DEFAULT_FAILED_HELLO_WINDOW_S, DEFAULT_MAX_FAILED_HELLOS, FailedHelloLimiter
from engine.ws.protocol import (
    CLOSE_HELLO_TIMEOUT, CLOSE_UNAUTHORIZED, MAX_MESSAGE_BYTES, BadRequest, Hello, ack_message, control_request,
    decision_request, default_allowed_origins, engine_info, error_message, origins_from_env, parse_hello,
    parse_message, snapshot_message, to_json,
)

__all__ = ["WsServer", "server_from_settings", "SnapshotSource"]

log = logging.getLogger(__name__)

# A snapshot source returns the sessions (JSON-able dicts), or (last_seq, sessions) when it knows
# exactly which event its state reflects. Called in a worker thread.
SnapshotSource = Callable[[], "list[dict] | tuple[int, list[dict]]"]


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


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
        max_failed_hellos: int = DEFAULT_MAX_FAILED_HELLOS,
        failed_hello_window_s: float = DEFAULT_FAILED_HELLO_WINDOW_S,
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
        self._token = token.encode()
        self._hello_limiter = FailedHelloLimiter(max_failures=max_failed_hellos, window_s=failed_hello_window_s)
        self._snapshot = snapshot
        self._fanout = Fanout(bus=bus, store=store, max_queue=max_queue, write_limit=write_limit,
                              backfill_timeout=backfill_timeout, close_grace=close_grace)
        self._server: Server | None = None
        self._connections: set[ServerConnection] = set()  # every open socket, greeted or not

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        """Clients that sent a valid hello and are receiving events."""
        return len(self._fanout.clients)

    @property
    def dropped_clients(self) -> int:
        """Clients closed for falling behind (too slow, a lost live event, or missing history)."""
        return self._fanout.dropped_clients

    @property
    def queued_events(self) -> int:
        """Events that waited in a client's own queue (backfilling or a full socket)."""
        return self._fanout.queued_events

    async def start(self) -> None:
        self._fanout.start()
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
        self._fanout.stop()
        if self._server is not None:
            self._server.close(close_connections=True)  # 1001 going away: clients reconnect
            try:
                async with asyncio.timeout(self.close_grace):
                    await self._server.wait_closed()
            except TimeoutError:  # peers that stopped reading never take the close frame
                for conn in self._connections:
                    conn.transport.abort()
                await self._server.wait_closed()
        self._fanout.clients = ()

    async def __aenter__(self) -> "WsServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- handshake ------------------------------------------------------------------------------
    def _check_origin(self, connection: ServerConnection, request: Request) -> Response | None:
        wait = self._hello_limiter.retry_after_s(_peer(connection))
        if wait:
            log.warning("refused websockets connection from %s: too many failed hellos", _peer(connection))
            response = connection.respond(HTTPStatus.TOO_MANY_REQUESTS,
                                          f"too many failed hellos from this address; retry in {wait}s "
                                          "with the token in <data-dir>/.ws-token\n")
            response.headers["Retry-After"] = str(wait)
            return response
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
                self._fanout.forget(client)

    async def _greet(self, conn: ServerConnection) -> Client | None:
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
                    self._hello_limiter.failed(_peer(conn))
                    return await self._refuse(conn, str(exc))
                await conn.send(error_message(exc.code, str(exc), exc.request_id))
                continue
            if not hmac.compare_digest(hello.token.encode(), self._token):
                self._hello_limiter.failed(_peer(conn))
                return await self._refuse(conn, "wrong token: use the one in <data-dir>/.ws-token")
            return await self._admit(conn, hello)

    async def _refuse(self, conn: ServerConnection, reason: str) -> None:
        await conn.send(error_message("unauthorized", reason))
        await conn.close(CLOSE_UNAUTHORIZED, "unauthorized")
        return None

    async def _admit(self, conn: ServerConnection, hello: Hello) -> Client | None:
        # The fan-out sends identical bytes to all: valid only while no extension (deflate) is negotiated.
        assert not conn.protocol.extensions, "websockets extensions must stay off (compression=None)"
        self._bound_kernel_buffer(conn)
        # From here every new event is queued for this client; `high` is the last one it will not get live.
        client, high = self._fanout.join(conn)
        try:
            last_seq, sessions = await asyncio.to_thread(self._take_snapshot)
        except Exception as exc:
            self._fanout.forget(client)
            log.warning("snapshot failed: %s", exc)
            await conn.send(error_message("unavailable", f"could not read the sessions: {exc}"))
            await conn.close(1013, "try again later")
            return None
        known = max(high, last_seq)
        start = last_seq if hello.since_seq is None else min(hello.since_seq, known)
        await conn.send(snapshot_message(last_seq=last_seq, since_seq=start, sessions=sessions,
                                         engine=engine_info()))
        self._fanout.begin(client, start, high)
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
