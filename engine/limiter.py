"""A concurrency limit that can change while work is waiting (speed control)."""
from __future__ import annotations

import asyncio

__all__ = ["Limiter"]


class Limiter:
    """Like a semaphore, but ``set_limit`` applies to work started after the change."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> "Limiter":
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use < self.limit)
            self.in_use += 1
        return self

    async def __aexit__(self, *exc) -> None:
        async with self._changed:
            self.in_use -= 1
            self._changed.notify_all()

    async def set_limit(self, limit: int) -> None:
        async with self._changed:
            self.limit = limit
            self._changed.notify_all()
