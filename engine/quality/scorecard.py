"""The deterministic scorecard of one image: every check, measured in one pass over its pixels.

``score_image`` is synchronous and CPU-bound (numpy, scikit-image, Pillow,
onnxruntime: all release the GIL for their heavy parts); callers in the engine
run it with ``asyncio.to_thread`` so scoring never blocks the event loop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.quality.check import Check
from engine.quality.contrast import contrast_check
from engine.quality.copy import copy_check, ocr_available, read_text
from engine.quality.form import form_checks
from engine.quality.neardup import LibraryIndex, near_duplicate_check, phash_of
from engine.quality.palette import palette_check
from engine.quality.pixels import load_pixels
from engine.quality.thresholds import Thresholds, palette_of, thresholds_for

__all__ = ["Scorecard", "score_image", "score_asset_image", "intended_text"]


@dataclass
class Scorecard:
    checks: list[Check]
    phash: str
    width: int
    height: int
    elapsed_ms: float
    ocr_ms: float = 0.0
    thresholds: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.passed is False]

    @property
    def passed(self) -> bool:
        return not self.failing

    def get(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "phash": self.phash, "width": self.width,
                "height": self.height, "elapsed_ms": self.elapsed_ms, "ocr_ms": self.ocr_ms,
                "passed": self.passed, "failing": [c.name for c in self.failing], "thresholds": self.thresholds}


def intended_text(asset, thresholds: Thresholds) -> str | None:
    """The words the image must show (the asset field the type's ``copy_text`` names), or None."""
    if not thresholds.copy_text:
        return None
    value = getattr(asset, thresholds.copy_text, None) if asset is not None else None
    return str(value) if value else None


def score_image(source: bytes | str | Path, *, thresholds: Thresholds, palette: list[str], aspect_ratio: str,
                image_size: str = "1K", text: str | None = None, library: LibraryIndex | None = None,
                asset_id: str | None = None, path: str | None = None, ocr: bool = True) -> Scorecard:
    """Measure one image. ``text``: intended copy (None: not text-bearing); ``ocr=False`` skips reading it."""
    started = time.perf_counter()
    pixels = load_pixels(source)
    checks = [palette_check(pixels, palette, delta_e_max=thresholds.palette_delta_e,
                            min_share=thresholds.palette_min_share)]
    lines, ocr_ms = None, 0.0
    if text and ocr and ocr_available()[0]:
        ocr_started = time.perf_counter()
        lines = read_text(pixels)
        ocr_ms = (time.perf_counter() - ocr_started) * 1000
    boxes = [line.box for line in lines] if lines else None
    checks.append(contrast_check(pixels, min_ratio=thresholds.contrast_min, text_boxes=boxes))
    checks.append(copy_check(pixels, text, max_cer=thresholds.copy_max_cer, lines=lines, read=ocr))
    checks += form_checks(pixels, aspect_ratio=aspect_ratio, image_size=image_size,
                          aspect_tolerance=thresholds.aspect_tolerance, needs_transparency=thresholds.transparent,
                          min_transparent_share=thresholds.min_transparent_share, max_blur=thresholds.max_blur)
    phash = phash_of(pixels)
    checks.append(near_duplicate_check(phash, library, asset_id=asset_id, path=path,
                                       max_distance=thresholds.duplicate_max_distance))
    elapsed = (time.perf_counter() - started) * 1000
    return Scorecard(checks=checks, phash=phash, width=pixels.width, height=pixels.height,
                     elapsed_ms=round(elapsed, 2), ocr_ms=round(ocr_ms, 2), thresholds=thresholds.to_dict())


def score_asset_image(source: bytes | str | Path, asset, template_body: dict, *, library: LibraryIndex | None = None,
                      path: str | None = None, ocr: bool = True) -> Scorecard:
    """Score an image as ``asset`` of the catalog, against the template's palette and its type's thresholds."""
    thresholds = thresholds_for(template_body, asset.type)
    return score_image(source, thresholds=thresholds, palette=palette_of(template_body),
                       aspect_ratio=asset.aspect_ratio, image_size=getattr(asset, "image_size", None) or "1K",
                       text=intended_text(asset, thresholds), library=library, asset_id=asset.id, path=path, ocr=ocr)
