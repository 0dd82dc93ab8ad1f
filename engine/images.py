"""The pixel sizes OpenRouter's image models answer with, per ``image_config`` (aspect ratio and size).

The stand-in draws at these sizes and the quality form check expects them, so both read this one table.
"""
from __future__ import annotations

__all__ = ["ASPECT_SIZES", "image_dimensions"]

# Output pixels per aspect ratio at image_size 1K (what Gemini image models return); 2K/4K scale up.
ASPECT_SIZES = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
                "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
                "16:9": (1344, 768), "21:9": (1536, 672)}
_SIZE_FACTOR = {"1K": 1, "2K": 2, "4K": 4}


def image_dimensions(image_config: dict | None, *, override_px: int | None = None) -> tuple[int, int]:
    """Pixels for an image_config; ``override_px`` sets the longest side (smaller = faster)."""
    config = image_config or {}
    width, height = ASPECT_SIZES.get(str(config.get("aspect_ratio") or "1:1"), ASPECT_SIZES["1:1"])
    factor = _SIZE_FACTOR.get(str(config.get("image_size") or "1K").upper(), 1)
    width, height = width * factor, height * factor
    if override_px:
        scale = override_px / max(width, height)
        width, height = max(8, round(width * scale)), max(8, round(height * scale))
    return width, height
