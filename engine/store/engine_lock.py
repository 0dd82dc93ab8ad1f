"""One engine per database file: the OS lock beside the file, and the one liveness check.

The engine alone numbers events, so two engines on one database file would run the same
session twice and reuse seqs. The lock therefore lives on the database file's own path
(``<db>.engine.lock``), not in the data directory: two data dirs with one ``--db`` share it.
It is an ``flock`` held for the engine's life (released by the OS on exit, also on kill -9),
and the file says who holds it (``{"pid": …, "command": …}``) so a refusal can name the holder.

"Is an engine running?" has one answer everywhere (``assetgen run``, the console's banner):
the lock is held right now. A PID written in the file proves nothing by itself (the process
may be gone and its PID reused).
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LockHolder", "EngineLockTaken", "engine_lock_path_for", "lock_holder", "take_lock", "release_lock"]

LOCK_SUFFIX = ".engine.lock"
_TAKE_ATTEMPTS = 25


@dataclass(frozen=True)
class LockHolder:
    pid: int | None  # None when the holder has not written its name yet (or wrote junk)
    command: str = ""

    def describe(self) -> str:
        pid = f"PID {self.pid}" if self.pid else "an unknown PID"
        return f"{pid}, `{self.command}`" if self.command else pid


class EngineLockTaken(RuntimeError):
    def __init__(self, path: Path, holder: LockHolder | None):
        self.path, self.holder = Path(path), holder
        super().__init__(f"{path} is held by {holder.describe() if holder else 'another process'}")


def engine_lock_path_for(db_path: Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + LOCK_SUFFIX)


def _read_holder(path: Path) -> LockHolder:
    try:
        text = Path(path).read_text()
    except OSError:
        return LockHolder(None)
    try:
        data = json.loads(text)
    except ValueError:
        data = text.strip()
    if isinstance(data, dict):
        pid = data.get("pid")
        return LockHolder(pid if isinstance(pid, int) and pid > 0 else None, str(data.get("command") or ""))
    if isinstance(data, int) and data > 0:  # an older engine wrote its bare PID
        return LockHolder(data)
    return LockHolder(None)


def lock_holder(path: Path) -> LockHolder | None:
    """Who holds the engine lock at ``path`` now, or None when nobody does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file: no engine ever ran here (or it cannot be read: nothing to report)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(path)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def take_lock(path: Path) -> int:
    """Hold the lock for this process; returns the fd to pass to :func:`release_lock`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    for attempt in range(_TAKE_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # a checker (lock_holder) holds a shared lock for microseconds: try again briefly
            if attempt == _TAKE_ATTEMPTS - 1:
                os.close(fd)
                raise EngineLockTaken(path, _read_holder(path)) from None
            time.sleep(0.02)
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "command": command[:200]}).encode())
    return fd


def release_lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
