"""Palette: how much of the image (alpha-weighted) lies within ΔE2000 of the brand palette.

Colours are compared in CIELAB with CIEDE2000 (scikit-image), the perceptual
difference designers use; ΔE ≈ 2 is just noticeable, ≈ 10 reads as "another
colour". The image's quantised colours (engine/quality/pixels.py) are compared,
not its pixels, so a 1024² image costs a few hundred colour comparisons. The
largest off-palette colour is reported with its share, so an operator sees what
went wrong ("#C0392B covers 31 %"), not just a number.
"""
from __future__ import annotations

import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from engine.quality.check import AT_LEAST, Check, measured, not_applicable
from engine.quality.pixels import Pixels

__all__ = ["palette_check", "palette_distances", "hex_to_rgb", "rgb_to_hex", "VERSION"]

VERSION = "palette/1 (skimage CIEDE2000, 5-bit colour bins)"


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    text = value.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(f"palette colour {value!r} is not #RRGGBB")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def rgb_to_hex(rgb) -> str:
    r, g, b = (int(round(float(c))) for c in rgb)
    return f"#{r:02X}{g:02X}{b:02X}"


def _lab(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(np.asarray(rgb, dtype=np.float64).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)


def palette_distances(colours_rgb: np.ndarray, palette_hex: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ΔE2000 to the nearest palette colour, index of that colour) for each colour."""
    ours = _lab(colours_rgb)
    brand = _lab(np.array([hex_to_rgb(h) for h in palette_hex], dtype=np.float64))
    delta = deltaE_ciede2000(ours[:, None, :], brand[None, :, :])
    return delta.min(axis=1), delta.argmin(axis=1)


def palette_check(pixels: Pixels, palette_hex: list[str], *, delta_e_max: float, min_share: float) -> Check:
    if not palette_hex:
        return not_applicable("palette", "the template names no brand palette", version=VERSION,
                              threshold=min_share, op=AT_LEAST)
    rgb, share = pixels.colours
    if share.sum() <= 0:
        return measured("palette", 0.0, min_share, AT_LEAST, version=VERSION,
                        note="the image is fully transparent", detail={"delta_e_max": delta_e_max})
    nearest, _ = palette_distances(rgb, palette_hex)
    on = nearest <= delta_e_max
    on_share = float(share[on].sum())
    detail: dict = {"delta_e_max": delta_e_max, "palette": list(palette_hex),
                    "mean_delta_e": round(float((nearest * share).sum()), 2)}
    note = f"{on_share:.0%} of the image within ΔE2000 ≤ {delta_e_max:g} of the brand palette"
    if (~on).any():
        off_share = np.where(on, 0.0, share)
        worst = int(off_share.argmax())
        detail.update(largest_off_palette=rgb_to_hex(rgb[worst]), largest_off_palette_share=round(float(off_share[worst]), 4),
                      largest_off_palette_delta_e=round(float(nearest[worst]), 1))
        note += f"; largest off-palette colour {detail['largest_off_palette']} covers {off_share[worst]:.0%}"
    return measured("palette", on_share, min_share, AT_LEAST, version=VERSION, note=note, detail=detail)
