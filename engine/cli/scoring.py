"""What the `score`, `review`, `rate` and `agreement` commands do, without click (engine/cli/quality.py)."""
from __future__ import annotations

from pathlib import Path

from engine.templates.catalog import load_catalog
from engine.session.save import read_provenance
from engine.quality.scorecard import Scorecard, score_asset_image

__all__ = ["ScoreError", "score_file", "format_scorecard", "asset_for_file"]


class ScoreError(ValueError):
    """A file that cannot be scored as asked; the message says what to pass instead."""


def asset_for_file(path: Path, catalog, asset_id: str | None):
    """--asset wins; else the provenance's asset_id; else a catalog id equal to the file's name."""
    provenance = read_provenance(path) or {}
    wanted = asset_id or provenance.get("asset_id") or path.stem.split("-attempt")[0]
    by_id = {a.id: a for a in catalog.assets}
    if wanted not in by_id:
        raise ScoreError(f"{path}: which catalog asset is it? No asset {wanted!r} in {catalog.path.name}; "
                         "pass --asset ID (see `assetgen catalog`)")
    return by_id[wanted]


def score_file(path: str | Path, *, template_body: dict, catalog_path: str | None = None, asset_id: str | None = None,
               library=None, ocr: bool = True) -> tuple[object, Scorecard]:
    path = Path(path)
    if not path.is_file():
        raise ScoreError(f"{path}: no such file")
    asset = asset_for_file(path, load_catalog(catalog_path), asset_id)
    try:
        return asset, score_asset_image(path, asset, template_body, library=library, path=str(path), ocr=ocr)
    except ValueError as exc:
        raise ScoreError(f"{path}: {exc}") from None


def format_scorecard(path: str, asset, card: Scorecard) -> str:
    mark = {True: "pass", False: "FAIL", None: "  - "}
    lines = [f"{path}  ({asset.id}, {asset.type})  {'PASSED' if card.passed else 'FAILED: ' + ', '.join(c.name for c in card.failing)}"]
    for c in card.checks:
        value = "" if c.value is None else f"{c.value:.3f}"
        bound = "" if c.threshold is None else f"{c.op} {c.threshold:g}"
        lines.append(f"  {mark[c.passed]}  {c.name:15} {value:>9} {bound:>8}  {c.note}")
    lines.append(f"  ({card.elapsed_ms:.0f} ms, OCR {card.ocr_ms:.0f} ms)")
    return "\n".join(lines)
