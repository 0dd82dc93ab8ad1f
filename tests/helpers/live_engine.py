"""An Engine in the test's own event loop, and the means to wait on what it emits.

The tests steer a real Engine (real DuckDB file in tmp_path, offline stand-in provider)
by writing rows from another process (helpers.engine_child.SqlShell) and observe it two
ways: the bus (every event the moment it is emitted) and the database afterwards.
Waiting is always on a condition with a deadline, never a bare sleep.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, AsyncIterator

from engine.live.bus import Record
from engine.config import load_settings
from engine.process.runtime import Engine
from helpers.waiting import until
from engine.session.spec import ApprovalSettings, RunSpec

__all__ = ["Recorder", "live_engine", "until", "query", "icons_spec", "start_session", "payload_of", "run_async",
           "applied_result"]


class Recorder:
    """Keeps every record the bus emits (subscribers run in the emitting thread: append only)."""

    def __init__(self, bus) -> None:
        self.records: list[Record] = []
        bus.subscribe(self.records.append)

    def of(self, type_: str, session_id: str | None = None, **payload: Any) -> list[Record]:
        return [r for r in list(self.records)
                if r.type == type_ and (session_id is None or r.session_id == session_id)
                and all(r.payload.get(k) == v for k, v in payload.items())]

    def first(self, type_: str, session_id: str | None = None, **payload: Any) -> Record | None:
        found = self.of(type_, session_id, **payload)
        return found[0] if found else None


async def query(engine: Engine, sql: str, params: list | None = None) -> list[dict]:
    """Read through the engine's own Store, off the loop (the ticker may need the loop meanwhile)."""
    return await asyncio.to_thread(engine.store.query_dicts, sql, params)


async def applied_result(engine: Engine, table: str, row_id: int) -> str:
    """The ``result`` the engine wrote on a controls or decisions row, once it has applied it."""
    key = {"controls": "control_id", "decisions": "decision_id"}[table]

    async def applied():
        rows = await query(engine, f"SELECT result FROM {table} WHERE {key} = ? AND applied_at IS NOT NULL", [row_id])
        return rows[0]["result"] if rows else None
    return await until(applied, timeout=5, message=f"{table} row {row_id} to be applied", interval=0.02)


@contextlib.asynccontextmanager
async def live_engine(data_dir: Path, *, tick: float = 0.05) -> AsyncIterator[tuple[Engine, Recorder]]:
    settings = load_settings(data_dir=data_dir, tick_seconds=tick, ws_port=0)
    async with Engine(settings, serve_websockets=False) as engine:
        yield engine, Recorder(engine.bus)


def icons_spec(limit: int, *, latency_scale: float = 0.0, approval: bool = True, **changes) -> RunSpec:
    """``limit`` icons on the stand-in; the approval gate as the issue describes (> 10 items wait)."""
    approval_settings = changes.pop("approval_settings", None) or ApprovalSettings(enabled=approval)
    return RunSpec(types=["icons"], limit=limit, latency_scale=latency_scale, approval=approval_settings,
                   **changes).validate()


def start_session(engine: Engine, spec: RunSpec, session_id: str) -> asyncio.Task:
    return asyncio.create_task(engine.run_session(spec, session_id=session_id), name=session_id)


def payload_of(row: dict) -> dict:
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else value


def run_async(coro, *, timeout: float = 60.0):
    """Run a scenario coroutine to its end from a plain (sync) test, with a hard deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
