"""An image as the checks see it: decoded once, sampled small, colours counted once.

Every deterministic check works from one :class:`Pixels`: the RGBA array at a
sampling stride (nearest-pixel, so no blended colours are invented at edges),
alpha as a weight, and a colour histogram quantised to 5 bits per channel with
the mean true colour of each bin. A 1024² image becomes ≤ 256² samples and a few
hundred colours, which is what keeps colour science (ΔE2000 per colour, not per
pixel) within the time budget.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["Pixels", "load_pixels", "quantised_colours", "SAMPLE_SIDE"]

SAMPLE_SIDE = 256  # longest side of the sampled grid the colour checks use


@dataclass
class Pixels:
    source: Image.Image = field(repr=False)  # as decoded (often palette mode: converting 1024² costs ms)
    width: int
    height: int
    has_alpha: bool  # the file carries an alpha channel (or a transparent palette entry)

    @cached_property
    def image(self) -> Image.Image:
        """The full image as RGBA (OCR and text-box contrast need every pixel)."""
        return self.source if self.source.mode == "RGBA" else self.source.convert("RGBA")

    @cached_property
    def sample(self) -> np.ndarray:
        """RGBA uint8 samples, shape (h, w, 4), at most SAMPLE_SIDE on the longest side (nearest pixels)."""
        scale = max(self.width, self.height) / SAMPLE_SIDE
        small = self.source
        if scale > 1:
            small = small.resize((max(1, round(self.width / scale)), max(1, round(self.height / scale))),
                                 Image.Resampling.NEAREST)
        return np.asarray(small if small.mode == "RGBA" else small.convert("RGBA"))

    @cached_property
    def colours(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean RGB per quantised colour as float (k, 3), alpha-weighted share per colour (k,)).

        Fully transparent pixels weigh nothing; shares sum to 1 (or are all 0 for an invisible image).
        """
        rgba = self.sample.reshape(-1, 4)
        rgb = rgba[:, :3].astype(np.int32)
        weight = rgba[:, 3].astype(np.float64) / 255.0
        return quantised_colours(rgb, weight)

    @cached_property
    def grey_small(self) -> np.ndarray:
        """Luminance as float32 in 0..1, box-reduced to about SAMPLE_SIDE on the longest side."""
        factor = max(1, round(max(self.width, self.height) / SAMPLE_SIDE))
        grey = self.source.convert("L")
        if factor > 1:
            grey = grey.reduce(factor)
        return np.asarray(grey, dtype=np.float32) / 255.0


def load_pixels(source: bytes | str | Path | Image.Image) -> Pixels:
    """Decode PNG bytes, a path or a PIL image; ValueError naming the problem when it is no image."""
    try:
        if isinstance(source, Image.Image):
            img = source
        elif isinstance(source, (bytes, bytearray)):
            img = Image.open(io.BytesIO(source))
        else:
            img = Image.open(Path(source))
        img.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read the image: {exc}") from None
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if img.mode not in ("RGBA", "RGB", "P", "L", "LA", "PA"):  # CMYK, 16-bit…: one conversion up front
        img = img.convert("RGBA")
    return Pixels(source=img, width=img.width, height=img.height, has_alpha=has_alpha)


def quantised_colours(rgb: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bin (n, 3) int colours to 5 bits per channel: (mean colour per occupied bin, weighted share per bin)."""
    key = ((rgb[:, 0] >> 3) << 10) | ((rgb[:, 1] >> 3) << 5) | (rgb[:, 2] >> 3)
    counts = np.bincount(key, minlength=32768)  # a counting sort: no np.unique, no sort
    occupied = np.flatnonzero(counts)
    mean = np.stack([np.bincount(key, weights=rgb[:, c], minlength=32768)[occupied] for c in range(3)], axis=1)
    mean /= counts[occupied, None]
    share = np.bincount(key, weights=weight, minlength=32768)[occupied] if weight is not None \
        else counts[occupied].astype(np.float64)
    total = share.sum()
    return mean, (share / total if total > 0 else share)
