"""What the console writes, stamped with the operator's name.

Thin wrappers over engine/commands.py (and engine/templates.py) so every row
the console appends carries who asked and ``source='console'``, and a missing
operator name is refused with a message the page can show as is.
"""
from __future__ import annotations

from typing import Any, Sequence

from .commands import SPEEDS, CommandError, request_control, request_decision, submit_job
from .queries import ACTIVE_SESSION_STATUSES
from .spec import RunSpec, SpecError
from .store import Store

__all__ = [
    "PROVIDERS", "OPERATOR_MAX_CHARS", "COMMENT_MAX_CHARS", "require_operator", "clean_comment", "send_control", "decide", "approve_reviewed", "prompt_changes",
    "FORM_LIMITS", "job_form_problems", "build_job_spec", "estimate_job", "queue_job", "can_continue", "queue_resume", "save_template", "activate_template_version",
]

PROVIDERS = ("standin", "openrouter")
# A 545-character name and an 11,200-character comment once stretched every table they appear in.
OPERATOR_MAX_CHARS = 60
COMMENT_MAX_CHARS = 500


def require_operator(operator: str | None) -> str:
    name = (operator or "").strip()
    if not name:
        raise CommandError("Enter your operator name in the sidebar first: every row the console writes records who asked.")
    if len(name) > OPERATOR_MAX_CHARS:
        raise CommandError(f"The operator name has {len(name)} characters; keep it to {OPERATOR_MAX_CHARS} "
                           "(a name, not a note).")
    return name


def clean_comment(comment: str | None) -> str | None:
    """A comment stripped, None when empty; refused past COMMENT_MAX_CHARS with what to do instead."""
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX_CHARS:
        raise CommandError(f"The comment has {len(text)} characters; keep it to {COMMENT_MAX_CHARS} "
                           "(link to a longer note instead).")
    return text or None


def send_control(store: Store, command: str, *, operator: str, session_id: str | None,
                 arg: str | None = None, item_id: str | None = None) -> int:
    """Pause / resume / skip / abort / speed for one session; returns the control_id."""
    return request_control(store, command, session_id=session_id, item_id=item_id, arg=arg,
                           requested_by=require_operator(operator), source="console")


def decide(store: Store, action: str, *, operator: str, batch_id: str, item_ids: Sequence[str] | None = None,
           modifications: dict[str, str] | None = None, comment: str | None = None) -> int:
    return request_decision(store, action, batch_id=batch_id, item_ids=list(item_ids) if item_ids is not None else None,
                            modifications=modifications, comment=clean_comment(comment),
                            decided_by=require_operator(operator))


def approve_reviewed(store: Store, *, operator: str, batch_id: str, approved: dict[str, bool],
                     original: dict[str, str | None], edited: dict[str, str | None],
                     comment: str | None = None, session_id: str | None = None,
                     budget_usd: float | None = None) -> int:
    """One decision for the reviewed grid: the ticked items *and* their edited prompts, together.

    Every ticked, unedited batch → approve_batch; every item ticked with edits → modify_batch; a subset
    → approve_items carrying the edits of the ticked items (edits of unticked rows are dropped: those
    items end rejected). An edit and a chosen subset never need two decisions, so neither is lost.
    With ``budget_usd`` the session's budget is raised in the same transaction (a ``budget`` control
    row, applied on the engine's tick before the decision), so an approval above what is left does not
    end in a budget pause.
    """
    chosen = [item_id for item_id, tick in approved.items() if tick]
    if not chosen:
        raise CommandError("Tick the approve box of at least one item, or use Reject.")
    if budget_usd is not None and not session_id:
        raise CommandError("Raising the budget needs the batch's session.")
    changes = prompt_changes(original, edited, only=chosen)
    if len(chosen) == len(approved):
        action = "modify_batch" if changes else "approve_batch"
    else:
        action = "approve_items"
    with store.write():  # both rows or neither
        if budget_usd is not None:
            send_control(store, "budget", operator=operator, session_id=session_id, arg=f"{budget_usd:.2f}")
        return decide(store, action, operator=operator, batch_id=batch_id, item_ids=chosen,
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


# The New run form's limits: a typo guard against "limit 999999, concurrency 99999, $1e9, a 3-year timeout".
# The defaults are not here: they are RunSpec's, the same the CLI shows.
FORM_LIMITS = {
    "limit": (1, 10_000), "concurrency": (1, 64), "budget_usd": (0.01, 10_000.0), "latency_scale": (0.0, 10.0),
    "approval_threshold": (0, 10_000), "approval_timeout_s": (5.0, 86_400.0), "cost_threshold_usd": (0.0, 10_000.0),
    "batch_size": (1, 10_000),
}
_DEFAULTS = RunSpec()


def job_form_problems(*, limit: int | None = None, concurrency: int | None = None, budget_usd: float | None = None,
                      latency_scale: float | None = None, approval_threshold: int | None = None,
                      approval_timeout_s: float | None = None, cost_threshold_usd: float | None = None,
                      batch_size: int | None = None, faults: str | None = None,
                      provider: str | None = None, speed: str | None = None) -> dict[str, str]:
    """What is wrong with the New run form, by field (empty when it can be queued); each message says the fix."""
    problems: dict[str, str] = {}
    if provider is not None and provider not in PROVIDERS:
        problems["provider"] = f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}"
    if speed is not None and speed not in SPEEDS:
        problems["speed"] = f"speed must be one of {', '.join(SPEEDS)}, got {speed!r}"
    values = {"limit": limit, "concurrency": concurrency, "budget_usd": budget_usd, "latency_scale": latency_scale,
              "approval_threshold": approval_threshold, "approval_timeout_s": approval_timeout_s,
              "cost_threshold_usd": cost_threshold_usd, "batch_size": batch_size}
    for name, value in values.items():
        low, high = FORM_LIMITS[name]
        if value is not None and not low <= value <= high:
            problems[name] = f"{name.replace('_', ' ')} must be between {low:g} and {high:g}, or left empty"
    if faults and faults.strip():
        from .providers.faults import parse_faults  # noqa: PLC0415

        try:
            parse_faults(faults)
        except ValueError as exc:
            problems["faults"] = f"faults: {exc}. Write kind=rate pairs, e.g. 429=0.1,timeout=0.02"
    return problems


def build_job_spec(*, catalog: str | None = None, types: Sequence[str] | None = None, limit: int | None = None,
                   test: bool = _DEFAULTS.test, test_type: str | None = None, provider: str = _DEFAULTS.provider,
                   speed: str = _DEFAULTS.speed, concurrency: int | None = None,
                   budget_usd: float | None = _DEFAULTS.budget_usd,
                   approval_enabled: bool = _DEFAULTS.approval.enabled,
                   approval_threshold: int = _DEFAULTS.approval.threshold,
                   approval_timeout_s: float = _DEFAULTS.approval.timeout_s,
                   cost_threshold_usd: float = _DEFAULTS.approval.cost_threshold_usd, batch_size: int | None = None,
                   latency_scale: float | None = None, faults: str | None = None) -> dict[str, Any]:
    """The job spec the daemon reads (see engine/jobs.py); validates what a form can get wrong."""
    if budget_usd is not None and budget_usd <= 0:
        raise CommandError("budget must be positive, or left empty for no budget")
    for name, value in (("limit", limit), ("concurrency", concurrency), ("batch size", batch_size)):
        if value is not None and value < 1:
            raise CommandError(f"{name} must be at least 1, or left empty")
    problems = job_form_problems(
        limit=limit, concurrency=concurrency, budget_usd=budget_usd, latency_scale=latency_scale,
        approval_threshold=approval_threshold, approval_timeout_s=approval_timeout_s,
        cost_threshold_usd=cost_threshold_usd, batch_size=batch_size, faults=faults, provider=provider, speed=speed)
    if problems:
        raise CommandError(next(iter(problems.values())))
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
        "faults": (faults or "").strip() or None,
    }


def estimate_job(spec: dict[str, Any]):
    """The forecast of a job spec (engine/estimate.py: prices from the dated snapshot, nothing called)."""
    from .estimate import estimate_run  # noqa: PLC0415 (loads the catalog and the price book)

    try:
        return estimate_run(RunSpec.from_dict(spec))
    except (SpecError, ValueError, OSError) as exc:
        raise CommandError(f"No estimate: {exc}") from None


def queue_job(store: Store, spec: dict[str, Any], *, operator: str) -> int:
    return submit_job(store, spec, requested_by=require_operator(operator))


def can_continue(status: str | None) -> bool:
    """Whether a session in ``status`` can be resumed: the engine refuses only completed ones, and an
    engine is running the active ones (a crashed engine's are marked interrupted when one starts)."""
    return status is not None and status not in ("completed", "aborting", *ACTIVE_SESSION_STATUSES)


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
    text = clean_comment(comment)
    if not text:
        raise CommandError("Say in a comment what this version changes.")
    try:
        return save_template_version(store, body, author=author, comment=text, activate=activate)
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
