"""Operator controls: pause, resume, skip, abort and speed.

Rows in ``controls`` (from the console, the CLI, websockets clients or anyone's
own INSERT) are applied on the engine's next tick, stamped ``applied_at`` with
a ``result``, and each application emits ``control_flag_change``. Repeats are
safe: pausing a paused session says so and changes nothing.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine import events as ev
from engine.intents.handler import IntentHost, RowHandler
from engine.vocabulary import CONTROL_COMMANDS, SESSION_ACTIVE, SPEED_CONCURRENCY, SPEEDS
from engine.limits import row_problem
from engine.intents.requests import budget_amount

if TYPE_CHECKING:
    from engine.session.run import SessionRun

__all__ = ["ControlHandler", "apply_control"]

log = logging.getLogger(__name__)
_ENDED = "refused: session {sid} has just ended; nothing left to control"


class ControlHandler(RowHandler):
    """Pause / resume / skip / abort / speed rows, applied to the sessions running in this engine."""

    table, key = "controls", "control_id"
    columns = ("control_id", "session_id", "command", "arg", "item_id", "requested_by", "source")

    def check(self, con, row: dict):
        sid = row["session_id"]
        too_big = row_problem(row)  # a row INSERTed by SQL skips engine.intents.requests' checks
        if too_big:
            return f"refused: {too_big}"
        if row["command"] not in CONTROL_COMMANDS:
            return f"refused: unknown command {row['command']!r}; expected one of {', '.join(CONTROL_COMMANDS)}"
        if sid is None or self.host.session_is_active(sid):
            return apply_control, (self.host, row)
        status = con.execute("SELECT status FROM sessions WHERE session_id = ?", [sid]).fetchone()
        if status is None:
            return f"refused: unknown session {sid!r}"
        if status[0] in SESSION_ACTIVE:
            # The table lags by one tick: this engine's run ended and its last events are
            # still on their way (a dead engine's sessions were marked interrupted at start).
            return _ENDED.format(sid=sid)
        return (f"refused: session {sid} is {status[0]}, not running in this engine"
                + (f"; continue it with `assetgen run --resume {sid}`" if status[0] == "interrupted" else ""))


def apply_control(host: IntentHost, row: dict) -> str:
    """Runs on the engine's event loop; returns the row's result."""
    sid = row["session_id"]
    if sid and sid not in host.runs:  # it ended between the tick's check and now
        return _ENDED.format(sid=sid)
    runs = [host.runs[sid]] if sid else list(host.runs.values())
    if not runs:
        return "refused: no session is running"
    results = [_apply_one(run, row) for run in runs]
    return results[0] if len(results) == 1 else "; ".join(f"{r.session_id}: {x}" for r, x in zip(runs, results))


def _apply_one(run: "SessionRun", row: dict) -> str:
    command, arg = row["command"], row["arg"]
    meta = dict(control_id=row["control_id"], requested_by=row["requested_by"], source=row["source"] or "sql")

    def flag(previous, new, result, reason="operator"):
        run.bus.emit(ev.ControlFlagChange(session_id=run.session_id, command=command, previous=previous, new=new,
                                          reason=reason, result=result, **meta))
        return result

    if command == "pause":
        if run.paused:
            return flag("paused", "paused", f"already paused ({run.pause_reason}); nothing changed")
        run.hold("operator", result="paused: no new paid call starts; calls in flight finish", **meta)
        return "paused: no new paid call starts; calls in flight finish"
    if command == "resume":
        if not run.paused:
            return flag("running", "running", "already running; nothing changed")
        budget = _budget_arg(arg)
        if budget is not None:
            run.budget.limit_usd = budget
        elif run.pause_reason == "budget" and run.budget.would_exceed(0.0):
            return flag("paused", "paused", "refused: the budget is spent; resume with arg 'budget=<USD>' "
                                            "to raise it, or abort")
        run.release(source=meta["source"], control_id=meta["control_id"], requested_by=meta["requested_by"],
                    result="resumed" + (f" with budget ${budget:.2f}" if budget is not None else ""))
        return "resumed" + (f" with budget ${budget:.2f}" if budget is not None else "")
    if command == "skip":
        item_id = row["item_id"]
        if item_id and not run.knows(item_id):
            item_id = f"{run.session_id}:{item_id}" if run.knows(f"{run.session_id}:{item_id}") else None
            if item_id is None:  # finished items leave memory after a while: this may be one of them
                return flag(None, None, f"refused: item {row['item_id']!r} is not open in session {run.session_id} "
                                        "(unknown, or finished earlier)")
        item_id = item_id or run.oldest_in_flight()
        if item_id is None:
            return flag(None, None, "nothing to skip: no item is in flight")
        if not run.cancel_item(item_id, "skipped"):
            return flag(item_id, item_id, f"{item_id} has already finished ({run.item(item_id).status})")
        return flag(item_id, "skipped", f"skipped {item_id}: requests in flight cancelled")
    if command == "abort":
        if run.aborted:
            return flag("aborted", "aborted", "already aborting; nothing changed")
        count = run.abort()
        return flag(run.status, "aborted", f"aborting: {count} items cancelled")
    if command == "speed":
        if arg not in SPEED_CONCURRENCY:
            return flag(run.speed, run.speed, f"refused: speed must be one of {', '.join(SPEEDS)}, got {arg!r}")
        previous = run.speed
        if previous == arg:
            return flag(previous, arg, f"already {arg}; nothing changed")
        run.speed = arg
        limit = run.spec.concurrency or SPEED_CONCURRENCY[arg]
        import asyncio

        asyncio.get_running_loop().create_task(run.limiter.set_limit(limit))
        return flag(previous, arg, f"speed {arg}: up to {limit} items in flight for work started from now")
    if command == "budget":
        return _set_budget(run, arg, flag, meta)
    return flag(None, None, f"refused: unknown command {command!r}")


def _set_budget(run: "SessionRun", arg: str | None, flag, meta: dict) -> str:
    """A new budget for a running session (the console raises it with an approval); a budget pause ends
    when the new budget leaves room."""
    amount = budget_amount(arg)
    previous = run.budget.limit_usd
    was = None if previous is None else f"{previous:g}"
    if amount is None:
        return flag(was, was, f"refused: budget needs a positive amount in USD, got {arg!r}")
    run.budget.limit_usd = amount
    result = f"budget ${amount:.2f}" + (f" (was ${previous:g})" if previous is not None else "")
    flag(was, f"{amount:g}", result)
    if run.paused and run.pause_reason == "budget" and not run.budget.would_exceed(0.0):
        run.release(source=meta["source"], reason="budget", control_id=meta["control_id"],
                    requested_by=meta["requested_by"], result=f"resumed: {result}")
        result += "; resumed"
    return result


def _budget_arg(arg: str | None) -> float | None:
    if not arg or not arg.startswith("budget="):
        return None
    try:
        value = float(arg.split("=", 1)[1])
    except ValueError:
        return None
    return value if value > 0 else None
