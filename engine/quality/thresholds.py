"""Gate thresholds per asset type, read from the template's ``quality`` section (versioned with it).

A template body may carry::

    "quality": {
      "palette_delta_e": 12,                      # ΔE2000 within which a colour counts as on-palette
      "judges": ["google/gemini-2.5-flash", …],   # vision models that judge each image (empty: none)
      "defaults": {"palette_min_share": 0.7, …},  # any key of DEFAULTS
      "types": {"social_cards": {"copy_text": "title", "contrast_min": 4.5}, …}
    }

Keys it leaves out come from DEFAULTS below. A template with no quality
section at all (saved before quality scoring existed) gets DEFAULTS and the
per-type defaults below, so it still has a gate. ``copy_text`` names the asset field
holding the words the image must show ("title" for a social card's headline);
null means the type carries no text.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Thresholds", "DEFAULTS", "DEFAULT_JUDGES", "DEFAULT_PALETTE_DELTA_E", "thresholds_for",
           "judges_of", "palette_of", "validate_quality", "QualityConfigError"]

DEFAULT_PALETTE_DELTA_E = 12.0
DEFAULT_JUDGES = ("google/gemini-2.5-flash", "openai/gpt-5-mini")


class QualityConfigError(ValueError):
    """The template's quality section cannot be used; the message names the key."""


@dataclass(frozen=True)
class Thresholds:
    palette_min_share: float = 0.65  # share of pixels within palette_delta_e of the brand palette
    palette_delta_e: float = DEFAULT_PALETTE_DELTA_E
    contrast_min: float = 3.0  # WCAG ratio: 3 for graphics and large text, 4.5 for body text
    max_blur: float = 0.5  # skimage blur_effect at ~256 px
    aspect_tolerance: float = 0.03  # image models return near sizes: 4:3 comes back 1184x864 (2.8 % off)
    transparent: bool = False  # the type must have transparent pixels
    min_transparent_share: float = 0.05
    duplicate_max_distance: int = 6  # pHash Hamming distance at or below which two images are near-copies
    copy_text: str | None = None  # the asset field whose text the image must carry, e.g. "title"
    copy_max_cer: float = 0.2
    judge_min: float = 3.0  # mean rubric score (1-5) the judges' majority must reach

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULTS = Thresholds()
_DEFAULT_TYPES: dict[str, dict[str, Any]] = {
    "social_cards": {"copy_text": "title", "contrast_min": 4.5},
    "backgrounds": {"contrast_min": 1.0, "max_blur": 0.7},  # a quiet surface pattern is low-contrast by design
    "heroes": {"contrast_min": 1.5, "max_blur": 0.6},  # photography: soft light, depth of field
    "illustrations": {"contrast_min": 2.0},
}
_KEYS = {f.name: f.type for f in fields(Thresholds)}


def _section(body: dict | None) -> dict:
    section = (body or {}).get("quality") or {}
    return section if isinstance(section, dict) else {}


def validate_quality(body: dict | None) -> list[str]:
    """Problems with a template's quality section, one line each (empty: fine)."""
    section = (body or {}).get("quality")
    if section is None:
        return []
    if not isinstance(section, dict):
        return ["quality: expected an object"]
    problems = []
    tables = [("quality.defaults", section.get("defaults") or {})]
    tables += [(f"quality.types.{t}", v) for t, v in (section.get("types") or {}).items()]
    for where, table in tables:
        if not isinstance(table, dict):
            problems.append(f"{where}: expected an object")
            continue
        for key, value in table.items():
            if key not in _KEYS:
                problems.append(f"{where}.{key}: unknown threshold; known: {', '.join(_KEYS)}")
            elif key == "copy_text":
                if value is not None and not isinstance(value, str):
                    problems.append(f"{where}.copy_text: expected an asset field name such as \"title\", or null")
            elif key == "transparent":
                if not isinstance(value, bool):
                    problems.append(f"{where}.transparent: expected true or false")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                problems.append(f"{where}.{key}: expected a non-negative number, got {value!r}")
    judges = section.get("judges", list(DEFAULT_JUDGES))
    if not isinstance(judges, list) or not all(isinstance(j, str) and j for j in judges):
        problems.append("quality.judges: expected a list of model ids (empty for no AI judges)")
    return problems


def thresholds_for(body: dict | None, asset_type: str) -> Thresholds:
    problems = validate_quality(body)
    if problems:
        raise QualityConfigError("; ".join(problems))
    section = _section(body)
    values: dict[str, Any] = {}
    if "palette_delta_e" in section:
        values["palette_delta_e"] = float(section["palette_delta_e"])
    values.update(section.get("defaults") or {})
    values.update(_DEFAULT_TYPES.get(asset_type, {}) if not section else {})
    values.update((section.get("types") or {}).get(asset_type) or {})
    return Thresholds(**values)


def judges_of(body: dict | None) -> list[str]:
    return list(_section(body).get("judges", DEFAULT_JUDGES))


def palette_of(body: dict | None) -> list[str]:
    """The brand palette's hex colours (the template's style.palette)."""
    palette = ((body or {}).get("style") or {}).get("palette") or []
    return [c["hex"] for c in palette if isinstance(c, dict) and c.get("hex")]
