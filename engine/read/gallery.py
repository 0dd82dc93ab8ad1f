"""Read model of the Gallery page: image cards, their filters, the lightbox's neighbours and the compare view.

Every read is bounded, so a studio of 10,000 items answers as fast as a small one (issue 14):

- filter choices are DISTINCT lists over the items (and the image calls) with a LIMIT;
- a page of cards is LIMIT/OFFSET over one ordering (newest first, the item id breaking ties), with
  the total counted beside it;
- the lightbox's previous/next come from that same ordering: a window over the filtered items finds
  the opened item's neighbours, so "next" crosses page boundaries and the filters hold in the lightbox.

An image's prompt model is the competition's winner (``items.winner_model``); its image model is the
model of the item's image call, or the session's configured one when no call was recorded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Sequence

import pandas as pd

from engine.quality.store import quality_of_items
from engine.store.database import Store
from engine.vocabulary import ITEM_NOT_SAVED, ITEM_OPEN, ITEM_OUTCOMES, sql_list

__all__ = [
    "GalleryFilter", "GalleryPage", "Neighbours", "gallery_choices", "gallery_page", "gallery_item",
    "gallery_neighbours", "provenance_diff", "UNSCORED", "DEFAULT_STATUSES", "CHOICES_LIMIT", "PAGE_SIZE_MAX", "PAGE_SIZE_DEFAULT",
]

UNSCORED = "unscored"  # the quality filter's word for an image no scorer has judged (items.quality is null)
DEFAULT_STATUSES = tuple(o for o in ITEM_OUTCOMES if o not in ITEM_NOT_SAVED)  # what the gallery opens on
CHOICES_LIMIT = 200  # values offered per filter: a studio with more sessions than this types to narrow
PAGE_SIZE_MAX = 400
# Cards on the Gallery's first page: each costs the browser ~20 ms to draw (bench/scale.py at 50,000 items: 40
# cards, first content 2.29 s; 20 cards, 1.86 s; target 2 s). More are a page or a "Show" away.
PAGE_SIZE_DEFAULT = 20
_STATUS_ORDER = (*ITEM_OUTCOMES, *ITEM_OPEN)
_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


def _in_gallery(alias: str = "") -> str:
    """The gallery's items: those with an image, and those that ended without one (failed, skipped, …)."""
    return f"({alias}image_path IS NOT NULL OR {alias}status IN {sql_list(ITEM_OUTCOMES)})"


# The model of each item's image call (the latest, should a resume have drawn it again).
_DRAWN = ("SELECT item_id, arg_max(model, started_at) AS model FROM api_calls "
          "WHERE purpose = 'image' AND item_id IS NOT NULL {only} GROUP BY item_id")
_IMAGE_MODEL = "coalesce(d.model, s.params->>'image_model')"
_ORDER = "sort_at DESC, item_id DESC"


def _base(filters: "GalleryFilter") -> str:
    """A CTE ``g``: one narrow row per item that has an image or has ended, with what the filters test and the
    one ordering's key. Only the image-model filter needs the image calls and the sessions' params, so only
    it pays for them (they tripled the cost of every other page read on 10,000 items)."""
    if filters.image_models:
        source = f"items i LEFT JOIN sessions s USING (session_id) LEFT JOIN ({_DRAWN.format(only='')}) d USING (item_id)"
        image_model = _IMAGE_MODEL
    else:
        source, image_model = "items i", "NULL::VARCHAR"
    return (f"WITH g AS (SELECT i.item_id, i.session_id, i.asset_type, i.tier, i.status, "
            f"coalesce(i.quality, '{UNSCORED}') AS quality, i.winner_model, {image_model} AS image_model, "
            f"i.template_version, i.image_path, coalesce(i.finished_at, i.updated_at, i.started_at, {_EPOCH}) AS sort_at "
            f"FROM {source} WHERE {_in_gallery('i.')})")


def _cards_sql(filters: "GalleryFilter", picking: str) -> str:
    """The cards of the items ``picking`` (a condition, ORDER BY and LIMIT over g) selects.

    The wide columns (prompt, title, reason) and the image model are read for the picked rows only: sorting
    10,000 full rows to keep 40 costs several times more than sorting the narrow ones and joining 40 back."""
    drawn = _DRAWN.format(only="AND item_id IN (SELECT item_id FROM picked)")
    return (f"{_base(filters)}, picked AS (SELECT item_id, sort_at FROM g WHERE {picking}) "
            "SELECT i.item_id, i.session_id, i.asset_id, i.title, i.asset_type, i.tier, i.status, i.reason, "
            f"coalesce(i.quality, '{UNSCORED}') AS quality, i.attempts, i.winner_model, {_IMAGE_MODEL} AS image_model, "
            "i.template_version, i.final_prompt, i.image_path, i.cost_usd, i.started_at, i.finished_at, "
            "coalesce(s.simulated, false) AS simulated, s.provider "
            "FROM picked p JOIN items i USING (item_id) LEFT JOIN sessions s ON s.session_id = i.session_id "
            f"LEFT JOIN ({drawn}) d ON d.item_id = i.item_id ORDER BY p.sort_at DESC, p.item_id DESC")


@dataclass(frozen=True, kw_only=True)
class GalleryFilter:
    """What the operator narrowed the gallery to; an empty field does not filter."""

    session_ids: Sequence[str] = ()
    asset_types: Sequence[str] = ()
    tiers: Sequence[str] = ()
    statuses: Sequence[str] = ()
    prompt_models: Sequence[str] = ()
    image_models: Sequence[str] = ()
    template_versions: Sequence[int] = ()
    qualities: Sequence[str] = ()
    with_image: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "with_image":
                object.__setattr__(self, f.name, tuple(value or ()))
        unknown = [s for s in self.statuses if s not in _STATUS_ORDER]
        if unknown:
            raise ValueError(f"unknown item status {', '.join(map(repr, unknown))}: use one of "
                             f"{', '.join(_STATUS_ORDER)}")
        try:
            object.__setattr__(self, "template_versions", tuple(int(v) for v in self.template_versions))
        except (TypeError, ValueError):
            raise ValueError(f"template versions are whole numbers (1, 2, …), got {self.template_versions!r}") from None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition over the ``g`` rows and its parameters."""
        clauses, params = ["TRUE"], []
        for name, column in _FILTER_COLUMNS.items():
            values = getattr(self, name)
            if values:
                kind = "INTEGER" if name == "template_versions" else "VARCHAR"
                clauses.append(f"list_contains(?::{kind}[], {column})")
                params.append(list(values))
        if self.with_image:
            clauses.append("image_path IS NOT NULL")
        return " AND ".join(clauses), params


_FILTER_COLUMNS = {
    "session_ids": "session_id", "asset_types": "asset_type", "tiers": "tier", "statuses": "status",
    "prompt_models": "winner_model", "image_models": "image_model", "template_versions": "template_version",
    "qualities": "quality",
}


@dataclass(frozen=True)
class GalleryPage:
    """One page of cards (with each card's quality summary) and where it sits in the filtered whole."""

    items: pd.DataFrame
    total: int
    page: int
    pages: int
    page_size: int

    @property
    def first(self) -> int:
        """1-based position of the page's first card (0 when the page is empty)."""
        return (self.page - 1) * self.page_size + 1 if self.total else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.total else 0


@dataclass(frozen=True)
class Neighbours:
    """An item's place in the filtered ordering: None everywhere when the filters leave it out."""

    previous: str | None
    next: str | None
    position: int | None
    total: int


def gallery_choices(store: Store, *, limit: int = CHOICES_LIMIT) -> dict[str, list]:
    """The values each filter offers, each a DISTINCT list of at most ``limit``: sessions newest first,
    statuses in the vocabulary's order, the rest sorted."""
    universe = _in_gallery()

    def distinct(column: str, table: str = "items", where: str = universe) -> str:
        return (f"(SELECT list(v ORDER BY v) FROM (SELECT DISTINCT {column} AS v FROM {table} "
                f"WHERE {where} AND {column} IS NOT NULL ORDER BY v LIMIT {int(limit)}))")

    quality, drawn, configured = f"coalesce(quality, '{UNSCORED}')", "purpose = 'image'", "params->>'image_model'"
    sql = (
        "SELECT (SELECT list(session_id ORDER BY newest DESC, session_id DESC) FROM ("
        f"  SELECT session_id, max(coalesce(finished_at, updated_at, started_at, {_EPOCH})) AS newest FROM items "
        f"  WHERE {universe} GROUP BY session_id ORDER BY newest DESC, session_id DESC LIMIT {int(limit)})), "
        f"{distinct('asset_type')}, {distinct('tier')}, {distinct('status')}, {distinct('winner_model')}, "
        f"{distinct('template_version')}, {distinct(quality)}, {distinct('model', 'api_calls', drawn)}, "
        f"{distinct(configured, 'sessions', 'TRUE')}")
    row = store.query(sql)[0]
    sessions, types, tiers, statuses, prompt_models, versions, qualities, drawn, configured = (v or [] for v in row)
    return {
        "sessions": sessions, "types": types, "tiers": tiers,
        "statuses": sorted(statuses, key=lambda s: _STATUS_ORDER.index(s) if s in _STATUS_ORDER else len(_STATUS_ORDER)),
        "prompt_models": prompt_models, "image_models": sorted(set(drawn) | set(configured))[:limit],
        "template_versions": [int(v) for v in versions], "qualities": qualities,
    }


def gallery_page(store: Store, filters: GalleryFilter | None = None, *, page: int = 1,
                 page_size: int = PAGE_SIZE_DEFAULT) -> GalleryPage:
    """Cards ``page`` (1-based, clamped to the last page) of the filtered gallery, newest first."""
    if not 1 <= int(page_size) <= PAGE_SIZE_MAX:
        raise ValueError(f"page_size must be between 1 and {PAGE_SIZE_MAX}, got {page_size}")
    filters = filters or GalleryFilter()
    where, params = filters.where()
    with store.read() as con:
        total = int(con.execute(f"{_base(filters)} SELECT count(*) FROM g WHERE {where}", params).fetchone()[0])
        pages = max(1, math.ceil(total / page_size))
        page = min(max(1, int(page)), pages)
        frame = con.execute(_cards_sql(filters, f"{where} ORDER BY {_ORDER} LIMIT ? OFFSET ?"),
                            [*params, int(page_size), (page - 1) * int(page_size)]).df()
    return GalleryPage(_with_quality(store, frame), total, page, pages, int(page_size))


def gallery_item(store: Store, item_id: str) -> dict | None:
    """One card by id (whatever the filters), with its quality summary; None when it is not in the gallery."""
    frame = store.query_df(_cards_sql(GalleryFilter(), "item_id = ?"), [item_id])
    if frame.empty:
        return None
    return _with_quality(store, frame).iloc[0].to_dict()


def gallery_neighbours(store: Store, filters: GalleryFilter | None, item_id: str) -> Neighbours:
    """The items before and after ``item_id`` in the filtered gallery's order, its 1-based position and the total."""
    filters = filters or GalleryFilter()
    where, params = filters.where()
    rows = store.query(
        f"{_base(filters)}, ordered AS (SELECT item_id, lag(item_id) OVER w AS previous, lead(item_id) OVER w AS next, "
        f"  row_number() OVER w AS position, count(*) OVER () AS total FROM g WHERE {where} "
        f"  WINDOW w AS (ORDER BY {_ORDER})) "
        "SELECT previous, next, position, total FROM ordered WHERE item_id = ?", [*params, item_id])
    if rows:
        previous, following, position, total = rows[0]
        return Neighbours(previous, following, int(position), int(total))
    total = store.query(f"{_base(filters)} SELECT count(*) FROM g WHERE {where}", params)[0][0]
    return Neighbours(None, None, None, int(total))


def _with_quality(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    """Each card's latest quality verdict from the ``scores`` table: passed, failing checks, judges' mean."""
    quality = quality_of_items(store, list(frame["item_id"])) if not frame.empty else {}
    frame["quality_passed"] = [quality.get(i, {}).get("passed") for i in frame["item_id"]]
    frame["quality_failing"] = [quality.get(i, {}).get("failing") for i in frame["item_id"]]
    frame["quality_attempt"] = [quality.get(i, {}).get("attempt") for i in frame["item_id"]]
    frame["judge_mean"] = [quality.get(i, {}).get("judge_mean") for i in frame["item_id"]]
    frame["scored"] = [i in quality for i in frame["item_id"]]
    return frame


# -- compare ------------------------------------------------------------------------------------------
def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested provenance as dotted fields: ``costs.total_usd``, ``candidates[0].model``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for n, inner in enumerate(value):
            out.update(_flatten(inner, f"{prefix}[{n}]"))
        return out
    return {prefix: value}


def provenance_diff(a: dict | None, b: dict | None) -> pd.DataFrame:
    """Field by field, two images' provenance side by side: columns field, a, b, differs.

    Nested fields are flattened (``costs.total_usd``); a field one image lacks shows as None there. Rows keep
    the first image's field order, then the fields only the second has.
    """
    left, right = _flatten(a or {}), _flatten(b or {})
    names = list(left) + [k for k in right if k not in left]
    rows = [{"field": name, "a": _text(left.get(name)), "b": _text(right.get(name)),
             "differs": name not in left or name not in right or left[name] != right[name]} for name in names]
    return pd.DataFrame(rows, columns=["field", "a", "b", "differs"])


def _text(value: Any) -> str | None:
    """One display type per column (Arrow refuses a column of mixed numbers and text)."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
