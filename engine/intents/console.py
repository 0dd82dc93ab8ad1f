"""What the console writes, stamped with the operator's name.

Thin wrappers over engine/commands.py (and engine/templates.py) so every row
the console appends carries who asked and ``source='console'``, and a missing
operator name is refused with a message the page can show as is.
"""
from __future__ import annotations

from typing import Any, Sequence

from engine.intents.requests import CommandError, cancel_job, request_control, request_decision, submit_job
from engine.limits import MAX_COMMENT_CHARS, MAX_NAME_CHARS
from engine.store.database import Store
from engine.session.spec import RUN_OPTIONS, RunSpec, SpecError, run_option
from engine.vocabulary import JOB_OPEN, SESSION_RESUMABLE_NOT, sql_list

__all__ = [
    "require_operator", "clean_comment", "send_control", "decide", "approve_reviewed", "prompt_changes",
    "build_job_spec", "job_form_problems", "estimate_job", "run_option", "queue_job", "cancel_queued_job",
    "ensure_templates", "can_continue", "queue_resume", "save_template", "activate_template_version",
]


def require_operator(operator: str | None) -> str:
    name = (operator or "").strip()
    if not name:
        raise CommandError("Enter your operator name in the sidebar first: every row the console writes records who asked.")
    if len(name) > MAX_NAME_CHARS:
        raise CommandError(f"The operator name has {len(name)} characters; keep it to {MAX_NAME_CHARS} "
                           "(a name, not a note).")
    return name


def clean_comment(comment: str | None) -> str | None:
    """A comment stripped, None when empty; refused past MAX_COMMENT_CHARS with what to do instead."""
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise CommandError(f"The comment has {len(text)} characters; keep it to {MAX_COMMENT_CHARS} "
                           "(link to a longer note instead).")
    return text or None


def send_control(store: Store, command: str, *, operator: str, session_id: str | None,
                 arg: str | None = None, item_id: str | None = None) -> int:
    """Pause / resume / skip / abort / speed for one session; returns the control_id."""
    return request_control(store, command, session_id=session_id, item_id=item_id, arg=arg,
                           requested_by=require_operator(operator), source="console")


def decide(store: Store, action: str, *, operator: str, batch_id: str, item_ids: Sequence[str] | None = None,
           modifications: dict[str, str] | None = None, comment: str | None = None,
           budget_usd: float | None = None) -> int:
    return request_decision(store, action, batch_id=batch_id, item_ids=list(item_ids) if item_ids is not None else None,
                            modifications=modifications, comment=clean_comment(comment),
                            decided_by=require_operator(operator), budget_usd=budget_usd)


def approve_reviewed(store: Store, *, operator: str, batch_id: str, approved: dict[str, bool],
                     original: dict[str, str | None], edited: dict[str, str | None],
                     comment: str | None = None, budget_usd: float | None = None) -> int:
    """One decision for the reviewed grid: the ticked items *and* their edited prompts, together.

    Every ticked, unedited batch → approve_batch; every item ticked with edits → modify_batch; a subset
    → approve_items carrying the edits of the ticked items (edits of unticked rows are dropped: those
    items end rejected). An edit and a chosen subset never need two decisions, so neither is lost.
    ``budget_usd`` goes in the decision itself: the engine raises the session's budget and releases the
    batch in one step, and refuses an approval above what is left without it.
    """
    chosen = [item_id for item_id, tick in approved.items() if tick]
    if not chosen:
        raise CommandError("Tick the approve box of at least one item, or use Reject.")
    changes = prompt_changes(original, edited, only=chosen)
    if len(chosen) == len(approved):
        action = "modify_batch" if changes else "approve_batch"
    else:
        action = "approve_items"
    return decide(store, action, operator=operator, batch_id=batch_id, item_ids=chosen,
                  modifications=changes or None, comment=comment, budget_usd=budget_usd)


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


def build_job_spec(**form: Any) -> dict[str, Any]:
    """The job spec the daemon reads, from the New run form's values keyed by RunOption name (an empty field
    takes the option's default, the same as the CLI's); a value the spec refuses comes back as a CommandError
    naming the field."""
    values = {name: value for name, value in form.items() if value not in (None, "", [], ())}
    if not values.get("test"):
        values.pop("test_type", None)
    try:
        return RunSpec.from_options(values).to_dict()
    except SpecError as exc:
        raise CommandError(str(exc)) from None


def cancel_queued_job(store: Store, job_id: int, *, operator: str) -> bool:
    """Cancel a queued job, recording the operator; False when the daemon already took it."""
    return cancel_job(store, job_id, cancelled_by=require_operator(operator))


def job_form_problems(**form: Any) -> dict[str, str]:
    """What is wrong with the New run form, by field (empty when it can be queued), each in the run spec's own
    words: the same limits and messages the CLI's flags give."""
    problems: dict[str, str] = {}
    for option in RUN_OPTIONS:
        value = form.get(option.name)
        if value in (None, "", [], ()):
            continue
        try:
            option.check(option.coerce(value))
        except SpecError as exc:
            problems[option.name] = str(exc)
    if "faults" not in problems and (form.get("faults") or "").strip():
        try:
            RunSpec(faults=form["faults"]).validate()
        except SpecError as exc:
            problems["faults"] = str(exc)
    return problems


def estimate_job(spec: dict[str, Any]):
    """The forecast of a job spec (engine/session/estimate.py: prices from the dated snapshot, nothing called)."""
    from engine.session.estimate import estimate_run  # noqa: PLC0415 (loads the catalog and the price book)

    try:
        return estimate_run(RunSpec.from_dict(spec))
    except (SpecError, ValueError, OSError) as exc:
        raise CommandError(f"No estimate: {exc}") from None


def queue_job(store: Store, spec: dict[str, Any], *, operator: str) -> int:
    return submit_job(store, spec, requested_by=require_operator(operator))


def can_continue(status: str | None) -> bool:
    """Whether a session in ``status`` can be resumed: the engine refuses only completed ones, and an
    engine is running the active ones (a crashed engine's are marked interrupted when one starts)."""
    return status is not None and status not in SESSION_RESUMABLE_NOT


def queue_resume(store: Store, session_id: str, *, operator: str) -> int:
    """A job that continues a stopped session (what `assetgen run --resume` does); its job_id."""
    who = require_operator(operator)
    rows = store.query("SELECT status FROM sessions WHERE session_id = ?", [session_id])
    if not rows:
        raise CommandError(f"Unknown session {session_id!r}.")
    if not can_continue(rows[0][0]):
        raise CommandError(f"Session {session_id} is {rows[0][0]}: only an interrupted, aborted or failed "
                           "session resumes.")
    waiting = store.query(f"SELECT job_id FROM jobs WHERE status IN {sql_list(JOB_OPEN)} "
                          "AND (session_id = ? OR spec->>'resume' = ?)", [session_id, session_id])
    if waiting:
        raise CommandError(f"Job {waiting[0][0]} already continues {session_id}.")
    return submit_job(store, {"resume": session_id}, requested_by=who)


def ensure_templates(store: Store) -> None:
    """A fresh database gets the built-in default template once (authored by the studio, not an operator)."""
    from engine.templates.brief import ensure_default_template  # noqa: PLC0415 (only the Templates page needs it)

    ensure_default_template(store)


def save_template(store: Store, body: dict, *, operator: str, comment: str | None, activate: bool = False) -> int:
    """A new template version by the operator; returns its number."""
    from engine.templates.brief import TemplateError, save_template_version  # noqa: PLC0415 (only the Templates page needs it)

    author = require_operator(operator)
    text = clean_comment(comment)
    if not text:
        raise CommandError("Say in a comment what this version changes.")
    try:
        return save_template_version(store, body, author=author, comment=text, activate=activate)
    except TemplateError as exc:
        raise CommandError(str(exc)) from None


def activate_template_version(store: Store, version: int, *, operator: str) -> int:
    from engine.templates.brief import TemplateError, activate_template  # noqa: PLC0415

    require_operator(operator)
    try:
        activate_template(store, version, activated_by=operator)
    except TemplateError as exc:
        raise CommandError(str(exc)) from None
    return version
