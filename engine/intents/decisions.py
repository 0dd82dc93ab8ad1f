"""Approval decisions: rows in ``decisions`` applied to the gates of the sessions running in this engine.

A decision for a batch whose session is not running here yet (interrupted, being rebuilt) stays unapplied
and reaches the gate when the session resumes; one for an unknown, decided or ended batch is refused with
a result that says why.
"""
from __future__ import annotations

from engine.intents.handler import LATER, RowHandler
from engine.limits import row_problem
from engine.vocabulary import SESSION_TERMINAL

__all__ = ["DecisionHandler"]


class DecisionHandler(RowHandler):
    table, key = "decisions", "decision_id"
    columns = ("decision_id", "batch_id", "action", "CAST(item_ids AS VARCHAR) AS item_ids",
               "CAST(modifications AS VARCHAR) AS modifications", "comment", "decided_by")

    def check(self, con, row: dict):
        too_big = row_problem(row)  # a row INSERTed by SQL skips engine.intents.requests' checks
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
