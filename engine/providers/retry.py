"""When to try a failed OpenRouter call again, and how long to wait first.

One policy serves the client's own ``chat`` loop and the engine's paid calls, so a
retry means the same thing everywhere:

* only errors that say a retry can help (``retryable``), at most ``1 + max_retries`` attempts;
* an answer that was paid for but unusable (no image, bytes that are no image) at most
  ``paid_malformed_retries`` more times for the same cause: a model that answers in text
  only would otherwise be paid for five times per item;
* the server's advice (Retry-After header, ``metadata.retry_after_seconds``, the provider's
  headers) wins over our schedule, jittered upwards so a crowd of clients spreads out and
  capped by ``retry_after_cap``; without advice, exponential backoff with "equal jitter".
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping

from engine.providers.errors import MalformedContent, OpenRouterError

__all__ = ["RetryDecision", "RetryPolicy"]


@dataclass(frozen=True)
class RetryDecision:
    """Wait ``delay_s``, then try again; ``cause`` and the server's advice say why and how long."""
    delay_s: float
    cause: str
    advised_s: float | None = None
    advice_source: str | None = None


class RetryPolicy:
    def __init__(self, *, max_retries: int = 4, backoff_base: float = 0.5, backoff_cap: float = 20.0,
                 retry_after_cap: float = 120.0, retry_after_jitter: float = 0.2,
                 paid_malformed_retries: int = 1, rng: random.Random | None = None):
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.retry_after_jitter = retry_after_jitter
        self.paid_malformed_retries = paid_malformed_retries
        self._rng = rng or random.Random()

    def decide(self, error: OpenRouterError, attempt: int, *,
               seen: Mapping[str, int] | None = None) -> RetryDecision | None:
        """After ``attempt`` attempts, the last failing with ``error``: retry (how) or give up (None).

        ``seen`` counts the failures so far by cause, this one included; without it this
        failure is taken as the first of its cause.
        """
        cause = error.cause
        if not error.retryable or attempt > self.max_retries:
            return None
        if isinstance(error, MalformedContent):
            times = (seen or {}).get(cause, 1)
            if times > self.paid_malformed_retries:
                return None
        advised = error.retry_after
        if advised is not None:
            jittered = advised * (1.0 + self._rng.uniform(0.0, self.retry_after_jitter))
            return RetryDecision(min(jittered, self.retry_after_cap), cause, advised, error.retry_after_source)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        # never less than half the step, so a burst of clients spreads out but still waits
        return RetryDecision(ceiling / 2 + self._rng.uniform(0, ceiling / 2), cause)
