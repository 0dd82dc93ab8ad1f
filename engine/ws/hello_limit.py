"""Failed websockets hellos are rate-limited per peer, so the token cannot be guessed at speed.

Each wrong or missing token counts against the peer's address. Past ``max_failures`` in the
last ``window_s`` seconds, the peer's new connections are refused at the HTTP handshake
(429 with Retry-After) without looking at their token, until the oldest failure ages out.
A valid hello costs nothing. Peers on one address share a budget (on loopback that is every
local client): a script guessing tokens locks itself out, and the console waits at most a window.
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable

__all__ = ["FailedHelloLimiter", "DEFAULT_MAX_FAILED_HELLOS", "DEFAULT_FAILED_HELLO_WINDOW_S"]

DEFAULT_MAX_FAILED_HELLOS = 10
DEFAULT_FAILED_HELLO_WINDOW_S = 60.0


class FailedHelloLimiter:
    def __init__(self, *, max_failures: int = DEFAULT_MAX_FAILED_HELLOS,
                 window_s: float = DEFAULT_FAILED_HELLO_WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, peer: str) -> deque[float]:
        times = self._failures.get(peer)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[peer]
        return times

    def retry_after_s(self, peer: str) -> int:
        """0 when ``peer`` may try a hello now; else whole seconds until it may."""
        times = self._recent(peer)
        if len(times) < self.max_failures:
            return 0
        return max(1, math.ceil(times[0] + self.window_s - self._clock()))

    def failed(self, peer: str) -> None:
        self._recent(peer)
        self._failures.setdefault(peer, deque()).append(self._clock())
