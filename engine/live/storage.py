"""Storage health: a write that fails for lack of space or permission is a state, not a crash.

The journal and the image writer report here when the disk refuses a write (ENOSPC, EROFS,
EACCES, EDQUOT) and when a write succeeds again. Sessions watch it: while anything is
faulted no new paid call starts (the session pauses with reason ``storage``), and it
continues by itself once every faulted place takes writes again. One log line per state
change, never one per retry.
"""
from __future__ import annotations

import errno
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["StorageHealth", "StorageFault", "is_storage_error", "STORAGE_ERRNOS"]

log = logging.getLogger(__name__)

STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM})


def is_storage_error(exc: BaseException) -> bool:
    """True for an OS refusal that more space or a permission fix cures (not a bug, not a lost disk)."""
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def _free_text(path: Path) -> str:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return "free space unknown"
    return f"{usage.free / 1e6:.1f} MB free of {usage.total / 1e6:.1f} MB"


@dataclass(frozen=True)
class StorageFault:
    where: str  # "journal" | "images"
    path: str
    error: str
    free: str

    @property
    def message(self) -> str:
        return (f"cannot write the {self.where} at {self.path}: {self.error} ({self.free}). No new paid call "
                f"starts; free space on that filesystem (or make it writable) and the session continues by "
                f"itself, or stop it and `assetgen run --resume <session>` later")


Listener = Callable[["StorageFault | None"], None]


class StorageHealth:
    """Thread-safe; listeners are called in the reporting thread with the first open fault (None: all clear)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, StorageFault] = {}
        self._listeners: list[Listener] = []

    @property
    def ok(self) -> bool:
        return not self._faults

    @property
    def fault(self) -> StorageFault | None:
        faults = list(self._faults.values())
        return faults[0] if faults else None

    def watch(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def unwatch(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    def failed(self, where: str, path, exc: OSError) -> None:
        fault = StorageFault(where=where, path=str(path), error=exc.strerror or str(exc), free=_free_text(Path(path)))
        with self._lock:
            known = self._faults.get(where)
            self._faults[where] = fault
        if known is None:
            log.error("storage fault: %s", fault.message)
            self._tell(fault)

    def recovered(self, where: str) -> None:
        with self._lock:
            fault = self._faults.pop(where, None)
        if fault is not None:
            log.warning("storage: the %s at %s takes writes again%s", where, fault.path,
                        "" if self.ok else f"; still faulted: {self.fault.message}")
            self._tell(self.fault)

    def _tell(self, fault: StorageFault | None) -> None:
        for listener in self._listeners:
            try:
                listener(fault)
            except Exception:
                log.exception("storage listener failed")
