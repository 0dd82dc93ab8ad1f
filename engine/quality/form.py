"""Form: the pixel size and aspect ratio the asset type asked for, transparency, sharpness.

Sizes are what OpenRouter's image models return for an ``image_config``
(``engine.images.ASPECT_SIZES`` × the 1K/2K/4K factor). Sharpness is
scikit-image's ``blur_effect`` (Crété-Roffet et al.: 0 = sharp, 1 = blurred) on
luminance reduced to ~256 px, so the figure does not depend on the resolution:
measured here, a flat brand icon scores ≈ 0.2-0.35, the same icon under a 6 px
Gaussian blur ≈ 0.45-0.6 and under 10 px ≈ 0.6-0.75. ``blur_effect`` below is
the same computation on scipy.ndimage's Sobel in float32 (equal to skimage's to
1e-6, checked by tests/test_quality_checks.py) at well under half the time:
skimage's general n-d Sobel was most of the scorecard's budget.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from engine.images import image_dimensions
from engine.quality.check import AT_LEAST, AT_MOST, Check, measured, not_applicable
from engine.quality.pixels import Pixels

__all__ = ["form_checks", "requested_size", "blur_effect", "VERSION"]

VERSION = "form/1 (exact size, aspect ±tolerance, alpha share, skimage blur_effect @256px)"
TRANSPARENT_ALPHA = 8  # below this a pixel counts as transparent


def blur_effect(image: np.ndarray, h_size: int = 11) -> float:
    """Crété-Roffet blur effect of a 2-d luminance image, as skimage.measure.blur_effect (max over axes)."""
    image = np.asarray(image, dtype=np.float32)
    inner = tuple(slice(2, s - 1) for s in image.shape)
    per_axis = []
    for axis in range(image.ndim):
        smoothed = ndi.uniform_filter1d(image, h_size, axis=axis)
        sharp = np.maximum(1e-10, np.abs(ndi.sobel(image, axis=axis)))
        soft = np.maximum(1e-10, np.abs(ndi.sobel(smoothed, axis=axis)))
        lost = np.maximum(0, sharp - soft)
        total = sharp[inner].sum(dtype=np.float64)
        per_axis.append(abs(total - lost[inner].sum(dtype=np.float64)) / total)
    return float(max(per_axis))


def requested_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    return image_dimensions({"aspect_ratio": aspect_ratio, "image_size": image_size})


def _ratio(text: str) -> float:
    w, _, h = text.partition(":")
    return float(w) / float(h)


def form_checks(pixels: Pixels, *, aspect_ratio: str, image_size: str, aspect_tolerance: float,
                needs_transparency: bool, min_transparent_share: float, max_blur: float) -> list[Check]:
    want_w, want_h = requested_size(aspect_ratio, image_size)
    got = f"{pixels.width}x{pixels.height}"
    size_error = max(abs(pixels.width - want_w) / want_w, abs(pixels.height - want_h) / want_h)
    checks = [measured("size", size_error, 0.0, AT_MOST, version=VERSION,
                       note=f"{got} for {aspect_ratio} at {image_size} (asked {want_w}x{want_h})",
                       detail={"width": pixels.width, "height": pixels.height, "want_width": want_w,
                               "want_height": want_h})]
    aspect_error = abs((pixels.width / pixels.height) / _ratio(aspect_ratio) - 1.0)
    checks.append(measured("aspect", aspect_error, aspect_tolerance, AT_MOST, version=VERSION,
                           note=f"aspect {pixels.width / pixels.height:.3f} for {aspect_ratio} "
                                f"({aspect_error:.1%} off)",
                           detail={"aspect_ratio": aspect_ratio}))
    if needs_transparency:
        alpha = pixels.sample[..., 3]
        share = float((alpha < TRANSPARENT_ALPHA).mean()) if pixels.has_alpha else 0.0
        checks.append(measured("alpha", share, min_transparent_share, AT_LEAST, version=VERSION,
                               note=f"{share:.0%} transparent" + ("" if pixels.has_alpha else ": the file has no alpha"),
                               detail={"has_alpha": pixels.has_alpha}))
    else:
        checks.append(not_applicable("alpha", "this asset type does not ask for transparency", version=VERSION))
    blur = float(blur_effect(pixels.grey_small))
    checks.append(measured("sharpness", blur, max_blur, AT_MOST, version=VERSION,
                           note=f"blur effect {blur:.2f} (0 sharp … 1 blurred)"))
    return checks
