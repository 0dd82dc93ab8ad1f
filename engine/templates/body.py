"""The template body: its shape, the built-in default and the validation every saved edit passes.

The template BODY is data (a JSON-serialisable dict, built-in default in
data/templates/default.json) so operators can edit it in the console's master
prompt editor; every saved edit is a new row of ``template_versions`` (see
engine/template_store.py) and one row is active. Body keys:

``master_prompt``     the "Brief:" paragraph, with ``{placeholders}`` (see PLACEHOLDERS)
``tier_rule``         ``{description, minimum_by_type: {asset_type: tier}}``: the tier is
                      the asset's declared tier, raised (never lowered) to the minimum
                      for its type, compared by the tiers' ``rank``
``tiers``             ``{name: {rank, rule, detail_level, guidance, luxury}}``
``emotional_layers``  ``{theme: [elements]}``; the first ``required.emotional_elements``
                      become required elements
``style``             ``palette [{name, hex}]``, and per asset type (with a ``default``):
                      ``medium``, ``line_weight``, ``composition {keyword, text}``; ``avoid``
``luxury_indicators`` applied to tiers with ``luxury: true`` (the top tier by default)
``required``          how many palette colours / emotional elements / luxury indicators
                      a competitor's prompt must carry

engine/templates.py renders a body into a brief.
"""
from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from engine.config import BUNDLED_DATA

__all__ = [
    "TemplateError", "TemplateVersion", "PLACEHOLDERS", "DEFAULT_TEMPLATE_PATH", "DEFAULT_REQUIRED", "MAX_BRIEF_CHARS",
    "load_default_template_body", "default_template", "validate_template",
]

DEFAULT_TEMPLATE_PATH = BUNDLED_DATA / "templates" / "default.json"

PLACEHOLDERS = {
    "title": "the asset's title",
    "description": "the asset's art-direction sentence",
    "asset_id": "the asset's id",
    "asset_type": "singular type label: icon, illustration, hero image, ...",
    "aspect_ratio": "W:H",
    "image_size": "1K, 2K or 4K",
    "brand": "body['brand']",
    "tier": "the selected tier",
    "tier_detail": "the tier's detail_level",
    "tier_guidance": "the tier's guidance sentence",
    "theme": "the asset's theme id, e.g. peace_of_mind",
    "mood": "the theme in words, e.g. peace of mind",
    "emotional_elements": "the theme's elements, comma-separated",
    "palette": "colour names with hex codes",
    "medium": "style.medium for the asset type",
    "line_weight": "style.line_weight for the asset type",
    "composition": "style.composition text for the asset type",
    "composition_keyword": "style.composition keyword for the asset type",
    "must_include": "the asset's must_include phrases, comma-separated",
    "luxury": "a 'Luxury finish: ...' sentence on luxury tiers, else empty",
}
_PER_TYPE_STYLE = ("medium", "line_weight", "composition")
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
# A rendered brief longer than this is refused (at save time against the catalog, and when an item is
# built): every competitor is sent the brief, so its length is money (docs/operations.md, Limits).
MAX_BRIEF_CHARS = 12_000
# How many of each kind a competitor's prompt must carry when the body's ``required`` omits it.
DEFAULT_REQUIRED = {"palette_colours": 2, "emotional_elements": 1, "luxury_indicators": 2}


class TemplateError(ValueError):
    """A template body or version that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class TemplateVersion:
    version: int
    body: dict
    author: str | None
    comment: str | None
    created_at: datetime | None
    active: bool = False
    activated_by: str | None = None
    activated_at: datetime | None = None


def load_default_template_body() -> dict:
    """A fresh copy of the built-in body (callers may mutate it)."""
    return json.loads(DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8"))


def default_template() -> TemplateVersion:
    """The built-in body as version 0, for use without a database (tests, dry runs)."""
    return TemplateVersion(0, load_default_template_body(), "built-in", "data/templates/default.json", None)


def validate_template(body: Any) -> dict:
    """Return ``body`` if it can build briefs; else raise TemplateError listing every problem."""
    problems: list[str] = []
    if not isinstance(body, dict):
        raise TemplateError(f"template body must be a JSON object, got {type(body).__name__}")
    try:
        json.dumps(body)
    except (TypeError, ValueError) as exc:
        problems.append(f"body is not JSON-serialisable: {exc}")
    _check_master_prompt(body.get("master_prompt"), problems)
    tiers = body.get("tiers")
    if not isinstance(tiers, dict) or not tiers:
        problems.append("tiers: expected an object {name: {rank, rule, detail_level, guidance, luxury}}")
        tiers = {}
    for name, spec in tiers.items():
        if not isinstance(spec, dict):
            problems.append(f"tiers.{name}: expected an object")
            continue
        if not isinstance(spec.get("rank"), int) or isinstance(spec.get("rank"), bool):
            problems.append(f"tiers.{name}.rank: expected an integer (higher = richer tier)")
        for key in ("rule", "detail_level"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                problems.append(f"tiers.{name}.{key}: expected a non-empty string")
        if not isinstance(spec.get("luxury", False), bool):
            problems.append(f"tiers.{name}.luxury: expected true or false")
    rule = body.get("tier_rule", {})
    minimums = rule.get("minimum_by_type", {}) if isinstance(rule, dict) else None
    if not isinstance(minimums, dict):
        problems.append("tier_rule: expected an object {description, minimum_by_type: {asset_type: tier}}")
    else:
        for type_name, tier in minimums.items():
            if tier not in tiers:
                problems.append(f"tier_rule.minimum_by_type.{type_name}: unknown tier {tier!r}; "
                                f"expected one of {', '.join(tiers)}")
    layers = body.get("emotional_layers")
    if not isinstance(layers, dict) or not layers:
        problems.append("emotional_layers: expected an object {theme: [elements]}")
    else:
        for theme, elements in layers.items():
            if not _is_phrase_list(elements):
                problems.append(f"emotional_layers.{theme}: expected a non-empty list of short phrases")
    _check_style(body.get("style"), problems)
    luxury = body.get("luxury_indicators", [])
    if any(isinstance(s, dict) and s.get("luxury") for s in tiers.values()) and not _is_phrase_list(luxury):
        problems.append("luxury_indicators: a tier has luxury: true, so expected a non-empty list of phrases")
    required = body.get("required", {})
    if not isinstance(required, dict) or any(
        not isinstance(required.get(k, 0), int) or required.get(k, 0) < 0 for k in DEFAULT_REQUIRED
    ):
        problems.append(f"required: expected an object of non-negative counts: {', '.join(DEFAULT_REQUIRED)}")
    if problems:
        raise TemplateError("invalid template body:\n  - " + "\n  - ".join(problems))
    return body


def _check_master_prompt(text: Any, problems: list[str]) -> None:
    if not isinstance(text, str) or not text.strip():
        problems.append("master_prompt: expected a non-empty string with {placeholders}")
        return
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None]
    except ValueError as exc:
        problems.append(f"master_prompt: {exc} (write a literal brace as {{{{ or }}}})")
        return
    # A format spec or conversion turns a placeholder into a program: {title:x>2000000} pads the
    # brief to 2 MB (paid for by every competitor), {title:>99999999999999999999} fails every item.
    formatted = sorted({"{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
                        for name, spec, conv in fields if spec or conv})
    if formatted:
        problems.append(f"master_prompt: placeholders take no format spec or conversion, got "
                        f"{', '.join(formatted)}; write the bare placeholder, e.g. {{title}}")
    names = [name for name, _, _ in fields]
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        problems.append(f"master_prompt: unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
                        f"known: {', '.join('{' + n + '}' for n in PLACEHOLDERS)}")


def _check_style(style: Any, problems: list[str]) -> None:
    if not isinstance(style, dict):
        problems.append("style: expected an object with palette, medium, line_weight, composition")
        return
    palette = style.get("palette")
    if not isinstance(palette, list) or not palette:
        problems.append("style.palette: expected a list of {name, hex}")
    else:
        for i, colour in enumerate(palette):
            if not (isinstance(colour, dict) and isinstance(colour.get("name"), str) and colour["name"].strip()
                    and isinstance(colour.get("hex"), str) and _HEX.match(colour["hex"])):
                problems.append(f"style.palette[{i}]: expected {{\"name\": \"deep navy\", \"hex\": \"#1F2A44\"}}, "
                                f"got {colour!r}")
    for key in _PER_TYPE_STYLE:
        table = style.get(key)
        if not isinstance(table, dict) or "default" not in table:
            problems.append(f"style.{key}: expected an object per asset type with a 'default' entry")
            continue
        for type_name, value in table.items():
            ok = (isinstance(value, dict) and all(isinstance(value.get(k), str) and value[k].strip()
                                                  for k in ("keyword", "text"))
                  ) if key == "composition" else (isinstance(value, str) and value.strip())
            if not ok:
                shape = "{keyword, text}" if key == "composition" else "a non-empty string"
                problems.append(f"style.{key}.{type_name}: expected {shape}")
    if "avoid" in style and not isinstance(style["avoid"], list):
        problems.append("style.avoid: expected a list of phrases")


def _is_phrase_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)

