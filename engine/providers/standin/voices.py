"""How each stand-in model writes an image prompt: distinct voices, seeded coverage and confidence.

The model competition needs competitors that really differ, offline: Claude writes
long and sensory, GPT-5 Mini short and comma-structured, Gemini Flash in camera and
lighting terms, Llama poetic, DeepSeek like a spec sheet. Each covers a seeded,
model-dependent share of the brief's required elements, always verbatim, so the
engine's coverage score measures something real.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["Brief", "Voice", "VOICES", "parse_brief", "voice_for", "write_prompt"]

ASSET_KINDS = ("social card", "illustration", "background", "pattern", "hero", "icon")


@dataclass(frozen=True)
class Brief:
    text: str
    elements: tuple[str, ...]
    kind: str


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):  # multimodal parts
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _field(text: str, *names: str) -> str | None:
    for name in names:
        match = re.search(rf"^\s*{name}\s*:\s*(.+)$", text, re.I | re.M)
        if match:
            return match.group(1).strip()
    return None


def parse_brief(messages: list[dict]) -> Brief:
    """Read "Brief: …", "Required elements: a; b; c" and an asset kind from the user messages."""
    user = "\n".join(_message_text(m) for m in messages if m.get("role") == "user")
    brief = _field(user, "Brief", "Description") or user.strip().splitlines()[0][:240] if user.strip() else ""
    raw_elements = _field(user, "Required elements", "Required", "Must include") or ""
    elements = tuple(e.strip().rstrip(".") for e in re.split(r"[;|]", raw_elements) if e.strip())
    kind_hint = (_field(user, "Asset type", "Asset kind", "Type", "Kind") or "") + " " + brief + " " + user
    lowered = kind_hint.lower()
    positions = {k: lowered.find(k) for k in ASSET_KINDS if k in lowered}
    kind = min(positions, key=positions.get) if positions else "illustration"
    return Brief(text=brief, elements=elements, kind=kind)


@dataclass(frozen=True)
class Voice:
    family: str
    coverage: float         # chance that each required element makes it into the prompt
    confidence_bias: float  # centre of the self-reported confidence
    confidence_spread: float
    reasoning_tokens: tuple[int, int]  # hidden reasoning billed as completion (0, 0 = none)


VOICES = {
    "anthropic": Voice("anthropic", 0.92, 0.80, 0.05, (0, 0)),
    "openai": Voice("openai", 0.72, 0.74, 0.07, (180, 900)),
    "google": Voice("google", 0.80, 0.77, 0.06, (90, 520)),
    "meta-llama": Voice("meta-llama", 0.58, 0.88, 0.05, (0, 0)),
    "deepseek": Voice("deepseek", 0.85, 0.68, 0.08, (0, 0)),
    "generic": Voice("generic", 0.70, 0.70, 0.08, (0, 0)),
}

PALETTE_WORDS = "deep navy, warm gold, ivory, sage green and slate"


def voice_for(model_id: str) -> Voice:
    return VOICES.get(model_id.split("/", 1)[0], VOICES["generic"])


def _pick(rng: random.Random, options: list[str]) -> str:
    return options[rng.randrange(len(options))]


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _join(items: list[str], last: str = "and") -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


# The brief reads as an instruction to the writer ('Design the icon "Estate Tax" for …'); a model
# turns that into a description of the picture, so the voices start from '"Estate Tax" for …'.
_IMPERATIVE = re.compile(r"^\s*(?:please\s+)?(?:design|create|draw|make|produce|generate|render)\s+"
                         r"(?:the|an?)\s+[a-z -]{2,40}?\s+(?=[\"\u201c])", re.I)


def _subject(brief: Brief) -> str:
    """The brief's text as a description of the picture, without its trailing full stop."""
    return _IMPERATIVE.sub("", brief.text, count=1).rstrip(".")


def _anthropic(brief: Brief, covered: list[str], rng: random.Random) -> str:
    opener = _pick(rng, ["A quietly confident", "A warm, reassuring", "An unhurried, gently lit",
                         "A calm and dignified"])
    texture = _pick(rng, ["the soft tooth of cotton paper", "brushed brass catching a little light",
                          "linen grain under a faint watercolour wash", "matte card stock with a subtle emboss"])
    mood = _pick(rng, ["the feeling of a conversation that finally got settled",
                       "the relief of knowing those you love are looked after",
                       "a kitchen table on a Sunday morning, papers in order, coffee still warm"])
    parts = [f"{opener} {brief.kind} for an estate-planning studio: {_subject(brief)}."]
    if covered:
        parts.append(f"Bring in {_join(covered)}, each given room to breathe and read clearly at a glance.")
    parts.append(f"Render it in {PALETTE_WORDS}, with {texture}; the palette should feel "
                 f"like late-afternoon light, never corporate or cold.")
    parts.append(f"It should carry {mood}. Generous negative space, balanced composition, "
                 "rounded forms, no text, no clutter.")
    return " ".join(parts)


def _openai(brief: Brief, covered: list[str], rng: random.Random) -> str:
    style = _pick(rng, ["flat vector", "minimal line art", "clean geometric vector", "soft flat artwork"])
    bits = [f"{brief.kind} of {_subject(brief)}", *covered, style, "navy and gold palette",
            _pick(rng, ["centered composition", "balanced layout", "simple silhouette"]), "no text"]
    return ", ".join(bits)


def _google(brief: Brief, covered: list[str], rng: random.Random) -> str:
    light = _pick(rng, ["soft key light from the upper left with a gentle rim light",
                        "diffused window light, low contrast, warm 3200K tone",
                        "golden-hour backlight with a subtle lens bloom"])
    lens = _pick(rng, ["50mm lens, f/2.8, shallow depth of field", "85mm portrait lens, f/4",
                       "35mm lens at eye level, f/5.6, crisp focus"])
    subject = f"Studio-quality {brief.kind}: {_subject(brief)}"
    featuring = f", featuring {_join(covered)}" if covered else ""
    return (f"{subject}{featuring}. Lighting: {light}. Camera: {lens}. Colour grade: {PALETTE_WORDS}, "
            f"clean highlights, soft shadows, high dynamic range, no text.")


def _llama(brief: Brief, covered: list[str], rng: random.Random) -> str:
    feeling = _pick(rng, ["love that outlasts us", "a promise kept across the years",
                          "the tenderness of letting go, gently", "hope written down and handed on"])
    image = _pick(rng, ["like a lullaby in colour", "as soft as an evening hymn", "like a note folded with care"])
    parts = [f"{_a(brief.kind).capitalize()} that whispers of {feeling} — {_subject(brief)}."]
    if covered:
        parts.append(f"Let {_join(covered)} rise softly, {image}.")
    parts.append(f"Hues of {PALETTE_WORDS}, glowing with quiet hope.")
    return " ".join(parts)


def _deepseek(brief: Brief, covered: list[str], rng: random.Random) -> str:
    stroke = _pick(rng, ["2px", "3px", "4px"])
    grid = _pick(rng, ["8px grid", "12-column grid", "rule of thirds"])
    elements = "; ".join(covered) if covered else "n/a"
    return (f"TYPE: {brief.kind}. SUBJECT: {_subject(brief)}. ELEMENTS: {elements}. "
            f"PALETTE: #1F2A44 (navy), #C9A227 (gold), #F7F3EA (ivory), #8FA89B (sage). "
            f"STYLE: vector, {stroke} stroke, rounded caps. LAYOUT: {grid}, centred, 12% margin. "
            f"CONSTRAINTS: no text, no gradients over 2 stops, legible at 32px.")


def _generic(brief: Brief, covered: list[str], rng: random.Random) -> str:
    with_part = f" with {_join(covered)}" if covered else ""
    return f"{_a(brief.kind).capitalize()} of {_subject(brief)}{with_part}, in {PALETTE_WORDS}, clean and calm, no text."


# The fillers above avoid the renderer's subject keywords (people, letter, generations...), so a
# stand-in image shows the brief's subject, not a word from a model's turn of phrase.
_WRITERS = {"anthropic": _anthropic, "openai": _openai, "google": _google, "meta-llama": _llama,
            "deepseek": _deepseek, "generic": _generic}


def write_prompt(model_id: str, brief: Brief, rng: random.Random) -> tuple[str, list[str], float, str]:
    """(prompt, covered elements, confidence 0..1, rationale) in the model's own voice."""
    voice = voice_for(model_id)
    covered = [e for e in brief.elements if rng.random() < voice.coverage]
    if brief.elements and not covered and rng.random() < 0.5:  # rarely cover nothing at all
        covered = [brief.elements[rng.randrange(len(brief.elements))]]
    prompt = _WRITERS[voice.family](brief, covered, rng)
    share = len(covered) / len(brief.elements) if brief.elements else 1.0
    confidence = rng.gauss(voice.confidence_bias + 0.08 * (share - 0.75), voice.confidence_spread)
    confidence = round(min(0.99, max(0.05, confidence)), 3)
    rationale = (f"Covers {len(covered)} of {len(brief.elements)} required elements; "
                 f"{_pick(rng, ['leans on mood and texture', 'keeps the silhouette simple', 'favours lighting cues', 'aims for an emotional read', 'states every constraint explicitly'])}"
                 f" for {_a(brief.kind)}.")
    return prompt, covered, confidence, rationale
