"""A concurrency limit that can change while work is waiting (speed control)."""
from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Limiter"]


class Limiter:
    """Like a FIFO semaphore, but ``set_limit`` applies to work started after the change.

    A released slot is handed to exactly one waiter (no wake-up of every
    waiter per release); a waiter cancelled after being handed a slot passes it on.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0
        self._waiters: deque[asyncio.Future] = deque()

    async def __aenter__(self) -> "Limiter":
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return self
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot arrived as we were cancelled: hand it on
            else:
                try:
                    self._waiters.remove(future)
                except ValueError:
                    pass
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        self._release()

    async def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._hand_out()

    def _release(self) -> None:
        self.in_use -= 1
        self._hand_out()

    def _hand_out(self) -> None:
        while self._waiters and self.in_use < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.in_use += 1
                future.set_result(None)
