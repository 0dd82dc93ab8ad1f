"""Read models of the Gallery, History and Events pages: what was made, run and logged."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from engine.read.gallery import DEFAULT_STATUSES, GalleryFilter, gallery_choices, gallery_page
from engine.read.sessions import parse_json
from engine.store.database import Store
from engine.vocabulary import ITEM_NOT_SAVED, sql_list

_EXPLORER_WHERE = ("seq >= ? AND seq <= ? AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], type)) "
                   "AND (? IS NULL OR session_id = ?) AND (? IS NULL OR contains(item_id, ?))")
_SEQ_MAX = 2**62

__all__ = [
    "gallery_items", "gallery_filters", "resolve_image_path", "read_provenance", "session_history",
    "session_items", "jobs_queue", "event_types", "events_explorer", "frame_to_csv", "frame_to_parquet",
]


def gallery_items(store: Store, *, session_ids: Sequence[str] = (), asset_types: Sequence[str] = (),
                  tiers: Sequence[str] = (), limit: int = 60) -> pd.DataFrame:
    """Saved items with an image, newest first, with the winning prompt, model and cost (the Gallery's
    first page; engine/read/gallery.py has the filters, pages and neighbours)."""
    filters = GalleryFilter(session_ids=session_ids, asset_types=asset_types, tiers=tiers,
                            statuses=DEFAULT_STATUSES, with_image=True)
    return gallery_page(store, filters, page_size=limit).items


def gallery_filters(store: Store) -> dict[str, list[str]]:
    """The sessions, types and tiers the gallery's filters offer."""
    choices = gallery_choices(store)
    return {"sessions": choices["sessions"], "types": choices["types"], "tiers": choices["tiers"]}


def resolve_image_path(image_path: str | None, data_dir: Path) -> Path | None:
    """Image paths may be absolute or relative to the data directory; None when the file is gone."""
    if not image_path:
        return None
    path = Path(image_path)
    for candidate in ((path,) if path.is_absolute() else (data_dir / path, path)):
        if candidate.is_file():
            return candidate
    return None


def read_provenance(path: Path | None) -> dict | None:
    """The JSON the engine wrote into the PNG's ``provenance`` text chunk; None when absent or unreadable."""
    if path is None:
        return None
    from PIL import Image  # noqa: PLC0415 (only the gallery needs Pillow)

    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}).get("provenance")
    except OSError:
        return None
    parsed = parse_json(text)
    return parsed if isinstance(parsed, dict) else ({"raw": text} if text else None)


def session_history(store: Store, *, limit: int = 200) -> pd.DataFrame:
    """Past and present sessions, newest first: items, outcomes, cost, duration."""
    return store.query_df(
        "WITH counts AS (SELECT session_id, count(*) AS items, "
        "  count(*) FILTER (WHERE status = 'saved') AS saved, "
        f"  count(*) FILTER (WHERE status IN {sql_list(ITEM_NOT_SAVED)}) AS not_saved "
        "  FROM items GROUP BY session_id) "
        "SELECT s.session_id, s.status, coalesce(s.outcome, s.status) AS outcome, s.provider, s.simulated, "
        "coalesce(c.items, s.items_total) AS items, coalesce(c.saved, 0) AS saved, "
        "coalesce(c.not_saved, 0) AS not_saved, s.cost_usd, s.budget_usd, s.speed, s.created_at, s.finished_at, "
        "date_diff('millisecond', s.started_at, coalesce(s.finished_at, s.updated_at)) / 1000.0 AS duration_s, "
        "s.message FROM sessions s LEFT JOIN counts c USING (session_id) "
        "ORDER BY s.created_at DESC NULLS LAST LIMIT ?", [limit])


def session_items(store: Store, session_id: str, *, limit: int = 2000) -> pd.DataFrame:
    return store.query_df(
        "SELECT item_id, asset_id, asset_type, tier, status, stage, outcome, reason, winner_model, "
        "template_version, cost_usd, started_at, finished_at, image_path FROM items WHERE session_id = ? "
        "ORDER BY started_at NULLS LAST, asset_id LIMIT ?", [session_id, limit])


def jobs_queue(store: Store, *, limit: int = 100) -> pd.DataFrame:
    """Jobs newest first with the headline of their spec."""
    frame = store.query_df(
        "SELECT job_id, status, requested_by, created_at, started_at, finished_at, session_id, error, spec "
        "FROM jobs ORDER BY job_id DESC LIMIT ?", [limit])
    specs = [parse_json(s) or {} for s in frame["spec"]]
    frame["provider"] = [s.get("provider") for s in specs]
    frame["test"] = [s.get("test") for s in specs]
    frame["summary"] = [json.dumps(s, sort_keys=True)[:160] for s in specs]
    return frame.drop(columns=["spec"])


def event_types(store: Store) -> list[str]:
    return [r[0] for r in store.query("SELECT DISTINCT type FROM events ORDER BY 1")]


def events_explorer(store: Store, *, types: Sequence[str] = (), session_id: str | None = None,
                    item_id: str | None = None, seq_from: int | None = None, seq_to: int | None = None,
                    limit: int = 500) -> pd.DataFrame:
    """Events newest first, filtered by type, session, item (substring) and an inclusive seq range.

    Two reads in one snapshot: the seqs of the newest ``limit`` matches, found in the narrow columns, then those
    rows with their payloads, read only between the first and the last of them. The newest 500 of a 2-million-event
    log read no payload but theirs, and a rare filter costs one pass over the narrow columns (reading seq windows
    from the newest down, each twice the last, took 2-4x longer for a filter that matches little: bench/console.py).
    """
    filters = [list(types), list(types), session_id, session_id, item_id or None, item_id or None]
    bounds = [max(seq_from or 0, 0), _SEQ_MAX if seq_to is None else seq_to]
    with store.read() as con:
        low, high = con.execute(f"SELECT min(seq), max(seq) FROM (SELECT seq FROM events WHERE {_EXPLORER_WHERE} "
                                "ORDER BY seq DESC LIMIT ?)", [*bounds, *filters, limit]).fetchone()
        if low is None:
            return _empty_events()
        return con.execute(f"SELECT seq, ts, session_id, item_id, type, payload FROM events WHERE {_EXPLORER_WHERE} "
                           "ORDER BY seq DESC", [low, high, *filters]).df()


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(columns=["seq", "ts", "session_id", "item_id", "type", "payload"])


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
