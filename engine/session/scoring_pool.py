"""Where a session's images are scored: a small pool of worker processes, not threads.

The checks are numpy and scikit-image calls on small arrays: most of their time is Python-level
dispatch that holds the GIL. In worker threads they took the GIL from the event loop at every turn,
and the loop (journal hand-offs, websockets writes, the ticker) answered late: bench/pipeline.py's
visible run went from +4 % over the dark one to +20 %. In another process they cost the loop
nothing but the pickling of a PNG and a scorecard.

The near-duplicate check is the one part that needs the whole library; it stays in the engine
(a vectorised lookup, engine/quality/neardup.py) and replaces the worker's placeholder check.
A worker dies with the engine (PR_SET_PDEATHSIG), and a pool that broke (a worker killed) is
replaced once before scoring falls back to a thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import functools
import logging
import multiprocessing
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.quality.neardup import LibraryIndex
    from engine.quality.scorecard import Scorecard

__all__ = ["score_in_pool", "warm_pool", "WORKERS"]

log = logging.getLogger(__name__)

# Two workers for the 2-core target machine: items finishing together are scored two at a time.
WORKERS = max(1, min(2, os.cpu_count() or 1))
_PR_SET_PDEATHSIG = 1

_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_THREAD_FALLBACK = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality")


def _worker_start() -> None:
    """In each worker: die with the engine, leave Ctrl-C to the engine, and import the scorers now."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from engine.quality import neardup, scorecard  # noqa: F401, PLC0415


def _score(image: bytes, asset, body: dict, path: str) -> "Scorecard":
    from engine.quality.scorecard import score_asset_image  # noqa: PLC0415

    return score_asset_image(image, asset, body, library=None, path=path)


def _the_pool() -> concurrent.futures.ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn: the engine has threads (journal, ticker, savers); forking it would copy their locks
            _pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start)
        return _pool


def _replace_broken(broken: concurrent.futures.ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def warm_pool() -> "asyncio.Future":
    """Start every worker (their imports take a second or more, several on a busy machine) while the
    session's first prompts are written, so that no image waits, paid and unsaved, for a worker to start."""
    loop, pool = asyncio.get_running_loop(), _the_pool()
    return asyncio.gather(*(loop.run_in_executor(pool, _noop) for _ in range(WORKERS)))


def _noop() -> None:
    return None


async def score_in_pool(image: bytes, asset, body: dict, *, path: str, library: "LibraryIndex | None",
                        duplicate_max_distance: int) -> "Scorecard":
    """The image's scorecard, computed in a worker process, with its near-duplicate check from ``library``."""
    from engine.quality.neardup import near_duplicate_check  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    job = functools.partial(_score, image, asset, body, path)
    card = None
    for attempt in range(2):
        try:
            pool = _the_pool()
        except (OSError, NotImplementedError) as exc:  # no process support here (e.g. no /dev/shm)
            log.warning("cannot start scoring workers (%s); scoring in a thread", exc)
            break
        try:
            card = await loop.run_in_executor(pool, job)
            break
        except concurrent.futures.process.BrokenProcessPool:
            log.warning("a scoring worker died; %s", "starting a new pool" if attempt == 0 else "scoring in a thread")
            _replace_broken(pool)
    if card is None:
        card = await loop.run_in_executor(_THREAD_FALLBACK, job)
    card.checks = [near_duplicate_check(card.phash, library, asset_id=asset.id, path=path,
                                        max_distance=duplicate_max_distance)
                   if check.name == "near_duplicate" else check for check in card.checks]
    return card
