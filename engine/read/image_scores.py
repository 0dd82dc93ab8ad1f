"""An image's score as the console shows it beside everything else about its item.

The ``scores`` table (docs/quality.md) holds one row per check, judge criterion and gate verdict per
attempt. A screen needs one line per item: the latest attempt's verdict, what failed, how many of the
checks that apply passed (the *image score*, 0..1, on the same scale as a prompt's text score), and the
judges' mean when judges ran. Always asked for a handful of item ids (a window of rows, one item), so
the read stays short however many images the library holds.
"""
from __future__ import annotations

from typing import Sequence

import duckdb

__all__ = ["image_scores", "image_score_text"]

_SQL = """
    WITH latest AS (SELECT item_id, max(attempt) AS attempt FROM scores
                    WHERE list_contains(?::VARCHAR[], item_id) GROUP BY 1)
    SELECT s.item_id, s.attempt,
           bool_or(s.passed) FILTER (WHERE s.kind = 'gate') AS passed,
           any_value(s.note) FILTER (WHERE s.kind = 'gate') AS failing,
           count(*) FILTER (WHERE s.kind = 'check' AND s.passed) AS checks_passed,
           count(*) FILTER (WHERE s.kind = 'check' AND s.passed IS NOT NULL) AS checks_applied,
           avg(s.value) FILTER (WHERE s.kind = 'judge' AND s.name = 'overall') AS judge_mean,
           bool_or(s.simulated) AS simulated
    FROM scores s JOIN latest USING (item_id, attempt) GROUP BY 1, 2"""


def image_scores(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, dict]:
    """Per scored item of ``item_ids``: attempt, passed, failing, checks_passed, checks_applied,
    image_score (checks passed / checks that apply; None when none applies), judge_mean, simulated.

    Takes an open connection, so a caller that reads other tables does it all in one short attach."""
    if not item_ids:
        return {}
    cur = con.execute(_SQL, [list(item_ids)])
    columns = [d[0] for d in cur.description]
    scores = {}
    for values in cur.fetchall():
        row = dict(zip(columns, values))
        applied = int(row["checks_applied"] or 0)
        row["image_score"] = int(row["checks_passed"] or 0) / applied if applied else None
        scores[row["item_id"]] = row
    return scores


def image_score_text(score: dict | None) -> str:
    """One line: ``passed · 7/7 checks · judges 4.2/5`` or ``review: palette, sharpness · 5/7 checks``."""
    if not score:
        return "not scored"
    verdict = "passed" if score.get("passed") else f"review: {score.get('failing') or 'judges'}"
    parts = [verdict]
    if score.get("checks_applied"):
        parts.append(f"{score['checks_passed']}/{score['checks_applied']} checks")
    if score.get("judge_mean") is not None:
        parts.append(f"judges {score['judge_mean']:.1f}/5")
    if (score.get("attempt") or 1) > 1:
        parts.append(f"attempt {score['attempt']}")
    return " · ".join(parts)
