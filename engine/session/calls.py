"""One paid call, with everything the operator needs to see and trust.

Before each attempt: wait while the session is paused (no new paid call starts
while paused), then reserve the estimated cost against the budget (pausing with
reason ``budget`` rather than overshooting). Every attempt is its own
``api_calls`` row; retryable failures back off as the reference's error table
says; 402 pauses with reason ``credits``; 401 stops the session; 403 fails
the item with the moderation reason.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.providers.openrouter import AuthError, ChatResult, CreditsError, OpenRouterError

if TYPE_CHECKING:
    from engine.session.run import SessionRun

__all__ = ["paid_call", "SessionStopped", "CallFailed"]

_call_counter = itertools.count(1)
_PROCESS_TAG = f"{os.getpid():x}{int(time.time()) % 100000:05d}"


class SessionStopped(Exception):
    """The session cannot go on (e.g. the API key is refused); carries the operator-facing message."""


class CallFailed(Exception):
    """A call failed for good; ``error`` is the provider's error, ``action`` what the engine did."""

    def __init__(self, message: str, *, error: OpenRouterError | None = None, http_status: int | None = None):
        super().__init__(message)
        self.error = error
        self.http_status = http_status


def new_call_id() -> str:
    return f"c{_PROCESS_TAG}-{next(_call_counter):06d}"


async def paid_call(
    run: "SessionRun",
    *,
    item_id: str,
    purpose: str,
    model: str,
    request: dict[str, Any],
    estimate_usd: float,
    failure_action: str = "fail_item",
) -> tuple[str, ChatResult]:
    """Returns the successful attempt's call_id and result."""
    emit = run.bus.emit
    sid = run.session_id
    attempt = 0
    while True:
        attempt += 1
        reservation = await run.reserve(estimate_usd, model)
        call_id = new_call_id()
        emit(ev.OpenrouterApiCall(session_id=sid, item_id=item_id, call_id=call_id, purpose=purpose, model=model,
                                  attempt=attempt, estimated_cost_usd=round(estimate_usd, 8)))
        started = time.monotonic()
        try:
            result = await run.client.chat_once(model=model, session_id=sid, **request)
        except asyncio.CancelledError:
            run.budget.release(reservation)
            emit(ev.ApiCallFinished(session_id=sid, item_id=item_id, call_id=call_id, model=model, status="cancelled",
                                    http_status=None, latency_ms=_ms(started), prompt_tokens=None,
                                    completion_tokens=None, cost_usd=0.0, error="cancelled"))
            raise
        except OpenRouterError as err:
            billed = float(getattr(getattr(err, "result", None), "cost_usd", None) or 0.0)
            run.settle(reservation, billed, model=model, item_id=item_id, call_id=call_id, purpose=purpose)
            emit(ev.ApiCallFinished(session_id=sid, item_id=item_id, call_id=call_id, model=model, status="error",
                                    http_status=err.status, latency_ms=_ms(started), prompt_tokens=None,
                                    completion_tokens=None, cost_usd=billed, error=_short(err)))
            delay = run.client.retry_delay(err, attempt)
            if delay is not None:
                emit(ev.ApiRetry(session_id=sid, item_id=item_id, call_id=call_id, model=model, attempt=attempt,
                                 http_status=err.status, error_type=_error_type(err), delay_s=round(delay, 3)))
                await asyncio.sleep(delay)
                continue
            if isinstance(err, CreditsError):
                emit(ev.ApiError(session_id=sid, item_id=item_id, call_id=call_id, model=model, http_status=err.status,
                                 error_type=_error_type(err), message=_short(err), action="pause"))
                await run.pause("credits", "OpenRouter reports insufficient credits or a key limit (402): "
                                           "add credits, then resume the session.")
                attempt = 0
                continue
            if isinstance(err, AuthError):
                emit(ev.ApiError(session_id=sid, item_id=item_id, call_id=call_id, model=model, http_status=err.status,
                                 error_type=_error_type(err), message=_short(err), action="stop"))
                raise SessionStopped(
                    "OpenRouter refused the API key (401): check OPENROUTER_API_KEY, or run with "
                    "--provider standin to rehearse offline.") from None
            emit(ev.ApiError(session_id=sid, item_id=item_id, call_id=call_id, model=model, http_status=err.status,
                             error_type=_error_type(err), message=_short(err), action=failure_action))
            raise CallFailed(_short(err), error=err, http_status=err.status) from None
        cost = float(result.cost_usd) if result.cost_usd is not None else 0.0
        run.settle(reservation, cost, model=model, item_id=item_id, call_id=call_id, purpose=purpose)
        emit(ev.ApiCallFinished(session_id=sid, item_id=item_id, call_id=call_id, model=model, status="ok",
                                http_status=200, latency_ms=round(result.latency_ms or _ms(started), 1),
                                prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                                cost_usd=cost, generation_id=result.id,
                                error=None if result.cost_usd is not None else "cost unknown"))
        return call_id, result


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _error_type(err: OpenRouterError) -> str:
    return getattr(err, "error_type", None) or type(err).__name__


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
