"""Read models of the Competition page: each item's proposals and the models' standing."""
from __future__ import annotations

import pandas as pd

from engine.read.image_scores import image_score_text, image_scores
from engine.store.database import Store

__all__ = ["competed_items", "competition_for_item", "dropped_competitors", "model_leaderboard", "winner_scores"]


def competed_items(store: Store, session_id: str, *, limit: int = 500) -> pd.DataFrame:
    """Items of a session that had a competition, newest first, with their winner."""
    return store.query_df(
        "SELECT p.item_id, any_value(i.asset_id) AS asset_id, count(*) AS proposals, "
        "max(CASE WHEN p.is_winner THEN p.model END) AS winner, max(i.started_at) AS started_at "
        "FROM proposals p LEFT JOIN items i ON i.item_id = p.item_id WHERE p.session_id = ? "
        "GROUP BY p.item_id ORDER BY started_at DESC NULLS LAST, p.item_id LIMIT ?", [session_id, limit])


def competition_for_item(store: Store, item_id: str) -> pd.DataFrame:
    """Every model's proposal for one item: prompt, confidence, score, cost, latency, winner, reasoning."""
    return store.query_df(
        "SELECT model, prompt, confidence, score, coverage, cost_usd, latency_ms, is_winner AS winner, "
        "coalesce(reasoning, rationale) AS reasoning, rationale FROM proposals WHERE item_id = ? "
        "ORDER BY is_winner DESC, score DESC NULLS LAST, model", [item_id])


def dropped_competitors(store: Store, session_id: str, item_id: str) -> pd.DataFrame:
    """Competitors thrown out of one item's competition (e.g. unusable JSON): model, reason and what they cost.

    They leave no proposal row, yet their calls were paid; without this the page just shows one model fewer.
    The item's start (found first) bounds the events' ts, so DuckDB skips the rest of a large log by its
    zone maps.
    """
    with store.read() as con:
        started = con.execute("SELECT started_at FROM items WHERE item_id = ?", [item_id]).fetchone()
        return con.execute(
            "SELECT json_extract_string(e.payload, '$.model') AS model, json_extract_string(e.payload, '$.reason') AS reason, "
            "(SELECT sum(c.cost_usd) FROM api_calls c WHERE c.item_id = e.item_id "
            " AND c.model = json_extract_string(e.payload, '$.model') AND c.purpose = 'prompt') AS cost_usd "
            "FROM events e WHERE e.ts >= coalesce(?::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ) AND e.session_id = ? "
            "AND e.item_id = ? AND e.type = 'competitor_dropped' ORDER BY e.seq",
            [started[0] if started else None, session_id, item_id]).df()


def model_leaderboard(store: Store, *, session_id: str | None = None) -> pd.DataFrame:
    """Per model across sessions (or one): entries, wins, win rate, mean confidence, cost and latency."""
    return store.query_df(
        "SELECT model, count(*) AS entries, count(*) FILTER (WHERE is_winner) AS wins, "
        "count(*) FILTER (WHERE is_winner) / count(*) AS win_rate, avg(confidence) AS mean_confidence, "
        "avg(score) AS mean_score, sum(cost_usd) AS cost_usd, avg(cost_usd) AS mean_cost_usd, "
        "avg(latency_ms) AS mean_latency_ms FROM proposals WHERE (? IS NULL OR session_id = ?) "
        "GROUP BY model ORDER BY wins DESC, win_rate DESC, model", [session_id, session_id])


def winner_scores(store: Store, item_id: str) -> dict | None:
    """The winning prompt's text score (what the competition ranked it by) beside the score of the image drawn
    from it (engine/read/image_scores.py): model, text_score, confidence, coverage, image (the image's score
    dict, None when not scored yet), image_score (0..1 or None) and image_text (its one line). None when no
    prompt has won yet."""
    with store.read() as con:
        row = con.execute("SELECT model, score, confidence, coverage FROM proposals WHERE item_id = ? AND is_winner "
                          "LIMIT 1", [item_id]).fetchone()
        if row is None:
            return None
        image = image_scores(con, [item_id]).get(item_id)
    model, text_score, confidence, coverage = row
    return {"model": model, "text_score": text_score, "confidence": confidence, "coverage": coverage, "image": image,
            "image_score": image["image_score"] if image else None, "image_text": image_score_text(image)}
