"""Compaction of the database file, in a process of its own: ``python -m engine.store.compact PATH``.

Every tick commits a few rows per table and most ticks' checkpoints merge nothing (every fourth write merges
a few: merging all in the tick made checkpoints take seconds and hundreds of MB, engine/store/database.py),
so events, api_calls and proposals gather small row groups (~900 each after a 50,000-item session when no
checkpoint merged), and a console page paid for every one of them on each read (Costs' five scans of
api_calls: ~1 s; after a compaction, ~0.1 s). ``Store.compact`` merges them. The engine runs it every few
minutes and after each session (engine/process/runtime.py), in a child process so that what the vacuum
reads and writes (~100 MB at 50,000 items) is never the engine's resident set, and off the ticker: the
ticker waits on the file lock for those seconds as for any other writer, its events kept in memory and the
journal.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["compact_aside", "COMPACT_MEMORY"]

log = logging.getLogger(__name__)

# The child's DuckDB memory limit (it spills past it to its own directory): its peak resident set stays under
# the engine's budget, and the bench's peak (a waited child's peak counts as the engine's) with it.
COMPACT_MEMORY = "64MB"


async def compact_aside(path: Path, *, lock_timeout: float = 60.0) -> bool:
    """Compact ``path`` in a child process and wait for it; False (and a warning) when it failed."""
    started = time.monotonic()
    # this engine's own code, wherever it was imported from (a checkout run with `python -m engine`, or installed)
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.store.compact", str(path), str(lock_timeout), env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        log.warning("compacting %s failed (exit %s): %s", path, proc.returncode, err.decode(errors="replace")[-500:])
        return False
    log.info("compacted %s in %.1f s", path, time.monotonic() - started)
    return True


def main(argv: list[str]) -> int:
    from engine.store.database import Store  # noqa: PLC0415 (the child imports DuckDB; the parent's import stays light)

    path = Path(argv[0])
    lock_timeout = float(argv[1]) if len(argv) > 1 else 60.0
    store = Store(path, lock_timeout=lock_timeout, memory_limit=COMPACT_MEMORY,
                  spill_directory=path.with_name(path.name + ".compact.tmp"))
    try:
        store.compact()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
