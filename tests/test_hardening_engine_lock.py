"""One engine per database file, whatever data dir it was started with; the refusal names the holder."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from engine.config import load_settings
from engine.read.sessions import engine_status
from engine.process.runtime import Engine, EngineBusy, engine_lock_holder
from engine.store.database import Store


def test_two_data_dirs_sharing_one_db_file_get_one_engine(tmp_path):
    db = tmp_path / "shared.duckdb"
    first = load_settings(data_dir=tmp_path / "a", db=db, ws_port=0)
    second = load_settings(data_dir=tmp_path / "b", db=db, ws_port=0)

    async def scenario():
        async with Engine(first, serve_websockets=False):
            with pytest.raises(EngineBusy) as refused:
                await Engine(second, serve_websockets=False).start()
            return str(refused.value)

    message = asyncio.run(scenario())
    assert f"PID {os.getpid()}" in message and str(db) in message
    assert "`" in message  # the holder's command is named too


def test_engine_status_and_engine_lock_holder_agree_on_a_live_holder(tmp_path):
    """One liveness check: the lock held by another process, not a PID written in a file."""
    settings = load_settings(data_dir=tmp_path / "data", ws_port=0)
    store = Store(settings.db_path)
    store.migrate()
    lock = settings.engine_lock_path
    assert lock.parent == settings.db_path.parent and lock.name == "studio.duckdb.engine.lock"
    lock.write_text(f'{{"pid": {os.getpid()}, "command": "stale"}}')  # a file left behind, nobody holds it
    assert engine_lock_holder(settings) is None and engine_status(store, lock)["pid"] is None
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from engine.store.engine_lock import take_lock
        take_lock({str(lock)!r}); print("held", flush=True); time.sleep(60)""")],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == "held"
        status = engine_status(store, lock)
        assert engine_lock_holder(settings) == holder.pid == status["pid"] and status["running"] is True
        assert "-c" in status["command"]
    finally:
        holder.kill()
        holder.wait()
        store.close()
    assert engine_lock_holder(settings) is None
