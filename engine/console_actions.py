"""What the console writes, stamped with the operator's name.

Thin wrappers over engine/commands.py (and engine/templates.py) so every row
the console appends carries who asked and ``source='console'``, and a missing
operator name is refused with a message the page can show as is.
"""
from __future__ import annotations

from typing import Any, Sequence

from .commands import SPEEDS, CommandError, request_control, request_decision, submit_job
from .queries import ACTIVE_SESSION_STATUSES
from .store import Store

__all__ = [
    "PROVIDERS", "require_operator", "send_control", "decide", "approve_reviewed", "prompt_changes",
    "build_job_spec", "queue_job", "can_continue", "queue_resume", "save_template", "activate_template_version",
]

PROVIDERS = ("standin", "openrouter")


def require_operator(operator: str | None) -> str:
    name = (operator or "").strip()
    if not name:
        raise CommandError("Enter your operator name in the sidebar first: every row the console writes records who asked.")
    return name


def send_control(store: Store, command: str, *, operator: str, session_id: str | None,
                 arg: str | None = None, item_id: str | None = None) -> int:
    """Pause / resume / skip / abort / speed for one session; returns the control_id."""
    return request_control(store, command, session_id=session_id, item_id=item_id, arg=arg,
                           requested_by=require_operator(operator), source="console")


def decide(store: Store, action: str, *, operator: str, batch_id: str, item_ids: Sequence[str] | None = None,
           modifications: dict[str, str] | None = None, comment: str | None = None) -> int:
    return request_decision(store, action, batch_id=batch_id, item_ids=list(item_ids) if item_ids is not None else None,
                            modifications=modifications, comment=(comment or "").strip() or None,
                            decided_by=require_operator(operator))


def approve_reviewed(store: Store, *, operator: str, batch_id: str, approved: dict[str, bool],
                     original: dict[str, str | None], edited: dict[str, str | None],
                     comment: str | None = None) -> int:
    """One decision for the reviewed grid: the ticked items *and* their edited prompts, together.

    Every ticked, unedited batch → approve_batch; every item ticked with edits → modify_batch; a subset
    → approve_items carrying the edits of the ticked items (edits of unticked rows are dropped: those
    items end rejected). An edit and a chosen subset never need two decisions, so neither is lost.
    """
    chosen = [item_id for item_id, tick in approved.items() if tick]
    if not chosen:
        raise CommandError("Tick the approve box of at least one item, or use Reject.")
    changes = prompt_changes(original, edited, only=chosen)
    if len(chosen) == len(approved):
        if not changes:
            return decide(store, "approve_batch", operator=operator, batch_id=batch_id, item_ids=chosen,
                          comment=comment)
        return decide(store, "modify_batch", operator=operator, batch_id=batch_id, item_ids=chosen,
                      modifications=changes, comment=comment)
    return decide(store, "approve_items", operator=operator, batch_id=batch_id, item_ids=chosen,
                  modifications=changes or None, comment=comment)


def prompt_changes(original: dict[str, str | None], edited: dict[str, str | None],
                   *, only: Sequence[str] | None = None) -> dict[str, str]:
    """The prompts an operator really changed (non-empty and different once stripped), by item id."""
    keep = set(only) if only is not None else None
    changes = {}
    for item_id, prompt in edited.items():
        text = (prompt or "").strip()
        if text and text != (original.get(item_id) or "").strip() and (keep is None or item_id in keep):
            changes[item_id] = text
    return changes


def build_job_spec(*, catalog: str | None = None, types: Sequence[str] | None = None, limit: int | None = None,
                   test: bool = True, test_type: str | None = None, provider: str = "standin",
                   speed: str = "normal", concurrency: int | None = None, budget_usd: float | None = None,
                   approval_enabled: bool = False, approval_threshold: int = 10, approval_timeout_s: float = 300.0,
                   cost_threshold_usd: float = 5.0, batch_size: int | None = None,
                   latency_scale: float | None = None, faults: str | None = None) -> dict[str, Any]:
    """The job spec the daemon reads (see engine/jobs.py); validates what a form can get wrong."""
    if provider not in PROVIDERS:
        raise CommandError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    if speed not in SPEEDS:
        raise CommandError(f"speed must be one of {', '.join(SPEEDS)}, got {speed!r}")
    if budget_usd is not None and budget_usd <= 0:
        raise CommandError("budget must be positive, or left empty for no budget")
    for name, value in (("limit", limit), ("concurrency", concurrency), ("batch size", batch_size)):
        if value is not None and value < 1:
            raise CommandError(f"{name} must be at least 1, or left empty")
    return {
        "catalog": catalog or None,
        "types": [t for t in (types or []) if t] or None,
        "limit": limit,
        "test": bool(test),
        "test_type": (test_type or None) if test else None,
        "provider": provider,
        "speed": speed,
        "concurrency": concurrency,
        "budget_usd": budget_usd,
        "approval": {"enabled": bool(approval_enabled), "threshold": int(approval_threshold),
                     "timeout_s": float(approval_timeout_s), "cost_threshold_usd": float(cost_threshold_usd),
                     "batch_size": batch_size},
        "latency_scale": latency_scale,
        "faults": faults or None,
    }


def queue_job(store: Store, spec: dict[str, Any], *, operator: str) -> int:
    return submit_job(store, spec, requested_by=require_operator(operator))


def can_continue(status: str | None) -> bool:
    """Whether a session in ``status`` can be resumed: the engine refuses only completed ones, and an
    engine is running the active ones (a crashed engine's are marked interrupted when one starts)."""
    return status is not None and status not in ("completed", "completed_with_failures", "aborting",
                                                 *ACTIVE_SESSION_STATUSES)


def queue_resume(store: Store, session_id: str, *, operator: str) -> int:
    """A job that continues a stopped session (what `assetgen run --resume` does); its job_id."""
    who = require_operator(operator)
    rows = store.query("SELECT status FROM sessions WHERE session_id = ?", [session_id])
    if not rows:
        raise CommandError(f"Unknown session {session_id!r}.")
    if not can_continue(rows[0][0]):
        raise CommandError(f"Session {session_id} is {rows[0][0]}: only an interrupted, aborted or failed "
                           "session resumes.")
    waiting = store.query("SELECT job_id FROM jobs WHERE status IN ('queued', 'running') "
                          "AND (session_id = ? OR spec->>'resume' = ?)", [session_id, session_id])
    if waiting:
        raise CommandError(f"Job {waiting[0][0]} already continues {session_id}.")
    return submit_job(store, {"resume": session_id}, requested_by=who)


def save_template(store: Store, body: dict, *, operator: str, comment: str | None, activate: bool = False) -> int:
    """A new template version by the operator; returns its number."""
    from .templates import TemplateError, save_template_version  # noqa: PLC0415 (only the Templates page needs it)

    author = require_operator(operator)
    if not (comment or "").strip():
        raise CommandError("Say in a comment what this version changes.")
    try:
        return save_template_version(store, body, author=author, comment=comment.strip(), activate=activate)
    except TemplateError as exc:
        raise CommandError(str(exc)) from None


def activate_template_version(store: Store, version: int, *, operator: str) -> int:
    from .templates import TemplateError, activate_template  # noqa: PLC0415

    require_operator(operator)
    try:
        activate_template(store, version, activated_by=operator)
    except TemplateError as exc:
        raise CommandError(str(exc)) from None
    return version
