"""Read models shared by the console and the CLI: every query a page or command shows.

Each function takes a Store and returns plain data (DataFrames, dicts), so it is
tested without Streamlit.
"""
from __future__ import annotations

import pandas as pd

from .store import Store

__all__ = ["run_readonly_sql", "status_summary"]


def run_readonly_sql(store: Store, query: str) -> pd.DataFrame:
    """Run a user's query on a read-only attach: it cannot change anything, and releases the file at once."""
    with store.read() as con:
        return con.execute(query).df()


def status_summary(store: Store, *, limit: int = 10) -> str:
    with store.read() as con:
        sessions = con.execute(
            "SELECT session_id, status, provider, items_done || '/' || items_total AS progress, "
            "round(cost_usd, 4) AS cost_usd, pause_reason, created_at FROM sessions "
            "ORDER BY created_at DESC LIMIT ?", [limit]).df()
        approvals = con.execute(
            "SELECT batch_id, session_id, kind, json_array_length(item_ids) AS items, "
            "round(estimated_cost_usd, 4) AS est_usd, expires_at FROM approvals WHERE status = 'pending'").df()
        jobs = con.execute("SELECT job_id, status, requested_by, created_at FROM jobs "
                           "WHERE status IN ('queued', 'running') ORDER BY job_id").df()
    parts = ["Sessions:", sessions.to_string(index=False) if len(sessions) else "  (none yet: try `assetgen run --test`)"]
    parts += ["", "Pending approvals:", approvals.to_string(index=False) if len(approvals) else "  (none)"]
    parts += ["", "Queued jobs:", jobs.to_string(index=False) if len(jobs) else "  (none)"]
    return "\n".join(parts)
