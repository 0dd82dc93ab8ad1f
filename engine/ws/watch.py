"""`assetgen watch`: a terminal live view over the engine's websockets stream.

One progress bar per session (done/total, cost, status, ETA) redrawn in place,
and optionally a tail of events. After a disconnect it reconnects with the last
seq it saw, so nothing is missed or shown twice. On a pipe (not a terminal) it
prints a line only when something changed, which keeps logs readable.
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from pathlib import Path
from typing import Callable, TextIO

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from engine.config import Settings
from engine.ws.protocol import CLOSE_UNAUTHORIZED, MAX_MESSAGE_BYTES, hello_message
from engine.live.progress import SessionProgress, format_duration

__all__ = ["SessionBoard", "WatchError", "watch", "run_watch", "read_token"]

_BAR_WIDTH = 24


class WatchError(RuntimeError):
    """The view cannot go on (no token, token refused); the message says what to do."""


def read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise WatchError(f"no websockets token at {path}: start the engine first (`assetgen up` or "
                         "`assetgen serve`), or pass the right --data-dir") from None
    if not token:
        raise WatchError(f"{path} is empty: restart the engine to write a new token")
    return token


class SessionBoard:
    """Session progress folded from a snapshot and events; knows nothing about sockets or terminals."""

    def __init__(self, *, session_id: str | None = None, tail: int = 10):
        self.session_id = session_id
        self.sessions: dict[str, SessionProgress] = {}
        self.tail: deque[str] = deque(maxlen=max(tail, 1))
        self.last_seq: int | None = None

    def load_snapshot(self, snapshot: dict, *, replace: bool) -> None:
        """First connect: adopt the snapshot. Reconnect: keep our state, add sessions we never saw."""
        for row in snapshot.get("sessions") or []:
            sid = row.get("session_id")
            if not self._wanted(sid) or (not replace and sid in self.sessions):
                continue
            self.sessions[sid] = SessionProgress(sid)
            self.sessions[sid].load_row({"status": "?", **row})
        if self.last_seq is None:
            self.last_seq = snapshot.get("since_seq", snapshot.get("last_seq", 0))

    def _wanted(self, session_id: str | None) -> bool:
        return self.session_id is None or session_id == self.session_id

    def apply(self, message: dict) -> bool:
        """Fold one event frame in; False when it is old (already seen) or filtered out."""
        seq = message["seq"]
        if self.last_seq is not None and seq <= self.last_seq:
            return False
        self.last_seq = seq
        sid = message.get("session_id")
        if not self._wanted(sid):
            return False
        kind, p = message["event"], message.get("payload") or {}
        self.tail.append(self.event_line(message))
        if sid is None:
            return True
        self.sessions.setdefault(sid, SessionProgress(sid)).apply(kind, message.get("item_id"), p)
        return True

    @staticmethod
    def event_line(message: dict) -> str:
        payload = json.dumps(message.get("payload"), separators=(",", ":"))
        if len(payload) > 100:
            payload = payload[:97] + "..."
        where = message.get("item_id") or message.get("session_id") or "-"
        return f"#{message['seq']:<7} {message.get('ts', '')[11:23]} {message['event']:<26} {where}  {payload}"

    def render(self) -> list[str]:
        if not self.sessions:
            return ["(no sessions yet: start one with `assetgen run --test`)"]
        lines = []
        for sid, progress in self.sessions.items():
            total, done = progress.total or 0, progress.done or 0
            filled = int(_BAR_WIDTH * done / total) if total else 0
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            cost = f"${progress.cost_usd:.4f}" + ("*" if progress.simulated else "")
            budget = f"/${progress.budget_usd:.2f}" if progress.budget_usd else ""
            lines.append(f"{sid[:24]:<24} [{bar}] {done:>4}/{total:<4} {cost}{budget:<8} "
                         f"{progress.status:<18} ETA {format_duration(progress.eta_now())}")
        return lines


class _Screen:
    """Draws the board in place on a terminal, or prints changed lines on a pipe."""

    def __init__(self, out: TextIO, *, interactive: bool, show_events: bool):
        self.out = out
        self.interactive = interactive
        self.show_events = show_events
        self._drawn = 0
        self._printed: dict[int, str] = {}
        self.status = ""

    def draw(self, board: SessionBoard) -> None:
        lines = board.render()
        if self.interactive:
            block = [self.status] + lines + ((["", "recent events:"] + list(board.tail)) if self.show_events else [])
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in block))
            if len(block) < self._drawn:  # clear what a longer previous frame left below
                self.out.write("\x1b[J")
            self._drawn = len(block)
        else:
            for index, line in enumerate(lines):
                if self._printed.get(index) != line:
                    self._printed[index] = line
                    self.out.write(line + "\n")
        self.out.flush()

    def event(self, line: str) -> None:
        if self.show_events and not self.interactive:
            self.out.write(line + "\n")

    def note(self, text: str) -> None:
        self.status = text
        if not self.interactive:
            self.out.write(f"-- {text}\n")
            self.out.flush()


async def watch(
    url: str,
    token: Callable[[], str],
    *,
    session_id: str | None = None,
    since_seq: int | None = None,
    events: bool = False,
    out: TextIO = sys.stdout,
    interactive: bool | None = None,
    redraw_every: float = 0.25,
    retry_delays: tuple[float, float] = (0.25, 5.0),
    stop: asyncio.Event | None = None,
) -> SessionBoard:
    """Show the live view until ``stop`` is set (or Ctrl-C); returns the final board."""
    stop = stop or asyncio.Event()
    board = SessionBoard(session_id=session_id)
    if since_seq is not None:
        board.last_seq = since_seq
    screen = _Screen(out, interactive=out.isatty() if interactive is None else interactive, show_events=events)
    dirty = asyncio.Event()
    redraw = asyncio.create_task(_redraw(board, screen, dirty, stop, redraw_every))
    delay, connected_once = retry_delays[0], False
    try:
        while not stop.is_set():
            try:
                async with connect(url, max_size=MAX_MESSAGE_BYTES, open_timeout=5) as ws:
                    await ws.send(hello_message(token(), board.last_seq))
                    first = json.loads(await ws.recv())
                    if first.get("type") != "snapshot":
                        raise WatchError(f"the engine refused the hello: {first.get('message', first)}")
                    board.load_snapshot(first, replace=not connected_once)
                    connected_once, delay = True, retry_delays[0]
                    screen.note(f"connected to {url} (engine pid {first['engine']['pid']}, seq {board.last_seq})")
                    dirty.set()
                    await _follow(ws, board, screen, dirty, stop)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == CLOSE_UNAUTHORIZED:
                    raise WatchError("the engine refused the token: is --data-dir the engine's?") from None
                reason = exc.rcvd.reason if exc.rcvd is not None and exc.rcvd.reason else "connection lost"
                screen.note(f"disconnected ({reason}); reconnecting from seq {board.last_seq}")
            except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
                screen.note(f"engine not reachable at {url} ({type(exc).__name__}); retrying in {delay:.1f}s")
            if stop.is_set():
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, retry_delays[1])
    finally:
        stop.set()
        await redraw
        screen.draw(board)
    return board


async def _follow(ws, board: SessionBoard, screen: _Screen, dirty: asyncio.Event, stop: asyncio.Event) -> None:
    stopper = asyncio.ensure_future(stop.wait())
    receive: asyncio.Future | None = None
    try:
        while True:
            receive = asyncio.ensure_future(ws.recv())
            done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                return
            message = json.loads(receive.result())
            if message.get("type") == "event" and board.apply(message):
                screen.event(board.tail[-1])
                dirty.set()
    finally:  # also on Ctrl-C: leave no task behind to complain at exit
        stopper.cancel()
        if receive is not None and not receive.done():
            receive.cancel()


async def _redraw(board: SessionBoard, screen: _Screen, dirty: asyncio.Event, stop: asyncio.Event,
                  every: float) -> None:
    while not stop.is_set():
        if dirty.is_set() or screen.interactive:  # a terminal redraws anyway so the ETA counts down
            dirty.clear()
            screen.draw(board)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except asyncio.TimeoutError:
            pass


def run_watch(settings: Settings, *, session_id: str | None = None, since_seq: int | None = None,
              events: bool = False, ws_url: str | None = None, out: TextIO = sys.stdout) -> None:
    """Blocking entry point for the CLI; Ctrl-C ends it cleanly."""
    read_token(settings.token_path)  # fail fast with a clear message
    url = ws_url or settings.ws_url
    interactive = out.isatty()
    if interactive:
        out.write("\x1b[?25l")  # hide the cursor while redrawing
    try:
        asyncio.run(watch(url, lambda: read_token(settings.token_path), session_id=session_id,
                          since_seq=since_seq, events=events, out=out, interactive=interactive))
    except KeyboardInterrupt:
        pass
    finally:
        if interactive:
            out.write("\x1b[?25h\n")
            out.flush()
