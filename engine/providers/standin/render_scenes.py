"""Composed scenes for illustrations and heroes: a different setting per subject.

A kitchen table, an advisor's desk, a grandmother's letters, a bedside window, a
library, a study, a sofa, a tablet on linen, a lake dock, a porch, a memorial
garden, a winding path with milestones — chosen from the asset's title first
(then the earliest setting word in the prompt), so two illustrations about
different things no longer share one generic landscape. Props are flat Pillow
shapes in the brand palette; the seed moves the light, the sun and the trees.
"""
from __future__ import annotations

import math
import random
from typing import Callable

from PIL import Image, ImageDraw

from engine.providers.standin.render_glyphs import GLYPHS, figure
from engine.providers.standin.render_subject import earliest_keyword, first_listed, subject_of
from engine.providers.standin.render_palette import (CLAY, CREAM, DEEP_NAVY, GOLD, IVORY, LINEN, NAVY, PALE_SAGE, SAGE, SLATE, canvas,
                             gradient)

__all__ = ["SCENES", "draw_scene", "scene_for"]

# scene → keywords; the title decides first (in this order), then the earliest keyword in the prompt
_SCENE_WORDS = {
    "lake": ("lake", "dock", "shore", "pier"),
    "porch": ("porch", "veranda"),
    "kitchen": ("kitchen", "baking", "bake"),
    "library": ("library", "bookshelf", "bookshelves", "shelves"),
    "care": ("healthcare", "health care", "hospital", "nurse", "bedside"),
    "letters": ("letters", "letter", "writing", "grandmother", "photo album"),
    "advisor": ("advisor", "adviser", "consultation", "attorney", "lawyer", "conversation"),
    "digital": ("digital", "tablet", "online", "laptop"),
    "garden": ("garden", "bench", "bequest", "charitable"),
    "journey": ("journey", "timeline", "milestone", "winding path", "path", "walking"),
    "sofa": ("sofa", "couch", "living room"),
    "study": ("study", "desk", "folder", "fountain pen"),
}
# --- scenes: props ---------------------------------------------------------------------------------
def _hills(d, width, height, horizon, rng, colors=(SAGE, SLATE, NAVY), step=0.1):
    for layer, color in enumerate(colors):  # layered hills, back to front
        base = horizon + layer * height * step
        points = [(0, height)] + [(width * i / 8, base - height * rng.uniform(0.02, 0.1)) for i in range(9)]
        d.polygon(points + [(width, height)], fill=color)


def _window(d, x0, y0, x1, y1, *, night=False):
    d.rectangle([x0, y0, x1, y1], fill=NAVY if night else PALE_SAGE)
    h = y1 - y0
    d.rectangle([x0, y0 + h * .62, x1, y1], fill=SAGE)
    d.ellipse([x0 + (x1 - x0) * .6, y0 + h * .2, x0 + (x1 - x0) * .6 + h * .18, y0 + h * .38], fill=GOLD)
    frame = max(3, int((x1 - x0) / 30))
    d.rectangle([x0, y0, x1, y1], outline=IVORY, width=frame)
    d.line([(x0 + x1) / 2, y0, (x0 + x1) / 2, y1], fill=IVORY, width=frame)
    d.line([x0, (y0 + y1) / 2, x1, (y0 + y1) / 2], fill=IVORY, width=frame)


def _table(d, x0, x1, top, height, color=CLAY):
    t = height * 0.035
    d.rectangle([x0, top, x1, top + t], fill=color)
    for lx in (x0 + t, x1 - 2 * t):
        d.rectangle([lx, top + t, lx + t, height * 0.97], fill=color)


def _papers(d, cx, top, s):
    for i, off in enumerate((0.0, 0.25, 0.5)):
        d.rectangle([cx + s * (off - .5), top - s * (.08 + .02 * i), cx + s * (off + .1), top], fill=IVORY, outline=SLATE)


def _laptop(d, cx, top, s, screen=SAGE):
    d.rectangle([cx - s * .5, top - s * .7, cx + s * .5, top - s * .06], fill=SLATE)
    d.rectangle([cx - s * .42, top - s * .62, cx + s * .42, top - s * .14], fill=screen)
    d.rectangle([cx - s * .62, top - s * .08, cx + s * .62, top], fill=NAVY)


def _cup(d, x, top, s):
    d.rectangle([x, top - s, x + s * .8, top], fill=IVORY, outline=NAVY)
    d.arc([x + s * .6, top - s * .8, x + s * 1.1, top - s * .3], 270, 90, fill=NAVY, width=max(2, int(s / 8)))


def _lamp(d, x, floor, h, *, glow=True):
    if glow:
        d.ellipse([x - h * .45, floor - h * 1.2, x + h * .45, floor - h * .5], fill=CREAM)
    d.line([x, floor, x, floor - h * .8], fill=NAVY, width=max(2, int(h / 40)))
    d.polygon([(x - h * .2, floor - h * .75), (x + h * .2, floor - h * .75), (x + h * .12, floor - h),
               (x - h * .12, floor - h)], fill=GOLD)
    d.rectangle([x - h * .12, floor - h * .03, x + h * .12, floor], fill=NAVY)


def _shelves(d, x0, y0, x1, y1, rng):
    d.rectangle([x0, y0, x1, y1], fill=NAVY)
    rows = 4
    row_h = (y1 - y0) / rows
    for r in range(rows):
        bottom = y0 + row_h * (r + 1) - row_h * .08
        bx = x0 + row_h * .1
        while bx < x1 - row_h * .3:  # books of varied width and height
            bw = row_h * rng.uniform(.1, .22)
            d.rectangle([bx, bottom - row_h * rng.uniform(.55, .8), bx + bw, bottom],
                        fill=rng.choice([GOLD, CLAY, SAGE, IVORY, SLATE]))
            bx += bw + row_h * .03
        d.rectangle([x0, bottom, x1, bottom + row_h * .08], fill=DEEP_NAVY)


def _open_book(d, cx, top, s, lines=SLATE):
    d.polygon([(cx - s, top), (cx, top + s * .12), (cx + s, top), (cx + s, top - s * .3), (cx, top - s * .2),
               (cx - s, top - s * .3)], fill=IVORY, outline=NAVY)
    for i in range(3):
        ly = top - s * (.2 - i * .07)
        d.line([cx - s * .8, ly - s * .05, cx - s * .15, ly], fill=lines, width=max(1, int(s / 25)))
        d.line([cx + s * .15, ly, cx + s * .8, ly - s * .05], fill=lines, width=max(1, int(s / 25)))


def _frame(d, x, y, w, h, inner):
    d.rectangle([x, y, x + w, y + h], fill=GOLD)
    d.rectangle([x + w * .1, y + h * .1, x + w * .9, y + h * .9], fill=inner)


def _room(width, height, *, wall=IVORY, floor=CREAM, floor_at=0.78):
    img = canvas(width, height, wall)
    d = ImageDraw.Draw(img)
    d.rectangle([0, height * floor_at, width, height], fill=floor)
    d.line([0, height * floor_at, width, height * floor_at], fill=SLATE, width=max(2, height // 200))
    return img, d


def _people(d, xs, base, s, colors):
    for x, color in zip(xs, colors):
        figure(d, x, base - s * 1.1, s, color)


# --- scenes ------------------------------------------------------------------------------------------
def _scene_kitchen(text, width, height, rng):
    img, d = _room(width, height, wall=CREAM, floor=LINEN)
    for i in range(4):  # wall cabinets
        d.rectangle([width * (.05 + i * .12), height * .06, width * (.15 + i * .12), height * .26], fill=SAGE, outline=IVORY)
    _window(d, width * .58, height * .1, width * .92, height * .46)
    for px in (.3, .7):  # pendant lamps
        d.line([width * px, 0, width * px, height * .14], fill=NAVY, width=max(2, height // 300))
        d.chord([width * (px - .05), height * .12, width * (px + .05), height * .2], 180, 360, fill=GOLD)
    top = height * .66
    s = min(width, height) * .24
    children = any(w in text for w in ("child", "children", "bake", "baking"))
    if children:
        _people(d, [width * .18, width * .42], top + s * .3, s, [NAVY, SLATE])
        _people(d, [width * .33, width * .54], top + s * .2, s * .6, [CLAY, GOLD])
    else:
        _people(d, [width * .22, width * .5], top + s * .3, s, [NAVY, CLAY])
    _table(d, width * .08, width * .78, top, height)
    if children:
        d.chord([width * .34, top - height * .08, width * .5, top + height * .04], 0, 180, fill=IVORY)
    else:
        _laptop(d, width * .58, top, s * .9)
        _papers(d, width * .3, top, s)
    _cup(d, width * .16, top, s * .2)
    return img


def _scene_advisor(text, width, height, rng):
    img, d = _room(width, height)
    _shelves(d, width * .06, height * .08, width * .34, height * .62, rng)
    _frame(d, width * .66, height * .12, width * .18, height * .2, SAGE)
    s = min(width, height) * .24
    top = height * .66
    _people(d, [width * .38, width * .56], top + s * .25, s, [NAVY, CLAY])
    _table(d, width * .3, width * .86, top, height, color=NAVY)
    d.rectangle([width * .5, top - s * .12, width * .62, top], fill=IVORY, outline=SLATE)  # the shared page
    d.line([width * .48, top - s * .9, width * .55, top - s * .1], fill=NAVY, width=max(3, int(s / 12)))  # pointing
    d.ellipse([width * .9, top - s * .5, width * .98, top + s * .1], fill=SAGE)  # a plant
    return img


def _scene_letters(text, width, height, rng):
    img, d = _room(width, height, wall=CREAM)
    _frame(d, width * .1, height * .12, width * .16, height * .22, SAGE)
    _frame(d, width * .3, height * .1, width * .12, height * .16, CLAY)
    s = min(width, height) * .24
    top = height * .64
    figure(d, width * .5, top - s * .8, s, NAVY)
    d.ellipse([width * .5 + s * .38, top - s * .9, width * .5 + s * .62, top - s * .72], fill=SLATE)  # hair bun
    figure(d, width * .68, top - s * .75, s * .6, CLAY)  # the grandchild over her shoulder
    _lamp(d, width * .84, top, height * .3, glow=False)
    _table(d, width * .1, width * .92, top, height, color=NAVY)
    _open_book(d, width * .3, top, s * .7, lines=CLAY)  # the photo album
    for i in range(3):  # letters
        ex = width * (.52 + i * .07)
        d.rectangle([ex, top - s * .24, ex + s * .36, top - s * .02], fill=IVORY, outline=GOLD)
        d.line([(ex, top - s * .24), (ex + s * .18, top - s * .12), (ex + s * .36, top - s * .24)], fill=GOLD)
    return img


def _scene_care(text, width, height, rng):
    img, d = _room(width, height, floor=PALE_SAGE)
    _window(d, width * .12, height * .08, width * .56, height * .62)
    s = min(width, height) * .2
    base = height * .86
    _people(d, [width * .34], base, s, [CLAY])
    _people(d, [width * .54], base, s * 1.05, [NAVY])
    d.ellipse([width * .34 + s * 1.0, base - s * .45, width * .34 + s * 1.35, base - s * .2], fill=GOLD)  # joined hands
    _people(d, [width * .8], base, s * .8, [SAGE])  # the nurse
    d.rectangle([width * .8 + s * .33, base - s * 1.1, width * .8 + s * .47, base - s * .9], fill=IVORY)
    return img


def _scene_library(text, width, height, rng):
    img, d = _room(width, height, wall=DEEP_NAVY, floor=SLATE, floor_at=.82)
    for x0 in (.02, .7):
        _shelves(d, width * x0, height * .04, width * (x0 + .28), height * .8, rng)
    _frame(d, width * .36, height * .1, width * .12, height * .18, SLATE)
    _frame(d, width * .52, height * .12, width * .1, height * .14, SAGE)
    top = height * .66
    _lamp(d, width * .6, top, height * .36)
    _table(d, width * .32, width * .68, top, height, color=CLAY)
    _open_book(d, width * .46, top, min(width, height) * .12)
    return img


def _scene_study(text, width, height, rng):
    img, d = _room(width, height, wall=CREAM, floor=LINEN)
    _window(d, width * .56, height * .08, width * .92, height * .5)
    top = height * .64
    s = min(width, height) * .2
    _table(d, width * .1, width * .9, top, height, color=CLAY)
    d.rectangle([width * .28, top - s * .1, width * .28 + s * 1.3, top], fill=NAVY)  # the leather folder
    d.line([width * .3 + s * 1.5, top - s * .04, width * .3 + s * 2.4, top - s * .2], fill=NAVY, width=max(3, int(s / 14)))
    for gx in (0, .3):  # reading glasses
        d.ellipse([width * .7 + s * gx, top - s * .2, width * .7 + s * (gx + .25), top - s * .02], outline=GOLD,
                  width=max(2, int(s / 30)))
    _lamp(d, width * .18, top, height * .26)
    return img


def _scene_sofa(text, width, height, rng):
    img, d = _room(width, height, wall=PALE_SAGE)
    _frame(d, width * .36, height * .1, width * .28, height * .2, CREAM)
    s = min(width, height) * .22
    seat = height * .66
    d.rounded_rectangle([width * .2, seat - height * .22, width * .8, seat], radius=height * .04, fill=SAGE)
    _people(d, [width * .34, width * .5], seat - height * .02, s, [NAVY, CLAY])
    d.rectangle([width * .44, seat - s * .5, width * .56, seat - s * .2], fill=GOLD, outline=NAVY)  # the bound trust
    d.rounded_rectangle([width * .16, seat - height * .03, width * .84, seat + height * .08], radius=height * .03, fill=SLATE)
    d.ellipse([width * .42, height * .84, width * .6, height * .92], fill=CLAY)  # the sleeping dog
    d.ellipse([width * .56, height * .81, width * .64, height * .88], fill=CLAY)
    _lamp(d, width * .9, height * .86, height * .5, glow=False)
    return img


def _scene_digital(text, width, height, rng):
    img, d = _room(width, height, wall=CREAM, floor=IVORY, floor_at=.6)
    for i in range(8):  # the linen tablecloth's weave
        d.line([0, height * (.64 + i * .045), width, height * (.64 + i * .045)], fill=LINEN, width=max(2, height // 150))
    s = min(width, height)
    cx, cy = width * .5, height * .55
    d.rounded_rectangle([cx - s * .3, cy - s * .24, cx + s * .3, cy + s * .2], radius=s * .03, fill=NAVY)
    d.rectangle([cx - s * .26, cy - s * .2, cx + s * .26, cy + s * .16], fill=IVORY)
    for i in range(6):  # the organised vault of accounts
        tx, ty = cx - s * .22 + (i % 3) * s * .15, cy - s * .16 + (i // 3) * s * .16
        d.rounded_rectangle([tx, ty, tx + s * .13, ty + s * .12], radius=s * .015, fill=(SAGE, GOLD, CLAY)[i % 3])
    GLYPHS["padlock"](d, int(cx + s * .2), int(cy - s * .34), int(s * .14), NAVY, GOLD, IVORY)
    for i in range(4):  # account cards floating in
        fx, fy = width * (.08 + .22 * (i % 2)) + (i // 2) * width * .6, height * (.12 + .2 * (i % 2))
        d.rounded_rectangle([fx, fy, fx + s * .12, fy + s * .08], radius=s * .01, fill=(SAGE, CLAY, GOLD, SLATE)[i])
    _cup(d, width * .84, height * .72, s * .08)
    return img


def _scene_outdoors(text, width, height, rng, *, night=False, horizon=None):
    sky_top, sky_bottom = (NAVY, SLATE) if night else (rng.choice([IVORY, CREAM]), rng.choice([CLAY, GOLD, SAGE]))
    img = gradient(width, height, sky_top, sky_bottom)
    d = ImageDraw.Draw(img)
    horizon = height * (horizon or rng.uniform(0.55, 0.7))
    r = min(width, height) * rng.uniform(0.07, 0.12)
    cx, cy = width * rng.uniform(0.15, 0.85), horizon - height * rng.uniform(0.15, 0.35)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=IVORY if night else GOLD)
    return img, d, horizon


def _scene_lake(text, width, height, rng):
    img, d, horizon = _scene_outdoors(text, width, height, rng, horizon=.5)
    _hills(d, width, horizon + height * .02, horizon * .96, rng, colors=(SAGE, SLATE), step=.03)
    d.rectangle([0, horizon, width, height], fill=SLATE)
    for i in range(10):  # still water: reflections and lifting mist
        y = horizon + height * (.03 + i * .05)
        d.line([width * rng.uniform(0, .4), y, width * rng.uniform(.5, 1), y], fill=SAGE if i % 2 else PALE_SAGE,
               width=max(2, height // 180))
    d.polygon([(width * .36, height), (width * .64, height), (width * .56, height * .66), (width * .44, height * .66)],
              fill=CLAY)  # the dock, in perspective
    for i in range(6):
        y = height * (.68 + i * .055)
        d.line([width * .3, y, width * .7, y], fill=NAVY, width=max(1, height // 400))
    s = min(width, height) * .1
    _people(d, [width * .44, width * .5], height * .72, s, [NAVY, NAVY])
    return img


def _scene_porch(text, width, height, rng):
    img, d, horizon = _scene_outdoors(text, width, height, rng, horizon=.8)
    _hills(d, width, height, horizon, rng, colors=(SAGE, SLATE), step=.06)
    x0, x1, top = width * .42, width * .98, height * .18
    d.polygon([(x0 - width * .03, top + height * .16), ((x0 + x1) / 2, top - height * .1), (x1 + width * .03, top + height * .16)],
              fill=NAVY)
    d.rectangle([x0, top + height * .16, x1, height * .9], fill=CREAM)
    for i in range(9):  # shingles
        d.line([x0, top + height * (.2 + i * .035), x1, top + height * (.2 + i * .035)], fill=LINEN)
    d.rectangle([x0 - width * .03, height * .48, x1 + width * .03, height * .52], fill=NAVY)  # porch roof
    for i in range(5):
        px = x0 + (x1 - x0) * i / 4
        d.rectangle([px - width * .006, height * .52, px + width * .006, height * .86], fill=IVORY)
    d.rectangle([x0 - width * .03, height * .86, x1 + width * .03, height * .9], fill=SLATE)
    s = min(width, height) * .12
    for x, scale, color in ((.52, 1, NAVY), (.62, 1.05, CLAY), (.72, .95, SLATE), (.8, .6, GOLD)):
        figure(d, width * x, height * .86 - s * scale * 1.1, s * scale, color)  # three generations
    return img


def _scene_garden(text, width, height, rng):
    img, d, horizon = _scene_outdoors(text, width, height, rng)
    _hills(d, width, height, horizon, rng)
    ground = horizon + height * .14
    for i in range(5):  # young trees
        s = int(min(width, height) * rng.uniform(.1, .16))
        GLYPHS["tree"](d, int(width * (.05 + i * .2)), int(ground - s * .8), s, NAVY, SAGE, IVORY)
    bx, s = width * .38, min(width, height) * .3
    d.rectangle([bx, ground + s * .1, bx + s, ground + s * .18], fill=CLAY)  # the bench
    d.rectangle([bx, ground - s * .12, bx + s, ground - s * .04], fill=CLAY)
    for lx in (.08, .86):
        d.rectangle([bx + s * lx, ground - s * .12, bx + s * (lx + .06), ground + s * .4], fill=NAVY)
    d.rectangle([bx + s * .4, ground - s * .1, bx + s * .6, ground - s * .06], fill=GOLD)  # the plaque
    figure(d, width * .8, ground - s * .2, s * .3, CLAY)  # a volunteer tending
    return img


def _scene_journey(text, width, height, rng):
    img, d, horizon = _scene_outdoors(text, width, height, rng)
    _hills(d, width, height, horizon, rng)
    pts = [(width * (.5 + .3 * math.sin(t * 2.4 + .6)), height - (height - horizon) * t) for t in
           (i / 10 for i in range(11))]  # a winding path to the horizon, narrowing with distance
    left = [(x - width * .08 * (1 - t / 10), y) for t, (x, y) in enumerate(pts)]
    right = [(x + width * .08 * (1 - t / 10), y) for t, (x, y) in enumerate(pts)]
    d.polygon(left + right[::-1], fill=IVORY)
    if any(w in text for w in ("milestone", "timeline", "journey", "marker")):
        for i, t in enumerate((2, 4, 6, 8)):
            x, y = pts[t]
            s = min(width, height) * .09 * (1 - t / 14)
            d.line([x + width * .1, y, x + width * .1, y - s * 1.6], fill=NAVY, width=max(2, int(s / 10)))
            d.ellipse([x + width * .1 - s * .5, y - s * 2.4, x + width * .1 + s * .5, y - s * 1.4], fill=GOLD, outline=NAVY)
    if any(w in text for w in ("walking", "walk", "parent", "children", "family", "aunt", "guardian")):
        s = min(width, height) * .16
        x, y = pts[1]
        for i, (scale, color) in enumerate(((1, NAVY), (1, SLATE), (.6, GOLD), (.6, CLAY), (1, SAGE))):
            figure(d, x - width * .2 + i * s * .9, y - s * scale * 1.3, s * scale, color)
    return img


def _scene_landscape(text, width, height, rng):
    night = any(w in text for w in ("night", "moon", "evening", "dusk"))
    img, d, horizon = _scene_outdoors(text, width, height, rng, night=night)
    _hills(d, width, height, horizon, rng)
    ground = horizon + height * 0.12
    if any(w in text for w in ("house", "home", "property")) or rng.random() < 0.5:
        s = int(min(width, height) * 0.22)
        GLYPHS["house"](d, int(width * rng.uniform(0.2, 0.6)), int(ground - s * 0.85), s, IVORY, GOLD, NAVY)
    for _ in range(rng.randint(1, 4)):  # trees
        s = int(min(width, height) * rng.uniform(0.1, 0.18))
        GLYPHS["tree"](d, int(width * rng.uniform(0.0, 0.9)), int(ground - s * 0.8), s, NAVY, SAGE, IVORY)
    return img


SCENES: dict[str, Callable[..., Image.Image]] = {
    "lake": _scene_lake, "porch": _scene_porch, "kitchen": _scene_kitchen, "library": _scene_library,
    "care": _scene_care, "letters": _scene_letters, "advisor": _scene_advisor, "digital": _scene_digital,
    "garden": _scene_garden, "journey": _scene_journey, "sofa": _scene_sofa, "study": _scene_study,
    "landscape": _scene_landscape,
}


def scene_for(prompt: str) -> str:
    """The setting an illustration or hero prompt asks for ('landscape' when it names none)."""
    return first_listed(subject_of(prompt), _SCENE_WORDS) or earliest_keyword(prompt.lower(), _SCENE_WORDS) or "landscape"


def draw_scene(prompt: str, width: int, height: int, rng: random.Random) -> Image.Image:
    """An illustration or hero: the setting the prompt's subject names, composed with seeded variation."""
    return SCENES[scene_for(prompt)](prompt.lower(), width, height, rng)
