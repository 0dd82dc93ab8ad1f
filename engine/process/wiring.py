"""Where the engine's tick handlers are assembled: the one place that says what a tick applies."""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.intents.controls import ControlHandler
from engine.intents.decisions import DecisionHandler
from engine.intents.jobs import JobRunner

if TYPE_CHECKING:
    from engine.process.runtime import Engine

__all__ = ["intent_handlers", "job_handler"]


def intent_handlers(engine: "Engine") -> list:
    """Every engine applies controls and decisions for the sessions it runs."""
    return [ControlHandler(engine), DecisionHandler(engine)]


def job_handler(engine: "Engine", *, max_sessions: int) -> JobRunner:
    """A daemon (``assetgen serve`` / ``up``) also takes queued jobs."""
    runner = JobRunner(engine, max_sessions=max_sessions)
    engine.ticker.add_handler(runner)
    return runner
