"""Read models of the Approvals page: what waits for a human, and what humans decided."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.read.sessions import parse_json, utcnow
from engine.store.database import Store

__all__ = ["pending_approvals", "approval_items", "decision_history", "seconds_left"]


def seconds_left(expires_at: datetime | None, *, now: datetime | None = None) -> float | None:
    """Countdown to a request's expiry (negative once expired); None when it never expires."""
    if expires_at is None or pd.isna(expires_at):
        return None
    return (pd.Timestamp(expires_at) - pd.Timestamp(now or utcnow())).total_seconds()


def pending_approvals(store: Store, *, session_id: str | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Pending requests, soonest to expire first, with seconds left and the number of items."""
    frame = store.query_df(
        "SELECT a.batch_id, a.session_id, a.kind, a.requested_at, a.expires_at, a.estimated_cost_usd, "
        "a.threshold_usd, coalesce(json_array_length(a.item_ids), 0) AS items, s.simulated, s.budget_usd, "
        "s.cost_usd AS session_cost_usd FROM approvals a LEFT JOIN sessions s USING (session_id) "
        "WHERE a.status = 'pending' AND (? IS NULL OR a.session_id = ?) "
        "ORDER BY a.expires_at NULLS LAST, a.requested_at", [session_id, session_id])
    frame["seconds_left"] = [seconds_left(e, now=now) for e in frame["expires_at"]]
    frame["threshold_warning"] = frame["kind"] == "threshold_approval_request"
    return frame


def approval_items(store: Store, batch_id: str) -> pd.DataFrame:
    """The items of one request with their current prompt (items.final_prompt) for the editor."""
    with store.read() as con:
        row = con.execute("SELECT item_ids FROM approvals WHERE batch_id = ?", [batch_id]).fetchone()
        item_ids = parse_json(row[0]) if row else None
        if not item_ids:
            return pd.DataFrame(columns=["item_id", "asset_id", "asset_type", "tier", "winner_model",
                                         "final_prompt", "cost_usd", "status"])
        frame = con.execute(
            "SELECT item_id, asset_id, asset_type, tier, winner_model, final_prompt, cost_usd, status "
            "FROM items WHERE list_contains(?::VARCHAR[], item_id) ORDER BY asset_id", [item_ids]).df()
    return frame


def decision_history(store: Store, *, batch_id: str | None = None, limit: int = 200) -> pd.DataFrame:
    """Decisions newest first: who, when, what, comment, and whether and how the engine applied them."""
    frame = store.query_df(
        "SELECT d.decision_id, d.batch_id, a.session_id, d.action, d.item_ids, d.modifications, d.comment, "
        "d.decided_by, d.created_at, d.applied_at, d.result, "
        "CASE WHEN d.applied_at IS NULL THEN 'waiting for engine' ELSE 'applied' END AS state "
        "FROM decisions d LEFT JOIN approvals a USING (batch_id) WHERE (? IS NULL OR d.batch_id = ?) "
        "ORDER BY d.decision_id DESC LIMIT ?", [batch_id, batch_id, limit])
    frame["items"] = [len(parse_json(v) or []) for v in frame["item_ids"]]
    frame["edits"] = [len(parse_json(v) or {}) for v in frame["modifications"]]
    return frame
