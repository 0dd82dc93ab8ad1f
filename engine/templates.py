"""Prompt templates: how a catalog asset becomes a brief for the competing models.

The template BODY is data (a JSON-serialisable dict, built-in default in
data/templates/default.json) so operators can edit it in the console's master
prompt editor; every saved edit is a new row of ``template_versions`` and one
row is active. Body keys:

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

``build_brief`` renders a body for one asset and, given ``emit``, narrates each
step as the template events of engine/events.py.
"""
from __future__ import annotations

import difflib
import json
import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from . import events as ev
from .catalog import Asset
from .store import Store

__all__ = [
    "TemplateError", "TemplateVersion", "Brief", "PLACEHOLDERS", "DEFAULT_TEMPLATE_PATH",
    "load_default_template_body", "default_template", "validate_template",
    "ensure_default_template", "active_template", "save_template_version", "activate_template",
    "list_template_versions", "get_template_version", "diff_template_versions",
    "select_tier", "build_brief", "competition_messages", "coverage",
]

DEFAULT_TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "data" / "templates" / "default.json"

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
_DEFAULT_REQUIRED = {"palette_colours": 2, "emotional_elements": 1, "luxury_indicators": 2}

Emit = Callable[[ev.Event], Any]


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


# --- the body ----------------------------------------------------------------------------------
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
        not isinstance(required.get(k, 0), int) or required.get(k, 0) < 0 for k in _DEFAULT_REQUIRED
    ):
        problems.append(f"required: expected an object of non-negative counts: {', '.join(_DEFAULT_REQUIRED)}")
    if problems:
        raise TemplateError("invalid template body:\n  - " + "\n  - ".join(problems))
    return body


def _check_master_prompt(text: Any, problems: list[str]) -> None:
    if not isinstance(text, str) or not text.strip():
        problems.append("master_prompt: expected a non-empty string with {placeholders}")
        return
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        problems.append(f"master_prompt: {exc} (write a literal brace as {{{{ or }}}})")
        return
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


# --- versions in DuckDB ------------------------------------------------------------------------
_COLUMNS = "version, body, author, comment, created_at, active"


def _row_to_version(row: tuple) -> TemplateVersion:
    version, body, author, comment, created_at, active = row
    return TemplateVersion(int(version), json.loads(body) if isinstance(body, str) else body,
                           author, comment, created_at, bool(active))


def ensure_default_template(store: Store) -> int:
    """Insert the built-in body as version 1 (active) if there are no versions; return the active one.

    Safe to call from every process at start-up: the check and the insert share one
    write transaction, which holds the file lock.
    """
    with store.write() as con:
        (count,) = con.execute("SELECT count(*) FROM template_versions").fetchone()
        if count == 0:
            con.execute("INSERT INTO template_versions (version, body, author, comment, active) "
                        "VALUES (1, ?, 'built-in', 'default template (data/templates/default.json)', true)",
                        [json.dumps(load_default_template_body())])
            return 1
        active = con.execute("SELECT max(version) FROM template_versions WHERE active").fetchone()[0]
        if active is None:  # rows exist but none is active (edited by hand): the newest wins
            active = con.execute("SELECT max(version) FROM template_versions").fetchone()[0]
            con.execute("UPDATE template_versions SET active = (version = ?)", [active])
        return int(active)


def active_template(store: Store) -> TemplateVersion:
    """The active version, creating the default first on an empty table."""
    rows = store.query(f"SELECT {_COLUMNS} FROM template_versions WHERE active ORDER BY version DESC LIMIT 1")
    if rows:
        return _row_to_version(rows[0])
    return get_template_version(store, ensure_default_template(store))


def save_template_version(
    store: Store,
    body: dict,
    *,
    author: str | None = None,
    comment: str | None = None,
    activate: bool = False,
) -> int:
    """Validate ``body`` and store it as the next version; returns the new version number."""
    validate_template(body)
    payload = json.dumps(body, ensure_ascii=False)
    with store.write() as con:
        (version,) = con.execute("SELECT coalesce(max(version), 0) + 1 FROM template_versions").fetchone()
        con.execute("INSERT INTO template_versions (version, body, author, comment, active) VALUES (?, ?, ?, ?, false)",
                    [version, payload, author, comment])
        if activate:
            con.execute("UPDATE template_versions SET active = (version = ?)", [version])
    return int(version)


def activate_template(store: Store, version: int) -> None:
    """Make ``version`` the one new briefs use (sessions pick it up for their next item)."""
    with store.write() as con:
        known = [r[0] for r in con.execute("SELECT version FROM template_versions ORDER BY version").fetchall()]
        if version not in known:
            raise TemplateError(f"no template version {version}; known versions: "
                                f"{', '.join(map(str, known)) or 'none (run ensure_default_template first)'}")
        con.execute("UPDATE template_versions SET active = (version = ?)", [version])


def list_template_versions(store: Store) -> list[TemplateVersion]:
    """Every version, newest first."""
    rows = store.query(f"SELECT {_COLUMNS} FROM template_versions ORDER BY version DESC")
    return [_row_to_version(r) for r in rows]


def get_template_version(store: Store, version: int) -> TemplateVersion:
    rows = store.query(f"SELECT {_COLUMNS} FROM template_versions WHERE version = ?", [version])
    if not rows:
        known = [r[0] for r in store.query("SELECT version FROM template_versions ORDER BY version")]
        raise TemplateError(f"no template version {version}; known versions: {', '.join(map(str, known)) or 'none'}")
    return _row_to_version(rows[0])


def diff_template_versions(a_body: dict | TemplateVersion, b_body: dict | TemplateVersion,
                           *, a_label: str | None = None, b_label: str | None = None) -> str:
    """Unified diff of the two bodies as pretty JSON (keys sorted, so reordering is no change)."""
    def text_and_label(item, label, fallback):
        if isinstance(item, TemplateVersion):
            return json.dumps(item.body, indent=2, sort_keys=True, ensure_ascii=False), label or f"v{item.version}"
        return json.dumps(item, indent=2, sort_keys=True, ensure_ascii=False), label or fallback

    a_text, a_name = text_and_label(a_body, a_label, "a")
    b_text, b_name = text_and_label(b_body, b_label, "b")
    return "".join(difflib.unified_diff(a_text.splitlines(keepends=True), b_text.splitlines(keepends=True),
                                        fromfile=a_name, tofile=b_name))


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

    counts = {**_DEFAULT_REQUIRED, **body.get("required", {})}
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
    elements_used = len(emotional) + len(style_elements) + len(luxury) + len(must)

    say(ev.PromptTemplateComplete, template_version=version, length=len(text), elements_used=elements_used,
        required_elements=required, brief=text)
    return Brief(text=text, tier=tier, required_elements=required, elements_used=elements_used,
                 template_version=version, asset_id=asset.id, aspect_ratio=asset.aspect_ratio,
                 image_size=asset.image_size, sections=tuple(sections))


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
