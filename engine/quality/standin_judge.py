"""The stand-in's judge: answers the judge schema from what it can measure in the image. SIMULATED.

Offline there is no vision model, but the judgement must still mean something: a
bad image must score badly. So brand follows the palette share, craft the
sharpness, legibility the contrast (no OCR here: it would take seconds per call);
subject and elements cannot be seen without a model, so they start
at 4 and drop with brand (an off-brand render is usually the wrong picture too).
Each model adds its own small seeded noise, so judges disagree a little, as real ones do.
"""
from __future__ import annotations

import base64
import json
import random
import re

from engine.quality.contrast import contrast_check
from engine.quality.form import blur_effect
from engine.quality.palette import palette_check
from engine.quality.pixels import load_pixels

__all__ = ["simulated_judgement"]

_HEX = re.compile(r"#[0-9A-Fa-f]{6}")


def _parts(messages: list[dict]) -> tuple[str, bytes | None]:
    text, image = [], None
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else [{"type": "text", "text": content or ""}]:
            if part.get("type") == "image_url" and image is None:
                url = (part.get("image_url") or {}).get("url") or ""
                image = base64.b64decode(url.partition(",")[2] or url)
            elif part.get("type") == "text":
                text.append(part.get("text") or "")
    return "\n".join(text), image


def _band(value: float, cuts: tuple[float, ...], *, higher_is_better: bool = True) -> int:
    """1..5 by how many cut points ``value`` clears."""
    cleared = sum(1 for cut in cuts if (value >= cut if higher_is_better else value <= cut))
    return 1 + cleared


def simulated_judgement(messages: list[dict], model_id: str, rng: random.Random) -> str:
    """The JSON content a judge would return; every reason says SIMULATED and what was measured."""
    from engine.quality.rubric import RUBRIC  # noqa: PLC0415

    text, image = _parts(messages)
    palette_line = next((line for line in text.splitlines() if line.startswith("Brand palette:")), "")
    palette = _HEX.findall(palette_line)
    if image is None:
        scores = {c: (1, "SIMULATED: no image was sent") for c in RUBRIC}
    else:
        pixels = load_pixels(image)
        share = palette_check(pixels, palette, delta_e_max=12.0, min_share=0.0).value if palette else 0.5
        blur = blur_effect(pixels.grey_small)
        ratio = contrast_check(pixels, min_ratio=0.0).value
        brand = _band(share, (0.4, 0.6, 0.75, 0.9))
        craft = _band(blur, (0.65, 0.5, 0.4, 0.3), higher_is_better=False)
        legible = _band(ratio, (2.0, 3.0, 4.5, 7.0))
        seen = max(1, min(5, 4 - (brand <= 2) - (brand == 1)))
        scores = {
            "subject": (seen, "SIMULATED: the subject cannot be seen offline; scored from the brand fit"),
            "elements": (seen, "SIMULATED: elements cannot be seen offline; scored from the brand fit"),
            "brand": (brand, f"SIMULATED: {share:.0%} of the image on the brand palette"),
            "craft": (craft, f"SIMULATED: blur effect {blur:.2f}"),
            "legibility": (legible, f"SIMULATED: contrast {ratio:.1f}:1"),
        }
    answer = {}
    for criterion, (score, reason) in scores.items():
        if rng.random() < 0.25:  # each model's own leaning: judges disagree a little
            score += rng.choice((-1, 1))
        answer[criterion] = {"score": max(1, min(5, score)), "reason": f"{reason} ({model_id})"}
    return json.dumps(answer)
