"""Approval decisions: rows in ``decisions`` applied to the gates of the sessions running in this engine.

A decision for a batch whose session is not running here yet (interrupted, being rebuilt) stays unapplied
and reaches the gate when the session resumes; one for an unknown, decided or ended batch is refused with
a result that says why. A row's ``budget_usd`` (the session's new budget, raised with the approval) is
checked by engine.intents.requests' one rule and applied by the gate together with the decision.
"""
from __future__ import annotations

from engine.intents.handler import LATER, RowHandler
from engine.intents.requests import decision_budget_problem
from engine.limits import row_problem
from engine.vocabulary import SESSION_TERMINAL

__all__ = ["DecisionHandler"]


class DecisionHandler(RowHandler):
    table, key = "decisions", "decision_id"
    columns = ("decision_id", "batch_id", "action", "CAST(item_ids AS VARCHAR) AS item_ids",
               "CAST(modifications AS VARCHAR) AS modifications", "comment", "decided_by", "budget_usd")

    def check(self, con, row: dict):
        # a row INSERTed by SQL skips engine.intents.requests' checks: the same ones, here
        too_big = row_problem(row) or decision_budget_problem(row["action"], row["budget_usd"])
        if too_big:
            return f"refused: {too_big}"
        gate = self.host.find_gate(row["batch_id"])
        if gate is not None:
            return gate.apply_decision, (row,)
        known = con.execute("SELECT status, session_id FROM approvals WHERE batch_id = ?", [row["batch_id"]]).fetchone()
        if known is None:
            return f"refused: unknown batch {row['batch_id']!r}"
        status, session_id = known
        if status != "pending":
            return f"refused: batch {row['batch_id']} was already decided ({status})"
        if self.host.session_is_active(session_id):
            return LATER  # the gate is being rebuilt right now
        session_status = con.execute("SELECT status FROM sessions WHERE session_id = ?", [session_id]).fetchone()
        if session_status and session_status[0] in SESSION_TERMINAL:
            return f"refused: session {session_id} has ended ({session_status[0]})"
        return LATER
