"""Read models the console shows on every page: the approval inbox, honest item counts, the review of a batch.

Each is one short read-only attach on small tables (approvals, items, proposals,
decisions, sessions), never a scan of the event log, so the sidebar can poll them
every few seconds on a database of millions of events.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import pandas as pd

from engine.read.sessions import UNLISTED_SQL, parse_json, utcnow
from engine.read.approvals import seconds_left
from engine.store.database import Store
from engine.vocabulary import ITEM_OUTCOMES  # each counted apart: a rejected item is not "done"

__all__ = [
    "ITEM_STATES", "approval_inbox", "session_outcomes", "item_states", "outcome_counts", "approval_review",
    "live_items", "ITEM_STATE_SQL", "ITEMS_WITH_BATCH", "ITEM_ORDER_SQL",
]

# What an unfinished item is doing now. ``in_flight`` holds a worker slot; an item waiting at the gate
# or for a slot after its approval does not (the old count called all of them in flight), and neither does
# one whose image is paid for and being scored and saved (``saving``: session/steps gives its slot to the
# next item then, so at slow speed Live read 2 in flight where the engine ran 1).
ITEM_STATES = ("pending", "in_flight", "awaiting_approval", "approved_queued", "saving", *ITEM_OUTCOMES)

# items.status keeps 'awaiting_approval' after the decision (the projection only changes stage), so
# the state comes from the stage and the batch's approval status, not from items.status.
_STATE_SQL = (
    "CASE WHEN i.outcome IS NOT NULL THEN i.outcome "
    "WHEN i.status = 'pending' THEN 'pending' "
    "WHEN i.stage = 'approval' AND coalesce(a.status, 'pending') = 'pending' THEN 'awaiting_approval' "
    "WHEN i.stage = 'approval' THEN 'approved_queued' "
    "WHEN i.stage = 'save' THEN 'saving' "
    "ELSE 'in_flight' END")
_ITEMS_WITH_BATCH = "items i LEFT JOIN approvals a ON a.batch_id = i.batch_id"
# Public for the other item lists (engine/read/live_rows.py); the order is the one every list here uses:
# the items being worked on first, then the most recently started, then by asset.
ITEM_STATE_SQL, ITEMS_WITH_BATCH = _STATE_SQL, _ITEMS_WITH_BATCH
ITEM_ORDER_SQL = "(i.outcome IS NULL AND i.status <> 'pending') DESC, i.started_at DESC NULLS LAST, i.asset_id"
# A side table's rows for a window of item ids, given as three parameters (lowest id, highest id, the ids): the
# constant range lets DuckDB skip the row groups outside it, which a list_contains alone cannot.
IDS_IN_WINDOW = "item_id BETWEEN ? AND ? AND list_contains(?::VARCHAR[], item_id)"


def approval_inbox(store: Store, *, now: datetime | None = None) -> dict:
    """What waits for a human: how many requests, how many items, and the soonest to expire."""
    row = store.query(
        "SELECT count(*), coalesce(sum(json_array_length(item_ids)), 0), "
        "arg_min(batch_id, coalesce(expires_at, TIMESTAMPTZ '9999-12-31')), "
        "arg_min(session_id, coalesce(expires_at, TIMESTAMPTZ '9999-12-31')), min(expires_at) "
        "FROM approvals WHERE status = 'pending'")[0]
    waiting, items, batch_id, session_id, soonest = row
    return {"waiting": int(waiting), "items": int(items or 0), "batch_id": batch_id, "session_id": session_id,
            "soonest_expires_at": soonest, "soonest_seconds_left": seconds_left(soonest, now=now)}


def outcome_counts(store: Store, session_id: str) -> dict[str, int]:
    """Items by honest state: each outcome apart, in flight only when holding a slot; plus total and finished."""
    rows = store.query(f"SELECT {_STATE_SQL} AS state, count(*) FROM {_ITEMS_WITH_BATCH} "
                       f"WHERE i.session_id = ? GROUP BY 1 UNION ALL {UNLISTED_SQL}", [session_id, session_id, session_id])
    counts = {state: 0 for state in ITEM_STATES}
    for state, n in rows:
        counts[state] += int(n)
    counts["total"] = sum(counts[s] for s in ITEM_STATES)
    counts["finished"] = sum(counts[s] for s in ITEM_OUTCOMES)
    return counts


def session_outcomes(store: Store) -> pd.DataFrame:
    """Per session, how many items ended each way (one column per outcome): History shows them apart."""
    frame = store.query_df(
        "SELECT session_id, " + ", ".join(f"count(*) FILTER (WHERE outcome = '{o}') AS {o}" for o in ITEM_OUTCOMES)
        + " FROM items GROUP BY session_id")
    return frame


def item_states(store: Store, session_id: str, *, limit: int = 500) -> pd.DataFrame:
    """Every item of a session with its honest state, the ones being worked on first."""
    return store.query_df(
        f"SELECT i.item_id, i.asset_id, i.asset_type, i.tier, {_STATE_SQL} AS state, i.stage, i.winner_model, "
        "i.cost_usd, i.reason, i.started_at, i.finished_at FROM " + _ITEMS_WITH_BATCH + " "
        "WHERE i.session_id = ? ORDER BY (i.outcome IS NULL AND i.status <> 'pending') DESC, "
        "i.started_at DESC NULLS LAST, i.asset_id LIMIT ?", [session_id, limit])


def live_items(store: Store, session_id: str, *, limit: int = 60) -> pd.DataFrame:
    """The Live page's item rows: state, stage, winner and its one-line why, cost so far, image if saved."""
    with store.read() as con:  # the window's ids first, then the winners' reasoning in their range only
        ids = [r[0] for r in con.execute(f"SELECT i.item_id FROM {_ITEMS_WITH_BATCH} WHERE i.session_id = ? "
                                         f"ORDER BY {ITEM_ORDER_SQL} LIMIT ?", [session_id, limit]).fetchall()]
        window = [min(ids), max(ids), ids] if ids else [None, None, []]
        return con.execute(
            f"WITH p AS (SELECT item_id, reasoning FROM proposals WHERE is_winner AND {IDS_IN_WINDOW}) "
            f"SELECT i.item_id, i.asset_id, i.asset_type, i.tier, {_STATE_SQL} AS state, i.stage, i.winner_model, "
            "p.reasoning AS why, i.cost_usd, i.image_path, i.reason, i.started_at "
            "FROM " + _ITEMS_WITH_BATCH + " LEFT JOIN p ON p.item_id = i.item_id "
            f"WHERE i.session_id = ? AND list_contains(?::VARCHAR[], i.item_id) ORDER BY {ITEM_ORDER_SQL}",
            [*window, session_id, ids]).df()


@lru_cache(maxsize=16)
def _image_sizes(catalog_path: str | None) -> dict[str, str]:
    from engine.templates.catalog import load_catalog  # noqa: PLC0415 (a catalog is parsed once per path)

    return {a.id: (getattr(a, "image_size", None) or "1K") for a in load_catalog(catalog_path).assets}


def _per_item_estimates(frame: pd.DataFrame, total: float, *, catalog: str | None, image_model: str | None) -> list[float]:
    """Each item's share of the batch estimate, priced by its image size the way the engine priced the batch;
    an even split when the catalog or the price is unknown."""
    even = [total / len(frame)] * len(frame) if len(frame) else []
    if not image_model:
        return even
    try:
        from engine.providers.pricing import load_snapshot  # noqa: PLC0415

        sizes, book = _image_sizes(catalog), load_snapshot()
        prices = [book.estimate_image(image_model, sizes.get(a, "1K")) or 0.0 for a in frame["asset_id"]]
    except Exception:  # noqa: BLE001 (a moved catalog or snapshot must not break the review screen)
        return even
    spent = sum(prices)
    if spent <= 0:
        return even
    return [p * total / spent for p in prices] if total > 0 else prices


def approval_review(store: Store, batch_id: str, *, now: datetime | None = None) -> dict | None:
    """One batch for the review screen: its request, its items (proposed and current prompt, estimated
    cost, state), the session's money, and the latest decision on it. None for an unknown batch."""
    with store.read() as con:
        cur = con.execute(
            "SELECT a.batch_id, a.session_id, a.kind, a.status, a.requested_at, a.expires_at, a.item_ids, "
            "a.estimated_cost_usd, a.threshold_usd, a.decided_by, a.decided_at, s.status AS session_status, "
            "s.budget_usd, s.cost_usd AS spent_usd, s.reserved_usd, s.simulated, s.params->>'catalog' AS catalog, "
            "s.params->>'image_model' AS image_model "
            "FROM approvals a LEFT JOIN sessions s USING (session_id) WHERE a.batch_id = ?", [batch_id])
        row = cur.fetchone()
        if row is None:
            return None
        info = dict(zip([d[0] for d in cur.description], row))
        item_ids = parse_json(info.pop("item_ids")) or []
        items = con.execute(
            f"SELECT i.item_id, i.asset_id, i.title, i.asset_type, i.tier, i.winner_model, "
            "coalesce(p.prompt, i.final_prompt) AS proposed_prompt, i.final_prompt, "
            f"{_STATE_SQL} AS state, i.cost_usd FROM " + _ITEMS_WITH_BATCH + " "
            "LEFT JOIN proposals p ON p.item_id = i.item_id AND p.is_winner "
            "WHERE list_contains(?::VARCHAR[], i.item_id) ORDER BY i.asset_id", [item_ids]).df()
        cur = con.execute(
            "SELECT decision_id, action, item_ids, modifications, comment, decided_by, created_at, applied_at, "
            "result FROM decisions WHERE batch_id = ? ORDER BY decision_id DESC LIMIT 1", [batch_id])
        decision = cur.fetchone()
        decision = dict(zip([d[0] for d in cur.description], decision)) if decision else None
    if decision is not None:
        decision["item_ids"] = parse_json(decision["item_ids"]) or []
        decision["modifications"] = parse_json(decision["modifications"]) or {}
    estimate = float(info.get("estimated_cost_usd") or 0.0)
    items["est_cost_usd"] = _per_item_estimates(items, estimate, catalog=info.pop("catalog"),
                                                image_model=info.pop("image_model"))
    budget = info.get("budget_usd")
    committed = float(info.get("spent_usd") or 0.0) + float(info.get("reserved_usd") or 0.0)
    info.update(items=items, decision=decision, estimated_cost_usd=estimate,
                remaining_usd=None if budget is None or pd.isna(budget) else max(float(budget) - committed, 0.0),
                committed_usd=committed, seconds_left=seconds_left(info.get("expires_at"), now=now or utcnow()),
                decided=info["status"] != "pending" or _decision_stands(decision))
    return info


def _decision_stands(decision: dict | None) -> bool:
    """A decision waiting for the engine or applied by it; a refused one leaves the batch open to decide again."""
    if decision is None:
        return False
    return decision["applied_at"] is None or not str(decision["result"] or "").startswith("refused")
