"""Contrast: the WCAG 2.1 contrast ratio between the dominant foreground and background colours.

The background is the colour covering most of the image; the foreground is,
among the colours that are clearly other colours (ΔE2000 ≥ ``DISTINCT_DELTA_E``)
and cover at least ``MIN_FOREGROUND_SHARE``, the one standing out most: a navy
glyph on an ivory tile counts, even where a sage frame covers more. For text-bearing images, when OCR
found text boxes, the ratio is taken inside the boxes instead: text against what
is right behind it, which is what legibility depends on. WCAG asks ≥ 4.5 for body
text and ≥ 3 for large text and graphics.
"""
from __future__ import annotations

import numpy as np

from engine.quality.check import AT_LEAST, Check, measured
from engine.quality.palette import palette_distances, rgb_to_hex
from engine.quality.pixels import Pixels, quantised_colours

__all__ = ["contrast_check", "contrast_ratio", "relative_luminance", "VERSION"]

VERSION = "contrast/1 (WCAG 2.1 ratio, dominant colours)"
DISTINCT_DELTA_E = 15.0
MIN_FOREGROUND_SHARE = 0.02


def relative_luminance(rgb) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour given as 0..255 components."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2])


def contrast_ratio(a, b) -> float:
    la, lb = relative_luminance(a), relative_luminance(b)
    light, dark = max(la, lb), min(la, lb)
    return (light + 0.05) / (dark + 0.05)


def _dominant_pair(rgb: np.ndarray, share: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    order = np.argsort(-share)
    background = rgb[order[0]]
    distance, _ = palette_distances(rgb[order], [rgb_to_hex(background)])
    best, best_ratio = None, 0.0
    for rank, index in enumerate(order):
        if share[index] < MIN_FOREGROUND_SHARE:
            break
        if distance[rank] >= DISTINCT_DELTA_E:
            ratio = contrast_ratio(rgb[index], background)
            if ratio > best_ratio:
                best, best_ratio = index, ratio
    if best is None:
        return background, None, 0.0
    return background, rgb[best], float(share[best])


def contrast_check(pixels: Pixels, *, min_ratio: float, text_boxes: list[tuple[int, int, int, int]] | None = None
                   ) -> Check:
    """``text_boxes``: (left, top, right, bottom) in full-image pixels, from OCR."""
    where = "dominant colours"
    if text_boxes:
        full = np.asarray(pixels.image)
        crops = [full[max(0, t):b, max(0, l):r] for l, t, r, b in text_boxes if r > l and b > t]
        crops = [c.reshape(-1, 4) for c in crops if c.size]
        if crops:
            rgb, share = quantised_colours(np.concatenate(crops)[:, :3].astype(np.int32))
            where = "text against its background"
        else:
            rgb, share = pixels.colours
    else:
        rgb, share = pixels.colours
    background, foreground, fg_share = _dominant_pair(rgb, share)
    if foreground is None:
        return measured("contrast", 1.0, min_ratio, AT_LEAST, version=VERSION,
                        note=f"{where}: a single colour, {rgb_to_hex(background)}; nothing stands out",
                        detail={"background": rgb_to_hex(background), "where": where})
    ratio = contrast_ratio(foreground, background)
    return measured("contrast", ratio, min_ratio, AT_LEAST, version=VERSION,
                    note=f"{where}: {rgb_to_hex(foreground)} on {rgb_to_hex(background)} = {ratio:.2f}:1",
                    detail={"foreground": rgb_to_hex(foreground), "background": rgb_to_hex(background),
                            "foreground_share": round(fg_share, 4), "where": where})
