"""Read models shared by the console and the CLI: every query a page or command shows.

Each function takes a Store and returns plain data (DataFrames, dicts), so it is
tested without Streamlit. Each is one short read-only attach: the engine's
ticker needs the file back within milliseconds. This module holds the Live
page's reads and the shared helpers; the other pages' reads live in
``engine/queries_<page>.py``.

Events filters prefer ``seq`` ranges and LIMITs: DuckDB skips whole row groups
by their min/max (zone maps) on ``seq``, whereas an index would slow every insert.
A bound is passed as a parameter found first (not a subquery), so the scan is pruned:
every read here costs the same whatever the size of the session or the log.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from engine.store.database import Store
from engine.live.progress import estimate_eta_s
from engine.vocabulary import JOB_OPEN, SESSION_ACTIVE, SESSION_TERMINAL, STAGES, sql_list
from engine.store.engine_lock import lock_holder

__all__ = [
    "run_readonly_sql", "status_summary",
    "live_sessions", "pick_session", "session_overview", "stage_counts", "UNLISTED_SQL", "items_in_flight",
    "recent_events", "stage_timeline", "controls_for_session", "engine_status",
    "parse_json", "utcnow",
]

# The strip the Live page draws; "approval" sits between model and image when the gate is on.
ENGINE_QUIET_AFTER_S = 10.0
ENGINE_ETA_FRESH_S = 30.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_json(value: Any) -> Any:
    """JSON columns come back as text; rows written by hand may hold NULL or junk."""
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def run_readonly_sql(store: Store, query: str, *, allowed_dir: Path | None = None) -> pd.DataFrame:
    """Run a user's query that can change nothing and read no file outside ``allowed_dir`` (engine/read/sql.py).

    Raises ReadOnlyViolation for a statement that is not a SELECT or EXPLAIN.
    """
    from engine.read.sql import run_sandboxed_query  # noqa: PLC0415

    store.migrate()  # the engine's own schema (as every command does), never the query's doing
    return run_sandboxed_query(store, query, allowed_dir=allowed_dir)


def status_summary(store: Store, *, limit: int = 10) -> str:
    with store.read() as con:
        sessions = con.execute(
            "SELECT session_id, status, provider, items_done || '/' || items_total AS progress, "
            "round(cost_usd, 4) AS cost_usd, pause_reason, created_at FROM sessions "
            "ORDER BY created_at DESC LIMIT ?", [limit]).df()
        approvals = con.execute(
            "SELECT batch_id, session_id, kind, json_array_length(item_ids) AS items, "
            "round(estimated_cost_usd, 4) AS est_usd, expires_at FROM approvals WHERE status = 'pending'").df()
        jobs = con.execute("SELECT job_id, status, session_id, requested_by, created_at FROM jobs "
                           f"WHERE status IN {sql_list((*JOB_OPEN, 'interrupted'))} ORDER BY job_id").df()
    parts = ["Sessions:", sessions.to_string(index=False) if len(sessions) else "  (none yet: try `assetgen run --test`)"]
    interrupted = sessions.loc[sessions["status"] == "interrupted", "session_id"].tolist() if len(sessions) else []
    if interrupted:
        parts += [f"  {len(interrupted)} interrupted: continue with `assetgen run --resume {interrupted[0]}` "
                  "(a daemon takes its own stopped jobs again when it starts)"]
    parts += ["", "Pending approvals:", approvals.to_string(index=False) if len(approvals) else "  (none)"]
    parts += ["", "Jobs queued, running or interrupted:", jobs.to_string(index=False) if len(jobs) else "  (none)"]
    return "\n".join(parts)


# -- session picker -----------------------------------------------------------------------------
def live_sessions(store: Store, *, limit: int = 50) -> pd.DataFrame:
    """Sessions for the picker: active ones first, then the most recent."""
    return store.query_df(
        "SELECT session_id, status, provider, speed, simulated, items_done, items_total, cost_usd, budget_usd, "
        "created_at, updated_at FROM sessions "
        f"ORDER BY (status IN {sql_list(SESSION_ACTIVE)}) DESC, "
        "coalesce(updated_at, created_at) DESC NULLS LAST LIMIT ?", [limit])


def pick_session(sessions: pd.DataFrame) -> str | None:
    """The session the Live page opens on: a running one, else an active one, else the latest."""
    if sessions.empty:
        return None
    for wanted in (("running",), SESSION_ACTIVE):
        active = sessions[sessions["status"].isin(wanted)]
        if not active.empty:
            return str(active.iloc[0]["session_id"])
    return str(sessions.iloc[0]["session_id"])


# -- overview -----------------------------------------------------------------------------------
def session_overview(store: Store, session_id: str, *, now: datetime | None = None) -> dict | None:
    """One session's header: status, progress, ETA, cost against budget and the forecast to completion."""
    from engine.read.costs import cost_forecast  # noqa: PLC0415 (the cost module imports helpers from here)

    now = now or utcnow()
    with store.read() as con:
        cur = con.execute("SELECT * FROM sessions WHERE session_id = ?", [session_id])
        row = cur.fetchone()
        if row is None:
            return None
        info = dict(zip([d[0] for d in cur.description], row))
        # Only an active session's ETA reads its last progress_update, and that is among the newest events.
        progress = _latest_event(con, session_id, "progress_update") if info.get("status") in SESSION_ACTIVE else None
        in_flight = con.execute(
            "SELECT count(*) FROM items WHERE session_id = ? AND status IN ('in_progress', 'awaiting_approval')",
            [session_id]).fetchone()[0]
    started = info.get("started_at") or info.get("created_at")
    ended = info.get("finished_at") if info.get("status") in SESSION_TERMINAL else None
    elapsed = ((ended or now) - started).total_seconds() if started else 0.0
    done, total = int(info.get("items_done") or 0), int(info.get("items_total") or 0)
    eta = None
    if info.get("status") in SESSION_ACTIVE:
        eta = estimate_eta_s(done, total, elapsed)
        payload = parse_json(progress[1]) if progress else None
        age = (now - progress[0]).total_seconds() if progress else None
        # the engine knows its concurrency, so its fresh estimate beats ours; a stale one does not
        if payload and payload.get("eta_s") is not None and age <= ENGINE_ETA_FRESH_S:
            eta = max(0.0, float(payload["eta_s"]) - age)
    info.update(
        params=parse_json(info.get("params")) or {},
        elapsed_s=elapsed, eta_s=eta, in_flight=int(in_flight),
        fraction_done=(done / total) if total else 0.0,
        forecast=cost_forecast(spent_usd=float(info.get("cost_usd") or 0.0), done=done, total=total,
                               budget_usd=info.get("budget_usd"), reserved_usd=float(info.get("reserved_usd") or 0.0)),
    )
    return info


def _latest_event(con, session_id: str, event_type: str, *, window: int = 20_000) -> tuple | None:
    """(ts, payload) of a session's newest event of a type: the newest ``window`` seqs first, then all."""
    last = con.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
    for after in (last - window, -1):
        row = con.execute("SELECT ts, payload FROM events WHERE seq > ? AND session_id = ? AND type = ? "
                          "ORDER BY seq DESC LIMIT 1", [after, session_id, event_type]).fetchone()
        if row is not None or after < 0:
            return row
    return None


# A session's items not listed yet (the engine lists them a few pages ahead of its feeder: session/run.py's
# _announce) are pending all the same: ('pending', how many), given the session id twice.
UNLISTED_SQL = ("SELECT 'pending', greatest(coalesce(max(items_total), 0) - (SELECT count(*) FROM items WHERE session_id = ?), 0) "
                "FROM sessions WHERE session_id = ?")


def stage_counts(store: Store, session_id: str) -> dict[str, int]:
    """Items at each pipeline stage now, plus ``done``/``pending`` and each outcome."""
    rows = store.query(
        "SELECT CASE WHEN status = 'pending' THEN 'pending' WHEN stage = 'done' OR outcome IS NOT NULL "
        "THEN 'done' ELSE coalesce(stage, 'discovery') END AS bucket, count(*) FROM items "
        "WHERE session_id = ? GROUP BY 1 "
        "UNION ALL SELECT 'outcome:' || outcome, count(*) FROM items "
        f"WHERE session_id = ? AND outcome IS NOT NULL GROUP BY outcome UNION ALL {UNLISTED_SQL}",
        [session_id, session_id, session_id, session_id])
    counts = {stage: 0 for stage in (*STAGES, "done", "pending")}
    for bucket, n in rows:
        counts[bucket] = counts.get(bucket, 0) + int(n)
    return counts


def items_in_flight(store: Store, session_id: str, *, limit: int = 200) -> pd.DataFrame:
    return store.query_df(
        "SELECT item_id, asset_id, asset_type, tier, status, stage, winner_model, cost_usd, started_at, updated_at "
        "FROM items WHERE session_id = ? AND status IN ('in_progress', 'awaiting_approval') "
        "ORDER BY started_at NULLS LAST LIMIT ?", [session_id, limit])


def recent_events(store: Store, *, session_id: str | None = None, limit: int = 100,
                  window: int = 50_000) -> pd.DataFrame:
    """Newest events first. Only the last ``window`` seqs are looked at, so the read stays short on a big log."""
    with store.read() as con:
        last = con.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        return con.execute(
            "SELECT seq, ts, session_id, item_id, type, payload FROM events "
            "WHERE seq > ? AND (? IS NULL OR session_id = ?) ORDER BY seq DESC LIMIT ?",
            [last - window, session_id, session_id, limit]).df()


def stage_timeline(store: Store, session_id: str, *, max_items: int = 60,
                   now: datetime | None = None) -> pd.DataFrame:
    """Per-item stage intervals (item, stage, start, end) from pipeline_stage_update events: the gantt.

    A stage ends where the item's next stage starts, or when the item finished,
    or now if it is still there. Only the ``max_items`` most recently started items.
    """
    now = now or utcnow()
    frame = pd.DataFrame(columns=["item_id", "asset_id", "stage", "start", "end"])
    with store.read() as con:
        recent = con.execute(  # noqa: F841 (read by DuckDB's replacement scan below)
            "SELECT item_id, asset_id, finished_at, started_at FROM items WHERE session_id = ? "
            "ORDER BY started_at DESC NULLS LAST LIMIT ?", [session_id, max_items]).df()
        since = recent["started_at"].min() if not recent.empty else None
        if since is not None and not pd.isna(since):
            # Their stage events all come after the earliest start: a ts bound prunes the rest of the log.
            frame = con.execute(
                "WITH stages AS (SELECT e.item_id, e.seq, e.ts AS start, e.payload->>'stage' AS stage "
                "  FROM events e WHERE e.ts >= ? AND e.session_id = ? AND e.type = 'pipeline_stage_update' "
                "  AND list_contains(?::VARCHAR[], e.item_id)) "
                "SELECT s.item_id, r.asset_id, s.stage, s.start, "
                "  coalesce(lead(s.start) OVER (PARTITION BY s.item_id ORDER BY s.seq), r.finished_at) AS \"end\" "
                "FROM stages s JOIN recent r USING (item_id) ORDER BY s.item_id, s.seq",
                [since.to_pydatetime(), session_id, list(recent["item_id"])]).df()
    if not frame.empty:
        frame["end"] = frame["end"].fillna(pd.Timestamp(now)).astype(frame["start"].dtype)
        frame["seconds"] = (frame["end"] - frame["start"]).dt.total_seconds()
    return frame


def controls_for_session(store: Store, session_id: str | None, *, limit: int = 20) -> pd.DataFrame:
    """Recent control rows for a session (and the all-sessions ones), with whether the engine applied them."""
    return store.query_df(
        "SELECT control_id, command, arg, item_id, requested_by, source, created_at, applied_at, result, "
        "CASE WHEN applied_at IS NULL THEN 'waiting for engine' ELSE 'applied' END AS state "
        "FROM controls WHERE session_id = ? OR session_id IS NULL ORDER BY control_id DESC LIMIT ?",
        [session_id, limit])


# -- is an engine there? ------------------------------------------------------------------------
def engine_status(store: Store, lock_path: Path, *, now: datetime | None = None,
                  quiet_after_s: float = ENGINE_QUIET_AFTER_S) -> dict:
    """Is an engine running? Yes if the engine lock is held now (engine/engine_lock.py), or a session moved lately."""
    now = now or utcnow()
    holder = lock_holder(lock_path)
    last_update = store.query("SELECT max(updated_at) FROM sessions")[0][0]
    recent = last_update is not None and (now - last_update).total_seconds() <= quiet_after_s
    return {"running": holder is not None or recent, "pid": holder.pid if holder else None,
            "command": holder.command if holder else None,
            "last_session_update": last_update, "lock_path": str(lock_path)}
