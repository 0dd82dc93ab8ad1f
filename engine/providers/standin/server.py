"""The stand-in over real HTTP: ``assetgen standin --port 4510``.

Any OpenRouter client (ours, the openai SDK, curl) can point at it with
``OPENROUTER_BASE_URL=http://127.0.0.1:4510/api/v1``. A small HTTP/1.1 server on
asyncio streams, stdlib only, keep-alive, one handler task per connection; every
answer comes from the same ``OpenRouterStandIn`` the in-process transport uses.

A timeout fault holds the connection open for ``timeout_after_s`` (default 75 s,
past a 60-s client timeout) and then closes it without an answer. A ``stream: true``
answer goes out with chunked transfer encoding, each SSE piece as it is ready.
"""
from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from engine.providers.standin.transport import OpenRouterStandIn

__all__ = ["StandInServer", "start_standin_server", "serve_standin_forever", "DEFAULT_STANDIN_PORT"]

DEFAULT_STANDIN_PORT = 4510
DEFAULT_STALL_S = 75.0
_MAX_BODY = 32 * 1024 * 1024
log = logging.getLogger(__name__)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class StandInServer:
    """A running stand-in server; ``base_url`` is what clients use as OPENROUTER_BASE_URL."""

    def __init__(self, standin: OpenRouterStandIn, *, host: str, port: int, stall_s: float):
        self.standin = standin
        self.host = host
        self.port = port
        self.stall_s = stall_s
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1"

    @property
    def log(self) -> list[dict]:
        return self.standin.log

    async def start(self) -> "StandInServer":
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]  # the real port when 0 was asked
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):  # stalled or idle keep-alive connections
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> "StandInServer":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _BadRequest as exc:
                    _write_response(writer, exc.status, {"content-type": "text/plain"}, str(exc).encode(), close=True)
                    await writer.drain()
                    return
                if request is None:  # the client closed the connection
                    return
                method, target, headers, body = request
                path, _, query = target.partition("?")
                reply = await self.standin.handle(method, path, query=query, headers=headers, body=body,
                                                  stall_s=self.stall_s)
                if reply.stalled:  # a timeout fault: never answer
                    return
                close = headers.get("connection", "").lower() == "close"
                if reply.stream is not None:
                    await _write_stream(writer, reply.status, reply.headers, reply.stream, close=close)
                else:
                    _write_response(writer, reply.status, reply.headers, reply.body, close=close)
                    await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # Only close() cancels these tasks. Ending normally matters: Python 3.11's stream
            # callback calls task.exception() on the handler, which raises for a cancelled task.
            return
        except Exception:  # one bad request must not take the server down
            log.exception("stand-in: request failed")
        finally:
            self._connections.discard(task)
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _BadRequest(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise _BadRequest(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise _BadRequest(400, "malformed request line") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest(411, "send a Content-Length; chunked bodies are not supported")
    length = int(headers.get("content-length") or 0)
    if length > _MAX_BODY:
        raise _BadRequest(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    return method.upper(), target, headers, body


def _head(status: int, headers: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:  # 524, 529: Cloudflare's and Anthropic's own codes
        reason = {524: "A Timeout Occurred", 529: "Site Overloaded"}.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _write_response(writer: asyncio.StreamWriter, status: int, headers: dict[str, str], body: bytes,
                    *, close: bool) -> None:
    merged = {**headers, "content-length": str(len(body)), "connection": "close" if close else "keep-alive"}
    writer.write(_head(status, merged) + body)


async def _write_stream(writer: asyncio.StreamWriter, status: int, headers: dict[str, str], pieces,
                        *, close: bool) -> None:
    merged = {**headers, "transfer-encoding": "chunked", "connection": "close" if close else "keep-alive"}
    writer.write(_head(status, merged))
    try:
        async for piece in pieces:
            if piece:
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
    finally:
        await pieces.aclose()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def start_standin_server(*, host: str = "127.0.0.1", port: int = DEFAULT_STANDIN_PORT,
                               timeout_after_s: float | None = None, **settings) -> StandInServer:
    """Start serving; ``settings`` are OpenRouterStandIn's (seed, latency_scale, faults, ...)."""
    standin = OpenRouterStandIn(timeout_after_s=timeout_after_s, **settings)
    stall = timeout_after_s if timeout_after_s is not None else DEFAULT_STALL_S
    return await StandInServer(standin, host=host, port=port, stall_s=stall).start()


async def serve_standin_forever(*, on_ready=None, **kwargs) -> None:
    """Run until cancelled (Ctrl-C); ``on_ready(server)`` is called once it listens."""
    server = await start_standin_server(**kwargs)
    try:
        if on_ready is not None:
            on_ready(server)
        await asyncio.Event().wait()
    finally:
        await server.close()
