"""A concurrency limit that can change while work is waiting (speed control)."""
from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Limiter", "Slot"]


class Limiter:
    """Like a FIFO semaphore, but ``set_limit`` applies to work started after the change.

    A released slot is handed to exactly one waiter (no wake-up of every
    waiter per release); a waiter cancelled after being handed a slot passes it on.
    Waiters that ask with ``first=True`` (work already under way, e.g. an approved item
    coming back for its image) are served before the others (new items), so an item
    that has started is finished before more are begun.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0
        self._waiters: deque[asyncio.Future] = deque()
        self._first: deque[asyncio.Future] = deque()

    async def __aenter__(self) -> "Limiter":
        await self.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        return len(self._waiters) + len(self._first)

    async def acquire(self, *, first: bool = False) -> None:
        """Take a slot, waiting in line (ahead of the ordinary line with ``first``) when none is free."""
        if self.in_use < self.limit and not self._first and (first or not self._waiters):
            self.in_use += 1
            return
        future = asyncio.get_running_loop().create_future()
        line = self._first if first else self._waiters
        line.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot arrived as we were cancelled: hand it on
            else:
                try:
                    line.remove(future)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._hand_out()

    async def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._hand_out()

    def _hand_out(self) -> None:
        for line in (self._first, self._waiters):
            while line and self.in_use < self.limit:
                future = line.popleft()
                if not future.done():
                    self.in_use += 1
                    future.set_result(None)


class Slot:
    """One slot of a limiter as an item holds it: given back while the item waits, taken again after."""

    __slots__ = ("limiter", "held")

    def __init__(self, limiter: Limiter, *, held: bool):
        self.limiter = limiter
        self.held = held

    async def take(self, *, first: bool = False) -> None:
        if not self.held:
            await self.limiter.acquire(first=first)
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.limiter.release()
