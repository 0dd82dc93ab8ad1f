"""Quality rows: scores projected from ``quality_scored`` events, operators' ratings, and the reads over them.

``scores`` rows are written by the engine's projector (engine/projection.py) in
the same transaction as the event, like every other projected table. ``ratings``
are operators' own rows (console, CLI or SQL), validated here.
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any


__all__ = ["score_rows", "add_rating", "RatingError", "RATING_TAGS", "review_queue", "scores_of_item",
           "library_entries", "quality_of_items", "image_identity", "JUDGE_KIND", "CHECK_KIND", "GATE_KIND"]

CHECK_KIND, JUDGE_KIND, GATE_KIND = "check", "judge", "gate"
RATING_TAGS = ("good", "off-brand", "wrong subject", "missing element", "illegible", "poor craft", "near-duplicate")


class RatingError(ValueError):
    """A rating that cannot be recorded; the message names the field and what is allowed."""


def score_rows(session_id: str | None, item_id: str | None, payload: dict, *, scored_at: datetime) -> list[dict]:
    """The ``scores`` rows one ``quality_scored`` payload stands for: checks, judge criteria, the gate."""
    attempt = int(payload["attempt"])
    base = {"session_id": session_id, "item_id": item_id, "asset_id": payload.get("asset_id"),
            "asset_type": payload.get("asset_type"), "attempt": attempt, "image_path": payload.get("image_path"),
            "template_version": payload.get("template_version"), "simulated": bool(payload.get("simulated")),
            "scored_at": scored_at}
    prefix = f"{item_id or payload.get('image_path')}#{attempt}"
    rows = []
    for check in payload.get("checks") or []:
        rows.append({**base, "score_id": f"{prefix}/{CHECK_KIND}/{check['name']}", "kind": CHECK_KIND,
                     "name": check["name"], "judge_model": None, "value": check.get("value"),
                     "threshold": check.get("threshold"), "op": check.get("op"), "passed": check.get("passed"),
                     "note": check.get("note"), "detail": check.get("detail") or {}, "version": check.get("version")})
    for judge in payload.get("judges") or []:
        model = judge["model"]
        for criterion, entry in (judge.get("scores") or {}).items():
            rows.append({**base, "score_id": f"{prefix}/{JUDGE_KIND}/{criterion}/{model}", "kind": JUDGE_KIND,
                         "name": criterion, "judge_model": model, "value": entry.get("score"),
                         "threshold": judge.get("threshold"), "op": ">=", "passed": None,
                         "note": entry.get("reason"), "detail": {}, "version": judge.get("version")})
        rows.append({**base, "score_id": f"{prefix}/{JUDGE_KIND}/overall/{model}", "kind": JUDGE_KIND,
                     "name": "overall", "judge_model": model, "value": judge.get("mean"),
                     "threshold": judge.get("threshold"), "op": ">=", "passed": judge.get("passed"),
                     "note": judge.get("error") or ("SIMULATED judge" if judge.get("simulated") else None),
                     "detail": {"call_id": judge.get("call_id"), "simulated": judge.get("simulated")},
                     "version": judge.get("version")})
    rows.append({**base, "score_id": f"{prefix}/{GATE_KIND}/verdict", "kind": GATE_KIND, "name": "verdict",
                 "judge_model": None, "value": float(len(payload.get("failing") or [])), "threshold": 0.0, "op": "<=",
                 "passed": payload.get("verdict") == "passed", "note": ", ".join(payload.get("failing") or []) or None,
                 "detail": {"phash": payload.get("phash"), "elapsed_ms": payload.get("elapsed_ms")},
                 "version": None})
    return rows


def add_rating(store, *, image_path: str, rating: int, rated_by: str, tag: str | None = None,
               comment: str | None = None, item_id: str | None = None, session_id: str | None = None,
               asset_id: str | None = None, attempt: int | None = None) -> int:
    """Record an operator's rating of an image; returns its rating_id."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise RatingError(f"rating must be a whole number from 1 to 5, got {rating!r}")
    if not (rated_by or "").strip():
        raise RatingError("rated_by: say who rates (an operator name), so agreement can be traced")
    if tag is not None and tag not in RATING_TAGS:
        raise RatingError(f"tag {tag!r} is not one of: {', '.join(RATING_TAGS)}")
    if not image_path:
        raise RatingError("image_path: which image is rated?")
    rows = store.execute(
        "INSERT INTO ratings (session_id, item_id, asset_id, attempt, image_path, rating, tag, comment, rated_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING rating_id",
        [session_id, item_id, asset_id, attempt, image_path, rating, tag, comment, rated_by.strip()])
    return int(rows[0][0])


def _dicts(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    out = [dict(zip(cols, row)) for row in cur.fetchall()]
    for row in out:
        if isinstance(row.get("detail"), str):
            row["detail"] = json.loads(row["detail"])
    return out


def review_queue(store, *, limit: int = 200) -> list[dict]:
    """Images whose latest attempt failed the gate and that no operator has rated since: newest first."""
    sql = """
        WITH latest AS (
            SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY attempt DESC) AS rn
            FROM scores WHERE kind = 'gate')
        SELECT l.session_id, l.item_id, l.asset_id, l.asset_type, l.attempt, l.image_path, l.note AS failing,
               l.scored_at, i.title, i.quality
        FROM latest l LEFT JOIN items i USING (item_id)
        WHERE l.rn = 1 AND NOT l.passed
          AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.image_path = l.image_path AND r.created_at >= l.scored_at)
        ORDER BY l.scored_at DESC LIMIT ?"""
    with store.read() as con:
        return _dicts(con, sql, [limit])


def scores_of_item(store, item_id: str) -> list[dict]:
    with store.read() as con:
        return _dicts(con, "SELECT * FROM scores WHERE item_id = ? ORDER BY attempt, kind, name, judge_model",
                      [item_id])


def quality_of_items(store, item_ids: list[str]) -> dict[str, dict]:
    """Per item, its latest attempt's verdict, failing checks and mean judge score (for gallery and Live rows)."""
    if not item_ids:
        return {}
    sql = """
        WITH latest AS (SELECT item_id, max(attempt) AS attempt FROM scores WHERE item_id IN (SELECT unnest(?)) GROUP BY 1)
        SELECT s.item_id, s.attempt,
               any_value(s.passed) FILTER (WHERE s.kind = 'gate') AS passed,
               any_value(s.note) FILTER (WHERE s.kind = 'gate') AS failing,
               avg(s.value) FILTER (WHERE s.kind = 'judge' AND s.name = 'overall') AS judge_mean,
               any_value(s.value) FILTER (WHERE s.kind = 'check' AND s.name = 'palette') AS palette
        FROM scores s JOIN latest USING (item_id, attempt) GROUP BY 1, 2"""
    with store.read() as con:
        return {row["item_id"]: row for row in _dicts(con, sql, [list(item_ids)])}


def image_identity(store, path: str) -> dict:
    """Session, item, asset and attempt of a scored image at ``path`` (empty when it was never scored)."""
    wanted = os.path.abspath(path)
    with store.read() as con:
        rows = _dicts(con, "SELECT session_id, item_id, asset_id, attempt, image_path FROM scores "
                           "WHERE kind = 'gate' AND image_path IN (?, ?) LIMIT 1", [path, wanted])
    return rows[0] if rows else {}


def library_entries(store) -> list[tuple[str, str | None, str, str]]:
    """(asset_id, item_id, image_path, phash) of every scored image: the near-duplicate library."""
    sql = """SELECT asset_id, item_id, image_path, detail->>'phash' FROM scores
             WHERE kind = 'gate' AND detail->>'phash' IS NOT NULL"""
    with store.read() as con:
        return [tuple(row) for row in con.execute(sql).fetchall()]
