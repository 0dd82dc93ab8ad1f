"""Operators write intent: control, decision and job rows.

The console, the CLI and websockets clients all come through here, so a row
looks the same whoever wrote it. The engine applies the rows on its next tick
(engine/controls.py, engine/approval.py, engine/jobs.py); nothing here changes
session or item state.
"""
from __future__ import annotations

import json
import math
from typing import Any

from engine.store.database import Store
from engine.vocabulary import CONTROL_COMMANDS, DECISION_ACTIONS, SPEEDS
from engine.limits import row_problem

__all__ = [
    "CommandError",
    "request_control", "request_decision", "submit_job", "cancel_job", "budget_amount", "decision_budget_problem",
]



class CommandError(ValueError):
    """A request that cannot become a row; the message says what to fix."""


def request_control(
    store: Store,
    command: str,
    *,
    session_id: str | None = None,
    item_id: str | None = None,
    arg: str | None = None,
    requested_by: str | None = None,
    source: str = "cli",
) -> int:
    """Append a control row; returns its control_id. ``session_id=None`` means every running session."""
    if command not in CONTROL_COMMANDS:
        raise CommandError(f"unknown command {command!r}; expected one of {', '.join(CONTROL_COMMANDS)}")
    if command == "speed" and arg not in SPEEDS:
        raise CommandError(f"speed needs one of {', '.join(SPEEDS)}, got {arg!r}")
    _check_limits(session_id=session_id, item_id=item_id, arg=arg, requested_by=requested_by, source=source)
    if command == "budget" and budget_amount(arg) is None:
        raise CommandError(f"budget needs a positive amount in USD, e.g. '12.50', got {arg!r}")
    rows = store.execute(
        "INSERT INTO controls (session_id, command, arg, item_id, requested_by, source) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING control_id",
        [session_id, command, arg, item_id, requested_by, source],
    )
    return int(rows[0][0])


def request_decision(
    store: Store,
    action: str,
    *,
    batch_id: str,
    item_ids: list[str] | None = None,
    modifications: dict[str, str] | None = None,
    comment: str | None = None,
    decided_by: str | None = None,
    budget_usd: float | None = None,
) -> int:
    """Append a decision row for an approval batch; returns its decision_id.

    ``budget_usd`` is the session's new budget, applied by the engine together with the approval:
    approving more than the budget has left is refused without it (docs/operations.md)."""
    if action not in DECISION_ACTIONS:
        raise CommandError(f"unknown action {action!r}; expected one of {', '.join(DECISION_ACTIONS)}")
    if not batch_id:
        raise CommandError("a decision needs a batch_id")
    if action == "approve_items" and not item_ids:
        raise CommandError("approve_items needs the item_ids to approve")
    if action == "modify_batch" and not isinstance(modifications, dict):
        raise CommandError("modify_batch needs modifications: {item_id: edited prompt}")
    _check_limits(batch_id=batch_id, item_ids=item_ids, modifications=modifications, comment=comment,
                  decided_by=decided_by)
    problem = decision_budget_problem(action, budget_usd)
    if problem:
        raise CommandError(problem)
    rows = store.execute(
        "INSERT INTO decisions (batch_id, action, item_ids, modifications, comment, decided_by, budget_usd) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
        [batch_id, action, _json(item_ids), _json(modifications), comment, decided_by,
         None if budget_usd is None else float(budget_usd)],
    )
    return int(rows[0][0])


def decision_budget_problem(action: str | None, budget_usd: Any) -> str | None:
    """What is wrong with a decision's ``budget_usd``, or None. The one check: the console, the CLI and
    websockets rows meet it here, rows INSERTed by SQL in the engine's tick handler (engine/intents/decisions.py)."""
    if budget_usd is None:
        return None
    if isinstance(budget_usd, bool) or not isinstance(budget_usd, (int, float)) \
            or not math.isfinite(budget_usd) or budget_usd <= 0:
        return f"budget_usd must be a positive amount in USD, e.g. 12.50, got {budget_usd!r}"
    if action == "reject_batch":
        return "budget_usd goes with an approval: a rejection pays for nothing, so leave the budget out"
    return None


def budget_amount(arg: str | None) -> float | None:
    """The USD amount of a ``budget`` control's arg, or None when it is not a positive number."""
    try:
        value = float(arg or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def submit_job(store: Store, spec: dict[str, Any], *, requested_by: str | None = None) -> int:
    """Queue a generation run for the daemon (`assetgen serve`); returns its job_id."""
    _check_limits(spec=json.dumps(spec), requested_by=requested_by)
    rows = store.execute(
        "INSERT INTO jobs (spec, requested_by) VALUES (?, ?) RETURNING job_id",
        [json.dumps(spec), requested_by],
    )
    return int(rows[0][0])


def cancel_job(store: Store, job_id: int, *, cancelled_by: str | None = None) -> bool:
    """Cancel a job the daemon has not taken yet; who asked goes in its ``error`` note."""
    rows = store.execute(
        "UPDATE jobs SET status = 'cancelled', error = ?, finished_at = now() WHERE job_id = ? AND status = 'queued' "
        "RETURNING job_id", [f"cancelled by {cancelled_by}" if cancelled_by else "cancelled", job_id]
    )
    return bool(rows)


def _check_limits(**row: Any) -> None:
    problem = row_problem(row)
    if problem:
        raise CommandError(problem)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
