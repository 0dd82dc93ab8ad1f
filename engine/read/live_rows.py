"""The Live page's item rows: one window of a session's items, each with what explains it.

A row says where the item is (state, stage), who won its prompt competition and why (the decision's
reasoning), what it has cost so far (its settled calls while it runs, its final cost once it ends), how
its image scored (engine/read/image_scores.py), whether a skip of it waits for the engine, and whether
skipping it still applies. Rows come a window at a time (``offset``/``limit``, at most
``MAX_ROWS_PER_PAGE``): the side tables are read only for the window's item ids, so a 10,000-item
session answers as fast as a ten-item one (issue 14: first content in under 2 s).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from engine.read.console import IDS_IN_WINDOW, ITEM_ORDER_SQL, ITEM_STATE_SQL, ITEM_STATES, ITEMS_WITH_BATCH
from engine.read.image_scores import image_score_text, image_scores
from engine.store.database import Store
from engine.vocabulary import ITEM_OUTCOMES, SESSION_RUNNING

__all__ = ["SKIPPABLE_STATES", "ROWS_PER_PAGE", "MAX_ROWS_PER_PAGE", "LiveRows", "live_rows", "can_skip"]

# An item the engine still holds can be skipped: queued (pending), in flight, at the gate, or approved and
# waiting for a slot. One that ended (saved, rejected, …) cannot.
SKIPPABLE_STATES = tuple(s for s in ITEM_STATES if s not in ITEM_OUTCOMES)
ROWS_PER_PAGE = 20
MAX_ROWS_PER_PAGE = 100

_COLUMNS = ["item_id", "asset_id", "asset_type", "tier", "state", "stage", "winner_model", "why", "reason",
            "cost_usd", "cost_estimated", "image_path", "quality", "attempts", "skip_pending", "started_at"]


@dataclass(frozen=True)
class LiveRows:
    """One window of item rows and where it sits among the ``total`` rows that match."""

    rows: pd.DataFrame
    total: int
    offset: int
    limit: int
    session_status: str | None  # read with the rows, so whether a skip applies is as fresh as they are

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def page(self) -> int:
        return self.offset // self.limit


def can_skip(state: str | None, session_status: str | None, *, skip_pending: bool = False) -> bool:
    """Whether a row's own skip applies: the item is still open, its session is running in an engine
    (running, paused or at the gate), and no skip of it is already waiting for the engine."""
    return state in SKIPPABLE_STATES and session_status in SESSION_RUNNING and not skip_pending


def live_rows(store: Store, session_id: str, *, offset: int = 0, limit: int = ROWS_PER_PAGE,
              states: Sequence[str] | None = None) -> LiveRows:
    """A window of a session's item rows, the ones being worked on first; ``states`` keeps only those states.

    Columns: item_id, asset_id, asset_type, tier, state, stage, winner_model, why (the winning proposal's
    reasoning, whole), reason (why an item ended other than saved), cost_usd (so far), cost_estimated,
    image_path, quality (items.quality), attempts, skip_pending, started_at, score (a dict from
    image_scores, or None), score_text (its one line) and can_skip (its own skip applies now).
    """
    if limit < 1 or limit > MAX_ROWS_PER_PAGE:
        raise ValueError(f"limit must be 1..{MAX_ROWS_PER_PAGE} rows, got {limit}; page through the rest with offset")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    unknown = sorted(set(states or ()) - set(ITEM_STATES))
    if unknown:
        raise ValueError(f"unknown item state(s) {', '.join(unknown)}; expected some of {', '.join(ITEM_STATES)}")
    wanted = list(states) if states else None
    with store.read() as con:
        status = con.execute("SELECT status FROM sessions WHERE session_id = ?", [session_id]).fetchone()
        total = con.execute(
            f"SELECT count(*) FROM {ITEMS_WITH_BATCH} WHERE i.session_id = ? "
            f"AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], {ITEM_STATE_SQL}))",
            [session_id, wanted, wanted]).fetchone()[0]
        # The window first (a top-N over one session's items), then the side tables for its ids only. The ids'
        # range goes in as constants: DuckDB then skips every row group of api_calls and proposals outside it
        # (the engine writes one per tick, so a 50,000-item session has thousands; a list_contains alone read
        # them all: 1.9 s at 50,000 items).
        ids = [r[0] for r in con.execute(
            f"SELECT i.item_id FROM {ITEMS_WITH_BATCH} WHERE i.session_id = ? "
            f"AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], {ITEM_STATE_SQL})) "
            f"ORDER BY {ITEM_ORDER_SQL} LIMIT ? OFFSET ?", [session_id, wanted, wanted, limit, offset]).fetchall()]
        window = [min(ids), max(ids), ids] if ids else [None, None, []]
        frame = con.execute(
            f"WITH page AS (SELECT i.*, {ITEM_STATE_SQL} AS state FROM {ITEMS_WITH_BATCH} WHERE i.session_id = ? "
            f"  AND list_contains(?::VARCHAR[], i.item_id)), "
            "spent AS (SELECT item_id, sum(cost_usd) AS cost_usd, bool_or(cost_estimated) AS estimated "
            f"  FROM api_calls WHERE session_id = ? AND {IDS_IN_WINDOW} GROUP BY 1), "
            "why AS (SELECT item_id, any_value(coalesce(reasoning, rationale)) AS why FROM proposals "
            f"  WHERE session_id = ? AND is_winner AND {IDS_IN_WINDOW} GROUP BY 1), "
            "skips AS (SELECT DISTINCT i.item_id FROM controls c JOIN page i ON c.session_id = i.session_id "
            "  AND c.item_id IN (i.item_id, i.asset_id) WHERE c.command = 'skip' AND c.applied_at IS NULL) "
            "SELECT i.item_id, i.asset_id, i.asset_type, i.tier, i.state, i.stage, i.winner_model, w.why, i.reason, "
            # a finished item's cost is its own settled figure; a running one's, the calls it has paid so far
            "  CASE WHEN i.outcome IS NOT NULL THEN i.cost_usd ELSE coalesce(s.cost_usd, 0) END AS cost_usd, "
            "  coalesce(s.estimated, false) AND i.outcome IS NULL AS cost_estimated, i.image_path, i.quality, "
            "  i.attempts, k.item_id IS NOT NULL AS skip_pending, i.started_at "
            "FROM page i LEFT JOIN spent s USING (item_id) LEFT JOIN why w USING (item_id) "
            f"LEFT JOIN skips k USING (item_id) ORDER BY {ITEM_ORDER_SQL}",
            [session_id, ids, session_id, *window, session_id, *window]).df()
        scores = image_scores(con, list(frame["item_id"]))
    frame = frame[_COLUMNS] if not frame.empty else pd.DataFrame(columns=_COLUMNS)
    frame["score"] = [scores.get(i) for i in frame["item_id"]]
    frame["score_text"] = [image_score_text(s) if s else "" for s in frame["score"]]
    frame["can_skip"] = [can_skip(state, status[0] if status else None, skip_pending=bool(pending))
                         for state, pending in zip(frame["state"], frame["skip_pending"])]
    return LiveRows(rows=frame, total=int(total), offset=offset, limit=limit,
                    session_status=status[0] if status else None)
