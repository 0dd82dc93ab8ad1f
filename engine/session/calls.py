"""One paid call, with everything the operator needs to see and trust.

Before each attempt: wait while the session is paused (no new paid call starts
while paused), then reserve the estimated cost against the budget (pausing with
reason ``budget`` rather than overshooting). Every attempt is its own
``api_calls`` row; retries follow the client's RetryPolicy (the server's wait
advice, at most one more paid attempt for an unusable answer such as no image),
each recorded in ``api_retry`` with its cause; 402 pauses with reason
``credits``; 401 stops the session; 403 fails the item with the moderation reason.

Money is journalled before it moves: the attempt's ``openrouter_api_call`` (with its
reservation) is on disk before the request is sent, and its result
(``api_call_finished`` with cost and generation id) before the result is used, so a
kill -9 at any moment leaves a record of every paid request.

What was billed is settled even when the call failed (an error after generation
began, an answer without the image). When an answer carries no numeric cost the
call keeps its reservation and shows the estimate as *estimated* while
``GET /generation`` is asked for the bill; it is never settled as $0.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.providers.openrouter import AuthError, ChatResult, CreditsError, OpenRouterError

if TYPE_CHECKING:
    from engine.session.budget import Reservation
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
    answer_leaves_journal: bool = True,
) -> tuple[str, ChatResult]:
    """Returns the successful attempt's call_id and result.

    ``answer_leaves_journal``: the answer is used outside the journal (an image written to a file), so
    its bill must be on disk first. A text answer that only feeds later events need not wait: the
    journal writes in seq order, so no event that used it can be durable before its bill. (Each wait
    is a hand-off to the journal's writer thread and back, ~5 ms on a busy loop: bench/pipeline.py.)"""
    emit = run.bus.emit
    sid = run.session_id
    attempt = 0
    seen: Counter[str] = Counter()  # failures by cause, for the policy's per-cause limits
    while True:
        attempt += 1
        reservation = await run.reserve(estimate_usd, model)
        call_id = new_call_id()
        emit(ev.OpenrouterApiCall(session_id=sid, item_id=item_id, call_id=call_id, purpose=purpose, model=model,
                                  attempt=attempt, estimated_cost_usd=round(estimate_usd, 8)))
        started = time.monotonic()
        call = _Settlement(run, reservation, item_id=item_id, call_id=call_id, model=model, purpose=purpose,
                           estimate_usd=estimate_usd, started=started)
        try:
            await run.bus.durable(run.bus.assigned_seq)  # on disk before a cent can be spent
            result = await run.client.chat_once(model=model, session_id=sid, **request)
        except asyncio.CancelledError:
            run.budget.release(reservation)
            emit(ev.ApiCallFinished(session_id=sid, item_id=item_id, call_id=call_id, model=model, status="cancelled",
                                    http_status=None, latency_ms=_ms(started), prompt_tokens=None,
                                    completion_tokens=None, cost_usd=0.0, error="cancelled"))
            raise
        except OpenRouterError as err:
            await call.finish("error", err.result, http_status=err.http_status, error=_short(err))
            seen[err.cause] += 1
            decision = run.client.retry_decision(err, attempt, seen=seen)
            if decision is not None:
                emit(ev.ApiRetry(session_id=sid, item_id=item_id, call_id=call_id, model=model, attempt=attempt,
                                 http_status=err.http_status, error_type=_error_type(err),
                                 delay_s=round(decision.delay_s, 3), cause=decision.cause,
                                 advised_s=None if decision.advised_s is None else round(decision.advised_s, 3),
                                 advice_source=decision.advice_source))
                await asyncio.sleep(decision.delay_s)
                continue
            if isinstance(err, CreditsError):
                emit(ev.ApiError(session_id=sid, item_id=item_id, call_id=call_id, model=model, http_status=err.status,
                                 error_type=_error_type(err), message=_short(err), action="pause"))
                await run.pause("credits", "OpenRouter reports insufficient credits or a key limit (402): "
                                           "add credits, then resume the session.")
                attempt = 0
                seen.clear()
                continue
            if isinstance(err, AuthError):
                emit(ev.ApiError(session_id=sid, item_id=item_id, call_id=call_id, model=model, http_status=err.status,
                                 error_type=_error_type(err), message=_short(err), action="stop"))
                raise SessionStopped(
                    "OpenRouter refused the API key (401): check OPENROUTER_API_KEY, or run with "
                    "--provider standin to rehearse offline.") from None
            emit(ev.ApiError(session_id=sid, item_id=item_id, call_id=call_id, model=model, http_status=err.status,
                             error_type=_error_type(err), message=_short(err), action=failure_action))
            raise CallFailed(_short(err), error=err, http_status=err.http_status) from None
        await call.finish("ok", result, http_status=200, error=None)
        if answer_leaves_journal:
            await run.bus.durable(run.bus.assigned_seq)  # the bill is on disk before the answer leaves the journal
        return call_id, result


class _Settlement:
    """Ends one attempt's money: the billed cost replaces the reservation, or the estimate is held."""

    def __init__(self, run: "SessionRun", reservation: "Reservation", *, item_id: str, call_id: str, model: str,
                 purpose: str, estimate_usd: float, started: float):
        self.run, self.reservation = run, reservation
        self.item_id, self.call_id, self.model, self.purpose = item_id, call_id, model, purpose
        self.estimate_usd, self.started = estimate_usd, started

    async def finish(self, status: str, result: ChatResult | None, *, http_status: int | None,
                     error: str | None) -> float:
        """Settle and emit ``api_call_finished``; ``result`` is what was billed (None: nothing was)."""
        run, emit = self.run, self.run.bus.emit
        latency = round(result.latency_ms, 1) if result is not None and result.latency_ms else _ms(self.started)
        tokens = {"prompt_tokens": result.prompt_tokens if result else None,
                  "completion_tokens": result.completion_tokens if result else None}
        finished = dict(session_id=run.session_id, item_id=self.item_id, call_id=self.call_id, model=self.model,
                        status=status, http_status=http_status, latency_ms=latency,
                        generation_id=result.id if result else None, **tokens)
        if result is None or result.cost_usd is not None:
            cost = float(result.cost_usd) if result is not None else 0.0
            self._settle(cost)
            emit(ev.ApiCallFinished(**finished, cost_usd=cost, error=error))
            return cost
        # The answer was billed but did not say how much: hold the reservation, show the estimate.
        emit(ev.ApiCallFinished(**finished, cost_usd=round(self.estimate_usd, 8), cost_estimated=True,
                                error=error or "cost unknown: asking GET /generation"))
        cost, source = None, "estimate"
        try:
            if result.id:
                cost = await run.client.generation_cost(result.id)
        finally:  # even when the item is cancelled meanwhile, what was billed is accounted for
            if cost is not None:
                source = "generation"
            else:
                cost = self.estimate_usd
            self._settle(cost)
            emit(ev.ApiCostSettled(session_id=run.session_id, item_id=self.item_id, call_id=self.call_id,
                                   model=self.model, cost_usd=cost, estimated=source == "estimate", source=source))
        result.cost_usd = cost
        return cost

    def _settle(self, cost: float) -> None:
        self.run.settle(self.reservation, cost, model=self.model, item_id=self.item_id, call_id=self.call_id,
                        purpose=self.purpose)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _error_type(err: OpenRouterError) -> str:
    return getattr(err, "error_type", None) or type(err).__name__


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
