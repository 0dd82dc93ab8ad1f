"""One way to apply what operators ask: read unapplied rows → validate → hand to the loop → stamp the result.

Controls and decisions are rows that any process may write (engine.intents.requests). Each tick the ticker
calls ``on_tick`` inside its short write transaction: a handler stamps the results of calls that finished,
reads the rows it has not taken yet and validates each against the database. A row that needs the running
session is handed to the engine's event loop *without waiting*: the transaction, and with it the file lock
that readers wait on, never waits on the loop. Once ``settle`` (called by the ticker with no transaction
open) sees the calls finish, the ticker stamps them in a second short transaction, together with the events
the calls emitted. A row is handed over once: a slow loop leaves it pending, never applied twice.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import TYPE_CHECKING, Any, Callable, Protocol

import duckdb

if TYPE_CHECKING:
    from engine.session.gate import BatchGate
    from engine.session.run import SessionRun
    from engine.store.database import Store

__all__ = ["IntentHost", "RowHandler", "Later", "LATER"]

log = logging.getLogger(__name__)


class IntentHost(Protocol):
    """What applying intents needs from the engine (engine.process.runtime.Engine)."""
    store: "Store"
    runs: dict[str, "SessionRun"]
    loop: asyncio.AbstractEventLoop | None

    def submit_to_loop(self, fn: Callable, *args) -> concurrent.futures.Future:
        """Schedule ``fn(*args)`` on the engine's event loop and return at once."""

    def session_is_active(self, session_id: str) -> bool: ...

    def find_gate(self, batch_id: str) -> "BatchGate | None": ...

    async def run_session(self, spec: Any, *, session_id: str | None = None, resume: bool = False) -> "SessionRun":
        """Run one session to its end (jobs call this)."""


class Later:
    """``check`` found nothing to say yet (e.g. the session is being rebuilt): keep the row for a later tick."""


LATER = Later()


class RowHandler:
    """Base of the control and decision handlers; subclasses name their table and say how to check a row."""

    table: str = ""
    key: str = ""
    columns: tuple[str, ...] = ()

    def __init__(self, host: IntentHost):
        self.host = host
        self._handed: dict[Any, concurrent.futures.Future] = {}

    # -- subclasses ---------------------------------------------------------------------------------
    def check(self, con: duckdb.DuckDBPyConnection, row: dict) -> str | Later | tuple[Callable, tuple]:
        """In the transaction: a result to stamp now, ``LATER``, or ``(fn, args)`` to run on the loop."""
        raise NotImplementedError

    # -- the ticker ---------------------------------------------------------------------------------
    def on_tick(self, con: duckdb.DuckDBPyConnection) -> None:
        self.stamp_finished(con)
        rows = con.execute(f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE applied_at IS NULL "
                           f"ORDER BY {self.key}").fetchall()
        for values in rows:
            row = dict(zip((c.rsplit(" AS ", 1)[-1] for c in self.columns), values))
            if row[self.key] in self._handed:
                continue  # on the loop already: its result is stamped when it finishes
            verdict = self.check(con, row)
            if isinstance(verdict, Later):
                continue
            if isinstance(verdict, str):
                self._stamp(con, row[self.key], verdict)
            else:
                fn, args = verdict
                self._handed[row[self.key]] = self.host.submit_to_loop(fn, *args)

    @property
    def handed(self) -> int:
        return len(self._handed)

    def settle(self, *, timeout: float) -> bool:
        """Wait (with no transaction open) up to ``timeout`` s for the handed calls; True when any finished."""
        if not self._handed:
            return False
        done, _ = concurrent.futures.wait(list(self._handed.values()), timeout=timeout)
        return bool(done)

    def stamp_finished(self, con: duckdb.DuckDBPyConnection) -> None:
        for row_id, future in list(self._handed.items()):
            if not future.done():
                continue
            del self._handed[row_id]
            try:
                result = future.result()
            except Exception as exc:  # a bug in applying one row must not stop the others
                log.exception("applying %s %s failed", self.table, row_id)
                result = f"failed: {exc}"
            self._stamp(con, row_id, result)

    def _stamp(self, con: duckdb.DuckDBPyConnection, row_id: Any, result: str) -> None:
        con.execute(f"UPDATE {self.table} SET applied_at = now(), result = ? WHERE {self.key} = ?", [result, row_id])


