"""The studio's words, each defined once: statuses, stages, speeds, providers, commands.

Every module, page and CLI option imports these; SQL that filters on them builds its literal with
``sql_list``. A second copy of any of these lists is a disagreement waiting to happen (round 1 shipped
three different sets of "active" statuses), so none may exist: `tests/test_vocabulary.py` looks.
"""
from __future__ import annotations

from typing import Iterable

__all__ = [
    "SESSION_ACTIVE", "SESSION_RUNNING", "SESSION_TERMINAL", "SESSION_OUTCOMES", "session_outcome", "SESSION_STATUSES", "SESSION_ALL_ENDED",
    "SESSION_RESUMABLE_NOT",
    "ITEM_OUTCOMES", "ITEM_OPEN", "ITEM_NOT_SAVED", "ITEM_KEPT_ON_RESUME",
    "APPROVAL_RELEASED", "APPROVAL_STATUSES",
    "JOB_OPEN", "JOB_TERMINAL", "JOB_STATUSES", "JOB_LEFT_MIDWAY",
    "STAGES", "SPEED_CONCURRENCY", "SPEEDS", "DEFAULT_SPEED",
    "PROVIDERS", "DEFAULT_PROVIDER", "DEFAULT_COMPETITORS", "DEFAULT_IMAGE_MODEL",
    "CONTROL_COMMANDS", "OPERATOR_CONTROLS", "DECISION_ACTIONS", "PAUSE_REASONS", "PAUSE_STORAGE",
    "sql_list",
]

# -- sessions ---------------------------------------------------------------------------------------
# An engine is working on a session in these states (it owns it: nobody else may resume it).
SESSION_RUNNING = ("running", "paused", "awaiting_approval")
SESSION_ACTIVE = (*SESSION_RUNNING, "aborting")
# How a session ends (generation_complete's outcome, the sessions row's final status). `completed` only when
# every item ended saved, rejected or skipped by the operator: a run whose items failed must not look like a
# success (session_outcome below decides).
SESSION_TERMINAL = ("completed", "completed_with_failures", "failed", "aborted")
SESSION_OUTCOMES = SESSION_TERMINAL
SESSION_STATUSES = (*SESSION_ACTIVE, *SESSION_TERMINAL, "interrupted")
# Every item has ended (some may have failed): nothing is left to resume.
SESSION_ALL_ENDED = ("completed", "completed_with_failures")
# Resume refuses these: completed work is done, and active work belongs to a running engine.
SESSION_RESUMABLE_NOT = (*SESSION_ALL_ENDED, *SESSION_ACTIVE)

# -- items ------------------------------------------------------------------------------------------
ITEM_OUTCOMES = ("saved", "skipped", "rejected", "failed", "aborted")  # each item ends exactly once
ITEM_OPEN = ("pending", "in_progress", "awaiting_approval")
ITEM_NOT_SAVED = tuple(o for o in ITEM_OUTCOMES if o != "saved")
# Resume keeps these outcomes; an aborted item is taken up again when its session continues.
ITEM_KEPT_ON_RESUME = tuple(o for o in ITEM_OUTCOMES if o != "aborted")

# -- approval requests (approvals.status) ------------------------------------------------------------
# A decision or a timeout that lets (some of) a batch's items go on to their images.
APPROVAL_RELEASED = ("approved", "partially_approved", "modified", "timed_out_approved")
APPROVAL_STATUSES = ("pending", *APPROVAL_RELEASED, "rejected", "held")

# -- jobs (rows the daemon takes) -------------------------------------------------------------------
JOB_OPEN = ("queued", "running")
JOB_TERMINAL = ("done", "failed", "cancelled", "interrupted")
JOB_STATUSES = (*JOB_OPEN, *JOB_TERMINAL)
JOB_LEFT_MIDWAY = ("running", "interrupted")  # what a stopped or dead daemon leaves: requeued at start

# -- the pipeline -----------------------------------------------------------------------------------
STAGES = ("discovery", "prompt", "model", "approval", "image", "save")

# -- speed: how many items may be in flight ---------------------------------------------------------
SPEED_CONCURRENCY = {"slow": 1, "normal": 4, "fast": 16}
SPEEDS = tuple(SPEED_CONCURRENCY)
DEFAULT_SPEED = "normal"

# -- providers and models ---------------------------------------------------------------------------
PROVIDERS = ("standin", "openrouter")
DEFAULT_PROVIDER = "standin"
DEFAULT_COMPETITORS = ("anthropic/claude-sonnet-4.5", "openai/gpt-5-mini", "google/gemini-2.5-flash")
DEFAULT_IMAGE_MODEL = "google/gemini-2.5-flash-image"

# -- what operators may ask -------------------------------------------------------------------------
CONTROL_COMMANDS = ("pause", "resume", "skip", "abort", "speed", "budget")
OPERATOR_CONTROLS = ("pause", "resume", "skip", "abort")  # the ones that take no argument
DECISION_ACTIONS = ("approve_batch", "reject_batch", "modify_batch", "approve_items")

# -- why a session is paused (sessions.pause_reason) ------------------------------------------------
PAUSE_STORAGE = "storage"  # the journal or the image folder refuses writes (disk full, read-only, permissions)
PAUSE_REASONS = ("operator", "budget", "credits", "approval", "config", PAUSE_STORAGE)


def sql_list(words: Iterable[str]) -> str:
    """A SQL literal list for an IN clause, from one of the tuples above: ``('a', 'b')``."""
    return "(" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + ")"


def session_outcome(item_outcomes: Iterable[str], *, fatal: bool = False, aborted: bool = False) -> str:
    """The session's outcome from its items' outcomes (``aborted``/``fatal`` as the run saw them)."""
    if fatal:
        return "failed"
    if aborted:
        return "aborted"
    outcomes = list(item_outcomes)
    good = sum(1 for o in outcomes if o in ("saved", "rejected", "skipped"))
    if good == len(outcomes):
        return "completed"
    return "completed_with_failures" if good else "failed"
