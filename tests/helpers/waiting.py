"""The one way a test waits: poll a condition until it holds, failing at a deadline (never sleep-and-hope)."""
from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Callable

import pytest

__all__ = ["wait_until", "until"]


class _Deadline:
    def __init__(self, timeout: float, message: str):
        self.end, self.timeout, self.message = time.monotonic() + timeout, timeout, message

    def check(self) -> None:
        if time.monotonic() > self.end:
            pytest.fail(f"timed out after {self.timeout}s waiting for {self.message}")


def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Poll ``condition`` from plain code until it returns something truthy; that value is returned."""
    deadline = _Deadline(timeout, message)
    while True:
        value = condition()
        if value:
            return value
        deadline.check()
        time.sleep(interval)


async def until(condition: Callable[[], Any], *, timeout: float = 10.0, message: str = "condition",
                interval: float = 0.01) -> Any:
    """The same on an event loop: ``condition`` may be plain or async, and the loop runs while we wait."""
    deadline = _Deadline(timeout, message)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        deadline.check()
        await asyncio.sleep(interval)
