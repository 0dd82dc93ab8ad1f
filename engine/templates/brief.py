"""Prompt templates: how a catalog asset becomes a brief for the competing models.

``build_brief`` renders a template body (engine/template_body.py, versioned in
DuckDB by engine/template_store.py) for one asset and, given ``emit``, narrates
each step as the template events of engine/events.py. ``competition_messages``
asks a model for a prompt meeting the brief, and ``coverage`` scores how much of
the brief's required elements that prompt carries.

The body and version names are re-exported here, so ``engine.templates`` stays
the one import for everything about templates.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from engine import events as ev
from engine.templates.catalog import Asset
from engine.templates.body import (
    DEFAULT_REQUIRED, DEFAULT_TEMPLATE_PATH, MAX_BRIEF_CHARS, PLACEHOLDERS, TemplateError, TemplateVersion, default_template,
    load_default_template_body, validate_template,
)
from engine.templates.versions import (
    activate_template, active_template, diff_template_versions, ensure_default_template, get_template_version,
    list_template_versions, save_template_version,
)

__all__ = [
    "TemplateError", "TemplateVersion", "Brief", "PLACEHOLDERS", "DEFAULT_TEMPLATE_PATH",
    "load_default_template_body", "default_template", "validate_template",
    "ensure_default_template", "active_template", "save_template_version", "activate_template",
    "list_template_versions", "get_template_version", "diff_template_versions",
    "select_tier", "build_brief", "check_brief_sizes", "competition_messages", "coverage", "MAX_BRIEF_CHARS",
]

Emit = Callable[[ev.Event], Any]


@dataclass(frozen=True)
class Brief:
    text: str
    tier: str
    required_elements: list[str]
    elements_used: int
    template_version: int
    asset_id: str = ""
    aspect_ratio: str = ""
    image_size: str = ""
    sections: tuple[str, ...] = field(default=())


# --- building a brief --------------------------------------------------------------------------
def select_tier(asset: Asset, body: dict) -> tuple[str, str]:
    """(tier, rule text): the declared tier, raised to the type's minimum by rank, never lowered."""
    tiers = body["tiers"]
    if asset.tier not in tiers:
        raise TemplateError(f"asset {asset.id!r} has tier {asset.tier!r}, which the template does not define; "
                            f"template tiers: {', '.join(tiers)}")
    minimum = body.get("tier_rule", {}).get("minimum_by_type", {}).get(asset.type)
    if minimum and tiers[minimum]["rank"] > tiers[asset.tier]["rank"]:
        return minimum, (f"declared tier {asset.tier!r} raised to {minimum!r}: "
                         f"tier_rule.minimum_by_type.{asset.type} = {minimum!r}")
    rule = f"declared tier {asset.tier!r} from the catalog"
    if minimum:
        rule += f" (at or above the {asset.type} minimum {minimum!r})"
    return asset.tier, rule


def _per_type(style: dict, key: str, asset_type: str):
    table = style[key]
    return table.get(asset_type, table["default"])


def _phrase(text: str) -> str:
    # "; " separates required elements on the brief's last line: a phrase must not contain one.
    return " ".join(text.replace(";", ",").split())


def build_brief(
    asset: Asset,
    template: TemplateVersion,
    *,
    emit: Emit | None = None,
    session_id: str | None = None,
    item_id: str | None = None,
) -> Brief:
    """Render ``template`` for ``asset``; with ``emit``, narrate each step as a template event."""
    body = template.body
    version = template.version

    def say(event_type: type[ev.Event], **payload) -> None:
        if emit is not None:
            emit(event_type(session_id=session_id, item_id=item_id, **payload))

    say(ev.PromptTemplateStart, asset_id=asset.id, asset_type=asset.type, template_version=version)

    tier, rule = select_tier(asset, body)
    tier_spec = body["tiers"][tier]
    say(ev.PromptTierSelected, tier=tier, rule=rule)

    layers = body["emotional_layers"]
    if asset.theme not in layers:
        raise TemplateError(f"template v{version} has no emotional layer for theme {asset.theme!r} "
                            f"(asset {asset.id!r}); add emotional_layers.{asset.theme}")
    emotional = [_phrase(e) for e in layers[asset.theme]]
    say(ev.AddingEmotionalLayer, theme=asset.theme, elements=emotional)

    luxury_applied = bool(tier_spec.get("luxury", False))
    luxury = [_phrase(x) for x in body.get("luxury_indicators", [])] if luxury_applied else []
    style = body["style"]
    avoid = [_phrase(a) for a in style.get("avoid", [])]
    sections = ["brief", "asset_type", "aspect_ratio", "tier", "emotional_layer", "style"]
    sections += ["luxury"] if luxury_applied else []
    sections += ["must_include"] if asset.must_include else []
    sections += ["avoid"] if avoid else []
    sections += ["required_elements"]
    say(ev.TemplateBuilding, sections=sections)

    palette = [(_phrase(c["name"]), c["hex"].upper()) for c in style["palette"]]
    medium = _phrase(_per_type(style, "medium", asset.type))
    line_weight = _phrase(_per_type(style, "line_weight", asset.type))
    composition = _per_type(style, "composition", asset.type)
    keyword, composition_text = _phrase(composition["keyword"]), _phrase(composition["text"])
    style_elements = [f"{name} {hex_}" for name, hex_ in palette] + [
        f"medium: {medium}", f"line weight: {line_weight}", f"composition: {keyword}"]
    say(ev.StyleElementsApplied, elements=style_elements)
    say(ev.LuxuryIndicatorsApplied, applied=luxury_applied, indicators=luxury)

    counts = {**DEFAULT_REQUIRED, **body.get("required", {})}
    must = [_phrase(m) for m in asset.must_include]
    required = _unique(
        must
        + [name for name, _ in palette[: counts["palette_colours"]]]
        + [keyword]
        + emotional[: counts["emotional_elements"]]
        + luxury[: counts["luxury_indicators"]]
    )
    palette_text = ", ".join(f"{name} ({hex_})" for name, hex_ in palette)
    values = {
        "title": asset.title, "description": asset.description, "asset_id": asset.id,
        "asset_type": asset.type_label, "aspect_ratio": asset.aspect_ratio, "image_size": asset.image_size,
        "brand": body.get("brand", ""), "tier": tier, "tier_detail": tier_spec["detail_level"],
        "tier_guidance": tier_spec.get("guidance", ""), "theme": asset.theme,
        "mood": asset.theme.replace("_", " "), "emotional_elements": ", ".join(emotional),
        "palette": palette_text, "medium": medium, "line_weight": line_weight,
        "composition": composition_text, "composition_keyword": keyword, "must_include": ", ".join(must),
        "luxury": f"Luxury finish: {', '.join(luxury)}." if luxury else "",
    }
    try:
        paragraph = " ".join(body["master_prompt"].format(**values).split())
    except (KeyError, IndexError, ValueError) as exc:  # a body saved before validation existed
        raise TemplateError(f"template v{version} master_prompt cannot be rendered: {exc}") from None

    lines = [
        f"Brief: {paragraph}",
        f"Asset type: {asset.type_label}",
        f"Aspect ratio: {asset.aspect_ratio}",
        f"Image size: {asset.image_size}",
        f"Tier: {tier} ({tier_spec['detail_level']})",
        f"Emotional layer ({asset.theme}): {'; '.join(emotional)}",
        f"Style: {medium}; palette {palette_text}; line weight {line_weight}; composition {keyword}: {composition_text}",
    ]
    if luxury_applied:
        lines.append(f"Luxury indicators: {'; '.join(luxury)}")
    if must:
        lines.append(f"Must include: {'; '.join(must)}")
    if avoid:
        lines.append(f"Avoid: {'; '.join(avoid)}")
    lines.append(f"Required elements: {'; '.join(required)}")
    text = "\n".join(lines)
    if len(text) > MAX_BRIEF_CHARS:  # a body that reached the table without save-time checks (SQL)
        raise BriefTooLong(f"template v{version} {_too_long(asset, len(text))}")
    elements_used = len(emotional) + len(style_elements) + len(luxury) + len(must)

    say(ev.PromptTemplateComplete, template_version=version, length=len(text), elements_used=elements_used,
        required_elements=required, brief=text)
    return Brief(text=text, tier=tier, required_elements=required, elements_used=elements_used,
                 template_version=version, asset_id=asset.id, aspect_ratio=asset.aspect_ratio,
                 image_size=asset.image_size, sections=tuple(sections))


class BriefTooLong(TemplateError):
    """A rendered brief over MAX_BRIEF_CHARS."""


def _too_long(asset: Asset, length: int) -> str:
    return (f"renders a {length:,}-character brief for asset {asset.id!r}, over the {MAX_BRIEF_CHARS:,}-character "
            "limit; shorten the master prompt or the style and tier texts")


def check_brief_sizes(body: dict, assets) -> None:
    """Render ``body`` for every asset; raise TemplateError naming each asset whose brief is too long."""
    template = TemplateVersion(0, body, None, None, None)
    problems = []
    for asset in assets:
        try:
            build_brief(asset, template)
        except BriefTooLong as exc:
            problems.append(str(exc).removeprefix("template v0 "))
        except TemplateError:  # e.g. a theme the body lacks: the session reports it for that catalog
            pass
    if problems:
        shown = problems[:5] + ([f"... and {len(problems) - 5} more assets"] if len(problems) > 5 else [])
        raise TemplateError("invalid template body: it\n  - " + "\n  - ".join(shown))


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in items if not (x.lower() in seen or seen.add(x.lower()))]


# --- the competition's question and its scoring ------------------------------------------------
_SYSTEM_PROMPT = (
    "You are the prompt writer for a brand studio's image generator. Turn the art-direction brief "
    "into one image-generation prompt: concrete subject, setting, composition, lighting, palette and "
    "finish, in 60 to 140 words, with no lettering in the image. Work every item on the brief's "
    "'Required elements' line into the prompt in plain words. Reply with JSON only, no code fence: "
    '{"prompt": string, "confidence": number between 0 and 1 (how well the prompt meets the brief), '
    '"rationale": string (one sentence on your main choice)}.'
)


def competition_messages(brief: Brief | str) -> list[dict]:
    """Chat messages asking a model for {"prompt", "confidence", "rationale"} as JSON."""
    text = brief.text if isinstance(brief, Brief) else str(brief)
    return [{"role": "system", "content": _SYSTEM_PROMPT}, {"role": "user", "content": text}]


# Words that carry no requirement: "a rolled scroll with a wax seal" needs scroll, rolled, wax, seal.
_STOPWORDS = frozenset(
    "a an the and or of with in on at to for from by into onto its it is are as be this that their".split())
# British and American spellings count as the same word.
_SPELLINGS = {"grey": "gray", "colour": "color", "colours": "colors", "centred": "centered",
              "centre": "center", "neighbour": "neighbor", "jewellery": "jewelry"}
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    word = _SPELLINGS.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def coverage(prompt: str, required_elements: list[str]) -> float:
    """Fraction (0–1) of ``required_elements`` present in ``prompt``; 1.0 when none are required.

    An element counts as present when every one of its content words appears
    somewhere in the prompt. Matching is case-insensitive, ignores punctuation,
    hyphens and small words (a, the, with, of, ...), and compares crude singular
    stems (seals ~ seal, accents ~ accent, boxes ~ box, families ~ family) and
    British/American spellings (grey ~ gray), so "wax seals on a rolled scroll"
    covers "a rolled scroll with a wax seal". Word order does not matter.
    """
    if not required_elements:
        return 1.0
    words = _content_words(prompt)
    lowered = prompt.lower()
    found = 0
    for element in required_elements:
        needed = _content_words(element)
        if needed:
            found += needed <= words
        else:  # an element made only of small words: fall back to the literal phrase
            found += element.strip().lower() in lowered
    return found / len(required_elements)
