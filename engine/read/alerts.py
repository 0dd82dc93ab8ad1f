"""What the console announces as a browser notification: each approval request once, when it arrives.

The sidebar's inbox fragment asks every few seconds for the requests waiting and, when a new batch id
is among them, hands them to the browser's Notification API. The browser remembers the batch ids it
showed (localStorage), so a reload or a second tab does not announce the same batch again.
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.live.progress import format_duration
from engine.read.approvals import pending_approvals
from engine.store.database import Store

__all__ = ["approval_alerts", "APPROVALS_URL"]

APPROVALS_URL = "approvals"  # the Approvals page's url path (app.py), relative so a notification opens it here


def approval_alerts(store: Store, *, now: datetime | None = None, limit: int = 5) -> list[dict]:
    """The pending requests, soonest to expire first (at most ``limit``): each a dict of batch_id, title,
    body and url (the Approvals page on that batch)."""
    frame = pending_approvals(store, now=now)
    alerts = []
    for row in frame.itertuples():
        left = None if pd.isna(row.seconds_left) else float(row.seconds_left)
        expiry = "" if left is None else (f" · times out in {format_duration(left)}" if left > 0 else " · timed out")
        cost = None if pd.isna(row.estimated_cost_usd) else float(row.estimated_cost_usd)
        money = "" if cost is None else f" · est. ${cost:,.4f}" + (" SIMULATED" if row.simulated else "")
        what = "cost threshold reached" if row.threshold_warning else f"{int(row.items)} item(s) to review"
        alerts.append({"batch_id": row.batch_id,
                       "title": f"Approval needed: {what}",
                       "body": f"Batch {row.batch_id} of {row.session_id}{money}{expiry}",
                       "url": f"{APPROVALS_URL}?batch={row.batch_id}"})
        if len(alerts) >= limit:
            break
    return alerts
