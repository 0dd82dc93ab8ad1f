"""Procedural brand images for the offline stand-in: recognisable, on-palette, never noise.

The stand-in must hand back images a person can judge in the gallery and the
approval gate, so each prompt becomes a drawing that reflects what it asks for:
an icon glyph chosen by keyword (will → scroll with seal, trust → shield, …), a
composed scene for illustrations and heroes, a tiling pattern for backgrounds, or
a card layout for social cards. The seed varies composition and palette accents.

Speed matters (benchmarks render hundreds): everything is drawn at size with
Pillow primitives, gradients come from Pillow's C routines, PNG uses
compress_level=1, and drawing happens in palette mode. A 1024² image takes ~5-10 ms.
"""
from __future__ import annotations

import hashlib
import io
import random
import re
from functools import lru_cache
from typing import Callable

from PIL import Image, ImageDraw, PngImagePlugin

__all__ = ["BRAND_PALETTE", "GLYPHS", "asset_kind", "glyph_for", "render_image"]

BRAND_PALETTE = {
    "navy": "#1F2A44",
    "gold": "#C9A227",
    "ivory": "#F7F3EA",
    "sage": "#8FA89B",
    "slate": "#5B6770",
    "clay": "#C98B6B",
}
NAVY, GOLD, IVORY, SAGE, SLATE, CLAY = (BRAND_PALETTE[k] for k in ("navy", "gold", "ivory", "sage", "slate", "clay"))

_KIND_WORDS = {
    "card": ("social card", "social media card", "og image", "open graph", "share card", "social"),
    "pattern": ("background", "pattern", "texture", "tile", "wallpaper"),
    "scene": ("illustration", "hero", "scene", "banner", "landscape", "header image"),
    "icon": ("icon", "glyph", "symbol", "pictogram", "favicon", "badge"),
}

# keyword → glyph; the keyword that appears earliest in the prompt wins (the subject usually comes first)
_GLYPH_WORDS = {
    # bare "will" is left out: in prompts it is mostly the verb
    "scroll": ("last will", "testament", "a will", "wills", "scroll", "document", "deed", "certificate"),
    "shield": ("trust", "shield", "protection", "protect"),
    "key": ("executor", "key", "access"),
    "hands_heart": ("beneficiary", "beneficiaries", "inheritance", "open hands", "hands", "gift", "charity"),
    "fountain_pen": ("power of attorney", "attorney", "fountain pen", "lawyer"),
    "medical_heart": ("healthcare directive", "health care", "healthcare", "medical", "living will", "hospital"),
    "umbrella": ("guardian", "guardianship", "umbrella", "minor", "children"),
    "house": ("house", "home", "property", "real estate", "mortgage"),
    "family": ("family", "people", "parents", "couple", "generations"),
    "signature": ("signature", "sign", "signing", "e-sign", "notary"),
    "calendar": ("calendar", "deadline", "date", "schedule", "reminder", "appointment"),
    "padlock": ("lock", "padlock", "secure", "security", "privacy", "encrypt", "vault", "password"),
    "checklist": ("checklist", "check list", "to-do", "todo", "steps", "tasks", "list"),
    "scales": ("probate", "court", "legal", "law", "justice", "scales"),
    "coins": ("asset", "money", "finance", "tax", "savings", "coins", "estate value", "investment"),
    "envelope": ("letter", "envelope", "mail", "notify", "message", "invite"),
    "tree": ("legacy", "heritage", "family tree", "tree", "roots"),
}


@lru_cache(maxsize=None)
def _word_pattern(word: str) -> re.Pattern:
    # whole words (plurals allowed): "sign" must not fire inside "design", nor "tile" inside "titled"
    return re.compile(r"(?<![a-z])" + re.escape(word.strip()) + r"(?:s|es)?(?![a-z])")


def _first_match(text: str, words: tuple[str, ...]) -> tuple[int, int] | None:
    """(position, -length) of the earliest keyword; the longer one wins a tie ("family tree" over "family")."""
    hits = [(m.start(), -len(w)) for w in words if (m := _word_pattern(w).search(text))]
    return min(hits) if hits else None


def _earliest(text: str, table: dict[str, tuple[str, ...]]) -> str | None:
    ranked = [(hit, name) for name, words in table.items() if (hit := _first_match(text, words))]
    return min(ranked)[1] if ranked else None


def asset_kind(prompt: str) -> str:
    """'icon' | 'scene' | 'pattern' | 'card' from the prompt's wording (default: scene)."""
    text = prompt.lower()
    if _first_match(text, _KIND_WORDS["card"]):  # a social card may mention its icon or background
        return "card"
    return _earliest(text, {k: v for k, v in _KIND_WORDS.items() if k != "card"}) or "scene"


def glyph_for(prompt: str, seed: int = 0) -> str:
    """The glyph a prompt asks for; without a keyword, one chosen by seed."""
    found = _earliest(prompt.lower(), _GLYPH_WORDS)
    if found:
        return found
    names = sorted(GLYPHS)
    return names[seed % len(names)]


# --- glyphs: drawn in a unit box (x, y, size) with a stroke width ---------------------------------
def _glyph_scroll(d: ImageDraw.ImageDraw, x, y, s, fg, accent, bg):
    w = max(2, s // 28)
    d.rounded_rectangle([x + s * .2, y + s * .1, x + s * .78, y + s * .88], radius=s * .04, fill=bg, outline=fg, width=w)
    for i in range(5):
        ly = y + s * (.24 + i * .1)
        d.line([x + s * .3, ly, x + s * (.68 if i < 4 else .5), ly], fill=fg, width=w)
    d.ellipse([x + s * .58, y + s * .66, x + s * .82, y + s * .9], fill=accent, outline=fg, width=w)
    d.polygon([(x + s * .62, y + s * .86), (x + s * .66, y + s * .98), (x + s * .7, y + s * .9),
               (x + s * .74, y + s * .98), (x + s * .78, y + s * .86)], fill=accent)


def _glyph_shield(d, x, y, s, fg, accent, bg):
    w = max(2, s // 24)
    pts = [(x + s * .5, y + s * .08), (x + s * .85, y + s * .2), (x + s * .8, y + s * .58),
           (x + s * .5, y + s * .92), (x + s * .2, y + s * .58), (x + s * .15, y + s * .2)]
    d.polygon(pts, fill=fg)
    inner = [(x + s * .5, y + s * .17), (x + s * .76, y + s * .26), (x + s * .72, y + s * .56),
             (x + s * .5, y + s * .82), (x + s * .28, y + s * .56), (x + s * .24, y + s * .26)]
    d.polygon(inner, fill=bg)
    d.line([(x + s * .36, y + s * .5), (x + s * .47, y + s * .62), (x + s * .66, y + s * .38)], fill=accent, width=w * 2)


def _glyph_key(d, x, y, s, fg, accent, bg):
    w = max(3, s // 14)
    d.ellipse([x + s * .1, y + s * .3, x + s * .45, y + s * .65], outline=fg, width=w)
    d.ellipse([x + s * .22, y + s * .42, x + s * .33, y + s * .53], fill=accent)
    d.line([x + s * .45, y + s * .475, x + s * .9, y + s * .475], fill=fg, width=w)
    for tx in (.72, .84):
        d.line([x + s * tx, y + s * .475, x + s * tx, y + s * .64], fill=fg, width=w)


def _glyph_hands_heart(d, x, y, s, fg, accent, bg):
    _heart(d, x + s * .32, y + s * .08, s * .36, accent)
    d.chord([x + s * .08, y + s * .3, x + s * .92, y + s * .86], 0, 180, fill=fg)  # open hands, cupped together
    d.line([x + s * .5, y + s * .6, x + s * .5, y + s * .86], fill=bg, width=max(2, s // 30))
    for thumb in (.06, .8):
        d.ellipse([x + s * thumb, y + s * .48, x + s * (thumb + .14), y + s * .62], fill=fg)


def _glyph_fountain_pen(d, x, y, s, fg, accent, bg):
    nib = [(x + s * .5, y + s * .92), (x + s * .3, y + s * .58), (x + s * .38, y + s * .45),
           (x + s * .62, y + s * .45), (x + s * .7, y + s * .58)]
    d.polygon(nib, fill=accent, outline=fg)
    d.line([x + s * .5, y + s * .6, x + s * .5, y + s * .88], fill=fg, width=max(2, s // 40))
    d.ellipse([x + s * .46, y + s * .58, x + s * .54, y + s * .66], fill=fg)
    d.rounded_rectangle([x + s * .38, y + s * .08, x + s * .62, y + s * .45], radius=s * .05, fill=fg)
    d.rectangle([x + s * .38, y + s * .36, x + s * .62, y + s * .41], fill=accent)


def _glyph_medical_heart(d, x, y, s, fg, accent, bg):
    _heart(d, x + s * .1, y + s * .12, s * .8, fg)
    bar = s * .07
    cx, cy = x + s * .5, y + s * .45
    d.rectangle([cx - bar, cy - s * .2, cx + bar, cy + s * .2], fill=bg)
    d.rectangle([cx - s * .2, cy - bar, cx + s * .2, cy + bar], fill=bg)


def _glyph_umbrella(d, x, y, s, fg, accent, bg):
    d.pieslice([x + s * .08, y + s * .1, x + s * .92, y + s * .7], 180, 360, fill=fg)
    d.line([x + s * .5, y + s * .4, x + s * .5, y + s * .52], fill=fg, width=max(2, s // 30))
    _figure(d, x + s * .36, y + s * .55, s * .22, accent)
    _figure(d, x + s * .6, y + s * .65, s * .15, accent)


def _glyph_house(d, x, y, s, fg, accent, bg):
    d.polygon([(x + s * .5, y + s * .1), (x + s * .92, y + s * .48), (x + s * .08, y + s * .48)], fill=fg)
    d.rectangle([x + s * .18, y + s * .46, x + s * .82, y + s * .9], fill=fg)
    d.rounded_rectangle([x + s * .42, y + s * .62, x + s * .58, y + s * .9], radius=s * .02, fill=accent)
    d.rectangle([x + s * .24, y + s * .56, x + s * .36, y + s * .68], fill=bg)
    d.rectangle([x + s * .64, y + s * .56, x + s * .76, y + s * .68], fill=bg)


def _glyph_family(d, x, y, s, fg, accent, bg):
    _figure(d, x + s * .12, y + s * .2, s * .3, fg)
    _figure(d, x + s * .58, y + s * .2, s * .3, fg)
    _figure(d, x + s * .4, y + s * .48, s * .2, accent)


def _glyph_signature(d, x, y, s, fg, accent, bg):
    w = max(3, s // 30)
    pts = [(x + s * (.1 + i * .04), y + s * (.55 + (.08 if i % 2 else -.08) * (1 - i / 22))) for i in range(19)]
    d.line(pts, fill=fg, width=w, joint="curve")
    d.line([x + s * .1, y + s * .75, x + s * .9, y + s * .75], fill=accent, width=max(2, w // 2))
    d.polygon([(x + s * .78, y + s * .15), (x + s * .88, y + s * .25), (x + s * .62, y + s * .5),
               (x + s * .55, y + s * .52), (x + s * .57, y + s * .44)], fill=fg)


def _glyph_calendar(d, x, y, s, fg, accent, bg):
    w = max(2, s // 30)
    d.rounded_rectangle([x + s * .12, y + s * .18, x + s * .88, y + s * .88], radius=s * .06, fill=bg, outline=fg, width=w)
    d.rectangle([x + s * .12, y + s * .18, x + s * .88, y + s * .34], fill=fg)
    for rx in (.3, .7):
        d.rounded_rectangle([x + s * (rx - .03), y + s * .1, x + s * (rx + .03), y + s * .26], radius=s * .02, fill=accent)
    for row in range(3):
        for col in range(4):
            cx, cy = x + s * (.22 + col * .18), y + s * (.45 + row * .14)
            fill = accent if (row, col) == (1, 2) else fg
            d.rectangle([cx, cy, cx + s * .08, cy + s * .07], fill=fill)


def _glyph_padlock(d, x, y, s, fg, accent, bg):
    d.arc([x + s * .28, y + s * .1, x + s * .72, y + s * .6], 180, 360, fill=fg, width=max(4, s // 12))
    d.line([x + s * .3, y + s * .35, x + s * .3, y + s * .46], fill=fg, width=max(4, s // 12))
    d.line([x + s * .7, y + s * .35, x + s * .7, y + s * .46], fill=fg, width=max(4, s // 12))
    d.rounded_rectangle([x + s * .18, y + s * .44, x + s * .82, y + s * .9], radius=s * .06, fill=fg)
    d.ellipse([x + s * .45, y + s * .56, x + s * .55, y + s * .66], fill=accent)
    d.rectangle([x + s * .48, y + s * .64, x + s * .52, y + s * .78], fill=accent)


def _glyph_checklist(d, x, y, s, fg, accent, bg):
    w = max(2, s // 30)
    for i in range(4):
        ty = y + s * (.16 + i * .2)
        d.rounded_rectangle([x + s * .14, ty, x + s * .28, ty + s * .14], radius=s * .02, outline=fg, width=w)
        if i < 3:
            d.line([(x + s * .16, ty + s * .07), (x + s * .2, ty + s * .12), (x + s * .3, ty - s * .01)],
                   fill=accent, width=w * 2)
        d.line([x + s * .36, ty + s * .07, x + s * (.86 - .08 * (i % 2)), ty + s * .07], fill=fg, width=w * 2)


def _glyph_scales(d, x, y, s, fg, accent, bg):
    w = max(2, s // 28)
    d.line([x + s * .5, y + s * .12, x + s * .5, y + s * .84], fill=fg, width=w * 2)
    d.line([x + s * .16, y + s * .24, x + s * .84, y + s * .24], fill=fg, width=w * 2)
    d.polygon([(x + s * .32, y + s * .9), (x + s * .68, y + s * .9), (x + s * .5, y + s * .8)], fill=fg)
    for cx in (.24, .76):
        d.line([x + s * cx, y + s * .24, x + s * (cx - .1), y + s * .55], fill=fg, width=w)
        d.line([x + s * cx, y + s * .24, x + s * (cx + .1), y + s * .55], fill=fg, width=w)
        d.chord([x + s * (cx - .14), y + s * .42, x + s * (cx + .14), y + s * .66], 0, 180, fill=accent)


def _glyph_coins(d, x, y, s, fg, accent, bg):
    for i in range(4):
        cy = y + s * (.7 - i * .12)
        d.ellipse([x + s * .18, cy, x + s * .62, cy + s * .16], fill=accent if i % 2 else fg, outline=fg)
    d.ellipse([x + s * .5, y + s * .3, x + s * .88, y + s * .68], fill=accent, outline=fg, width=max(2, s // 40))
    d.ellipse([x + s * .6, y + s * .4, x + s * .78, y + s * .58], outline=fg, width=max(2, s // 40))


def _glyph_envelope(d, x, y, s, fg, accent, bg):
    w = max(2, s // 30)
    d.rectangle([x + s * .1, y + s * .25, x + s * .9, y + s * .78], fill=bg, outline=fg, width=w)
    d.line([(x + s * .1, y + s * .25), (x + s * .5, y + s * .56), (x + s * .9, y + s * .25)], fill=fg, width=w)
    d.ellipse([x + s * .43, y + s * .49, x + s * .57, y + s * .63], fill=accent)


def _glyph_tree(d, x, y, s, fg, accent, bg):
    d.rectangle([x + s * .45, y + s * .5, x + s * .55, y + s * .9], fill=fg)
    for (cx, cy, r) in ((.5, .3, .22), (.32, .45, .17), (.68, .45, .17), (.5, .5, .15)):
        d.ellipse([x + s * (cx - r), y + s * (cy - r), x + s * (cx + r), y + s * (cy + r)], fill=accent if r < .16 else fg)
    d.line([x + s * .2, y + s * .9, x + s * .8, y + s * .9], fill=fg, width=max(2, s // 30))


def _heart(d, x, y, s, fill):
    d.ellipse([x, y, x + s * .55, y + s * .55], fill=fill)
    d.ellipse([x + s * .45, y, x + s, y + s * .55], fill=fill)
    d.polygon([(x + s * .03, y + s * .38), (x + s * .97, y + s * .38), (x + s * .5, y + s * .92)], fill=fill)


def _figure(d, x, y, s, fill):
    d.ellipse([x + s * .3, y, x + s * .7, y + s * .4], fill=fill)
    d.pieslice([x, y + s * .45, x + s, y + s * 1.45], 180, 360, fill=fill)


GLYPHS: dict[str, Callable] = {
    "scroll": _glyph_scroll, "shield": _glyph_shield, "key": _glyph_key, "hands_heart": _glyph_hands_heart,
    "fountain_pen": _glyph_fountain_pen, "medical_heart": _glyph_medical_heart, "umbrella": _glyph_umbrella,
    "house": _glyph_house, "family": _glyph_family, "signature": _glyph_signature, "calendar": _glyph_calendar,
    "padlock": _glyph_padlock, "checklist": _glyph_checklist, "scales": _glyph_scales, "coins": _glyph_coins,
    "envelope": _glyph_envelope, "tree": _glyph_tree,
}


# --- compositions ----------------------------------------------------------------------------------
def _hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _canvas(width: int, height: int, color: str) -> Image.Image:
    # Palette mode: the drawings use a few dozen colours, and a 1-byte-per-pixel PNG
    # encodes ~6x faster than RGB (3 ms instead of 20 ms at 1024²).
    return Image.new("P", (width, height), color)


def _gradient(width: int, height: int, top: str, bottom: str, *, bands: int = 48) -> Image.Image:
    """A vertical gradient in flat bands: a deliberate poster look, and palette-friendly."""
    img = _canvas(width, height, top)
    d = ImageDraw.Draw(img)
    (r0, g0, b0), (r1, g1, b1) = _hex_rgb(top), _hex_rgb(bottom)
    for i in range(bands):
        f = i / (bands - 1)
        color = (round(r0 + (r1 - r0) * f), round(g0 + (g1 - g0) * f), round(b0 + (b1 - b0) * f))
        d.rectangle([0, height * i / bands, width, height * (i + 1) / bands], fill=color)
    return img


def _draw_icon(prompt: str, width: int, height: int, rng: random.Random) -> Image.Image:
    dark = rng.random() < 0.35
    bg, fg = (NAVY, IVORY) if dark else (IVORY, NAVY)
    accent = rng.choice([GOLD, GOLD, CLAY, SAGE])
    img = _canvas(width, height, bg if rng.random() < 0.5 else (SAGE if not dark else SLATE))
    d = ImageDraw.Draw(img)
    side = min(width, height)
    pad = side * 0.1
    tile = [(width - side) / 2 + pad, (height - side) / 2 + pad, (width + side) / 2 - pad, (height + side) / 2 - pad]
    d.rounded_rectangle(tile, radius=side * rng.choice([0.12, 0.2, 0.5]), fill=bg)
    s = int(side * 0.56)
    GLYPHS[glyph_for(prompt, rng.randrange(1000))](d, (width - s) // 2, (height - s) // 2, s, fg, accent, bg)
    return img


def _draw_scene(prompt: str, width: int, height: int, rng: random.Random) -> Image.Image:
    text = prompt.lower()
    night = any(w in text for w in ("night", "moon", "evening", "dusk"))
    sky_top, sky_bottom = (NAVY, SLATE) if night else (rng.choice([IVORY, "#EADFC8"]), rng.choice([CLAY, GOLD, SAGE]))
    img = _gradient(width, height, sky_top, sky_bottom)
    d = ImageDraw.Draw(img)
    horizon = height * rng.uniform(0.55, 0.7)
    r = min(width, height) * rng.uniform(0.07, 0.12)
    cx, cy = width * rng.uniform(0.15, 0.85), horizon - height * rng.uniform(0.15, 0.35)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=IVORY if night else GOLD)
    for layer, color in enumerate((SAGE, SLATE, NAVY)):  # layered hills, back to front
        base = horizon + layer * height * 0.1
        points = [(0, height)]
        for i in range(9):
            points.append((width * i / 8, base - height * rng.uniform(0.02, 0.1)))
        points.append((width, height))
        d.polygon(points, fill=color)
    ground = horizon + height * 0.12
    if any(w in text for w in ("house", "home", "property", "family")) or rng.random() < 0.5:
        s = int(min(width, height) * 0.22)
        GLYPHS["house"](d, int(width * rng.uniform(0.2, 0.6)), int(ground - s * 0.85), s, IVORY, GOLD, NAVY)
    for _ in range(rng.randint(1, 4)):  # trees
        s = int(min(width, height) * rng.uniform(0.1, 0.18))
        GLYPHS["tree"](d, int(width * rng.uniform(0.0, 0.9)), int(ground - s * 0.8), s, NAVY, SAGE, IVORY)
    if rng.random() < 0.6:  # a path winding from the foreground towards the horizon
        mid = width * rng.uniform(0.3, 0.7)
        d.polygon([(mid - width * 0.07, height), (mid + width * 0.07, height),
                   (mid + width * 0.01, ground), (mid - width * 0.01, ground)], fill=GOLD if night else IVORY)
    if any(w in text for w in ("family", "people", "couple", "parent", "child", "generation")):
        s = int(min(width, height) * 0.1)
        for i in range(rng.randint(2, 4)):
            _figure(d, width * 0.62 + i * s * 0.8, ground + s * (0.2 if i % 2 else 0), s * (1 if i < 2 else 0.7), CLAY)
    subject = _earliest(text, _GLYPH_WORDS)
    if subject and subject not in ("house", "tree", "family"):  # the brief's subject, as an emblem in the sky
        s = int(min(width, height) * 0.22)
        mx = int(width * (0.12 if cx > width / 2 else 0.88) - s / 2)
        my = int(height * 0.08)
        d.ellipse([mx - s * 0.15, my - s * 0.15, mx + s * 1.15, my + s * 1.15], fill=IVORY, outline=GOLD,
                  width=max(2, s // 30))
        GLYPHS[subject](d, mx + s // 8, my + s // 8, s * 3 // 4, NAVY, GOLD, IVORY)
    return img


def _draw_pattern(prompt: str, width: int, height: int, rng: random.Random) -> Image.Image:
    bg, fg, accent = rng.choice([(IVORY, SAGE, GOLD), (NAVY, SLATE, GOLD), (IVORY, SLATE, CLAY), (SAGE, IVORY, NAVY)])
    cell = max(8, int(min(width, height) / rng.choice([6, 8, 10, 12])))
    tile = _canvas(cell * 2, cell * 2, bg)  # draw one tile, then repeat it by pasting
    d = ImageDraw.Draw(tile)
    style = rng.randrange(4)
    for ox, oy in ((0, 0), (cell, cell), (cell, 0), (0, cell)):
        color = accent if (ox == oy) else fg
        if style == 0:
            d.ellipse([ox + cell * .25, oy + cell * .25, ox + cell * .75, oy + cell * .75], outline=color, width=max(1, cell // 12))
        elif style == 1:
            d.polygon([(ox + cell / 2, oy + cell * .1), (ox + cell * .9, oy + cell / 2),
                       (ox + cell / 2, oy + cell * .9), (ox + cell * .1, oy + cell / 2)], outline=color, width=max(1, cell // 14))
        elif style == 2:
            d.line([ox, oy + cell, ox + cell, oy], fill=color, width=max(1, cell // 10))
        else:
            d.arc([ox - cell / 2, oy + cell / 2, ox + cell / 2, oy + cell * 1.5], 270, 360, fill=color, width=max(1, cell // 12))
            d.arc([ox + cell / 2, oy - cell / 2, ox + cell * 1.5, oy + cell / 2], 90, 180, fill=color, width=max(1, cell // 12))
    img = Image.new("P", (width, height), 0)  # index 0 is the tile's background
    img.putpalette(tile.getpalette())
    for ty in range(0, height, cell * 2):
        for tx in range(0, width, cell * 2):
            img.paste(tile, (tx, ty))
    return img


def _draw_card(prompt: str, width: int, height: int, rng: random.Random) -> Image.Image:
    img = _canvas(width, height, IVORY)
    d = ImageDraw.Draw(img)
    band = rng.choice([NAVY, SAGE, SLATE])
    vertical = width >= height
    if vertical:
        d.rectangle([0, 0, width * 0.38, height], fill=band)
    else:
        d.rectangle([0, 0, width, height * 0.38], fill=band)
    d.rectangle([0, height - height * 0.04, width, height], fill=GOLD)
    s = int(min(width, height) * 0.34)
    gx, gy = (int(width * 0.19 - s / 2), (height - s) // 2) if vertical else ((width - s) // 2, int(height * 0.19 - s / 2))
    GLYPHS[glyph_for(prompt, rng.randrange(1000))](d, gx, gy, s, IVORY, GOLD, band)
    left = width * 0.45 if vertical else width * 0.1
    top = height * 0.25 if vertical else height * 0.5
    for i, frac in enumerate((0.42, 0.34, 0.26, 0.3)):  # headline and text lines, as bars
        h = height * (0.07 if i == 0 else 0.035)
        d.rounded_rectangle([left, top, left + width * frac, top + h], radius=h / 2, fill=NAVY if i == 0 else SLATE)
        top += h + height * 0.05
    d.rounded_rectangle([left, top + height * 0.03, left + width * 0.18, top + height * 0.12], radius=height * 0.02, fill=GOLD)
    return img


_COMPOSERS = {"icon": _draw_icon, "scene": _draw_scene, "pattern": _draw_pattern, "card": _draw_card}


def render_image(prompt: str, *, width: int = 1024, height: int = 1024, seed: int = 0) -> bytes:
    """PNG bytes of a brand-palette drawing for ``prompt`` at exactly ``width`` × ``height``."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()  # stable across processes, unlike hash()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    kind = asset_kind(prompt)
    img = _COMPOSERS[kind](prompt, width, height, rng)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "assetgen stand-in renderer (simulated image)")
    info.add_text("parameters", f"{prompt[:2000]}\nSeed: {seed}, Size: {width}x{height}, Kind: {kind}")
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1, pnginfo=info)
    return out.getvalue()
