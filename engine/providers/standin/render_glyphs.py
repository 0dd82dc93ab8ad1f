"""Icon glyphs for the stand-in renderer.

Every icon in the catalog gets a drawing that fits its subject (will → rolled
scroll with a wax seal, probate → courthouse with a clock, digital assets →
laptop with a padlock and a cloud, …), so a person comparing icons in the
gallery sees different pictures, not one coin stack for every "asset".
Which glyph a prompt asks for is decided in ``render_subject``. Each glyph
draws in a unit box (x, y, size) with Pillow primitives: fg for the body,
accent for highlights, bg for cut-outs.
"""
from __future__ import annotations

import math
from typing import Callable

from engine.providers.standin.render_subject import GLYPH_WORDS

__all__ = ["GLYPHS", "figure"]


def _w(s, frac=30, least=2) -> int:
    return max(least, int(s // frac))


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
    figure(d, x + s * .36, y + s * .55, s * .22, accent)
    figure(d, x + s * .6, y + s * .65, s * .15, accent)


def _glyph_house(d, x, y, s, fg, accent, bg):
    d.polygon([(x + s * .5, y + s * .1), (x + s * .92, y + s * .48), (x + s * .08, y + s * .48)], fill=fg)
    d.rectangle([x + s * .18, y + s * .46, x + s * .82, y + s * .9], fill=fg)
    d.rounded_rectangle([x + s * .42, y + s * .62, x + s * .58, y + s * .9], radius=s * .02, fill=accent)
    d.rectangle([x + s * .24, y + s * .56, x + s * .36, y + s * .68], fill=bg)
    d.rectangle([x + s * .64, y + s * .56, x + s * .76, y + s * .68], fill=bg)


def _glyph_family(d, x, y, s, fg, accent, bg):
    figure(d, x + s * .12, y + s * .2, s * .3, fg)
    figure(d, x + s * .58, y + s * .2, s * .3, fg)
    figure(d, x + s * .4, y + s * .48, s * .2, accent)


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


def figure(d, x, y, s, fill):
    """A person: a round head over half-disc shoulders, s wide and about 1.45 s tall."""
    d.ellipse([x + s * .3, y, x + s * .7, y + s * .4], fill=fill)
    d.pieslice([x, y + s * .45, x + s, y + s * 1.45], 180, 360, fill=fill)


# --- the subjects added so that every catalog icon has its own picture ---------------------------
def _glyph_scroll(d, x, y, s, fg, accent, bg):
    """A rolled scroll with a ribbon and a wax seal (last will and testament)."""
    w = _w(s, 28)
    d.rectangle([x + s * .24, y + s * .16, x + s * .76, y + s * .8], fill=bg, outline=fg, width=w)
    for ry in (.1, .74):  # the rolled ends
        d.rounded_rectangle([x + s * .16, y + s * ry, x + s * .84, y + s * (ry + .12)], radius=s * .06, fill=fg)
        d.ellipse([x + s * .12, y + s * ry, x + s * .24, y + s * (ry + .12)], fill=accent, outline=fg, width=w)
    for i in range(4):
        ly = y + s * (.3 + i * .1)
        d.line([x + s * .32, ly, x + s * (.68 if i < 3 else .5), ly], fill=fg, width=w)
    d.line([x + s * .62, y + s * .6, x + s * .7, y + s * .96], fill=accent, width=w * 2)  # ribbon tails
    d.line([x + s * .68, y + s * .6, x + s * .82, y + s * .94], fill=accent, width=w * 2)
    d.ellipse([x + s * .56, y + s * .5, x + s * .8, y + s * .74], fill=accent, outline=fg, width=w)


def _glyph_folder_roof(d, x, y, s, fg, accent, bg):
    """A document folder sheltered under a roofline (living trust)."""
    w = _w(s, 18)
    d.line([(x + s * .08, y + s * .46), (x + s * .5, y + s * .1), (x + s * .92, y + s * .46)], fill=fg, width=w,
           joint="curve")
    d.polygon([(x + s * .24, y + s * .46), (x + s * .42, y + s * .46), (x + s * .46, y + s * .52),
               (x + s * .76, y + s * .52), (x + s * .76, y + s * .88), (x + s * .24, y + s * .88)], fill=fg)
    d.rectangle([x + s * .3, y + s * .42, x + s * .7, y + s * .6], fill=bg, outline=fg, width=_w(s, 40))
    d.rectangle([x + s * .24, y + s * .6, x + s * .76, y + s * .88], fill=accent)


def _glyph_ledger(d, x, y, s, fg, accent, bg):
    """An open ledger with a hand resting on it (trustee)."""
    w = _w(s, 36)
    d.polygon([(x + s * .06, y + s * .3), (x + s * .5, y + s * .38), (x + s * .94, y + s * .3),
               (x + s * .94, y + s * .78), (x + s * .5, y + s * .86), (x + s * .06, y + s * .78)], fill=fg)
    for left, right in ((.1, .48), (.52, .9)):
        d.polygon([(x + s * left, y + s * .32), (x + s * right, y + s * .36), (x + s * right, y + s * .8),
                   (x + s * left, y + s * .76)], fill=bg)
    for i in range(4):  # ruled columns of figures
        ly = y + s * (.46 + i * .08)
        d.line([x + s * .16, ly, x + s * .42, ly + s * .02], fill=fg, width=w)
    d.line([x + s * .3, y + s * .4, x + s * .3, y + s * .74], fill=accent, width=w)
    # the hand: a palm with four fingers, resting on the right page
    d.rounded_rectangle([x + s * .56, y + s * .5, x + s * .84, y + s * .7], radius=s * .08, fill=accent)
    for i in range(4):
        fx = x + s * (.56 + i * .07)
        d.rounded_rectangle([fx, y + s * .36, fx + s * .06, y + s * .56], radius=s * .03, fill=accent)
    d.rounded_rectangle([x + s * .78, y + s * .72, x + s * .96, y + s * .94], radius=s * .03, fill=accent)


def _glyph_gift(d, x, y, s, fg, accent, bg):
    """An open hand receiving a wrapped gift (beneficiary)."""
    d.rectangle([x + s * .3, y + s * .22, x + s * .7, y + s * .56], fill=accent)
    d.rectangle([x + s * .46, y + s * .22, x + s * .54, y + s * .56], fill=fg)
    d.rectangle([x + s * .26, y + s * .18, x + s * .74, y + s * .28], fill=accent, outline=fg, width=_w(s, 40))
    for cx in (.4, .6):  # the bow
        d.ellipse([x + s * (cx - .08), y + s * .06, x + s * (cx + .08), y + s * .2], outline=fg, width=_w(s, 24))
    d.chord([x + s * .08, y + s * .46, x + s * .84, y + s * .9], 0, 180, fill=fg)  # the open palm
    d.rounded_rectangle([x + s * .76, y + s * .5, x + s * .94, y + s * .64], radius=s * .06, fill=fg)  # thumb


def _glyph_signed_page(d, x, y, s, fg, accent, bg):
    """A signed page with a hand laid on it and a pen at the signature line (power of attorney)."""
    w = _w(s, 30)
    d.rectangle([x + s * .2, y + s * .06, x + s * .8, y + s * .9], fill=bg, outline=fg, width=w)
    for i in range(3):
        d.line([x + s * .3, y + s * (.18 + i * .1), x + s * .7, y + s * (.18 + i * .1)], fill=fg, width=w)
    pts = [(x + s * (.46 + i * .025), y + s * (.7 + (.035 if i % 2 else -.035))) for i in range(10)]
    d.line(pts, fill=accent, width=w, joint="curve")
    d.line([x + s * .44, y + s * .78, x + s * .74, y + s * .78], fill=fg, width=w)
    d.line([x + s * .72, y + s * .68, x + s * .96, y + s * .4], fill=fg, width=_w(s, 14))  # the pen
    # a hand resting on the page's left side: palm and four fingers
    d.rounded_rectangle([x + s * .04, y + s * .56, x + s * .34, y + s * .8], radius=s * .08, fill=accent)
    for i in range(4):
        fx = x + s * (.04 + i * .075)
        d.rounded_rectangle([fx, y + s * .4, fx + s * .065, y + s * .62], radius=s * .03, fill=accent)


def _glyph_notary_stamp(d, x, y, s, fg, accent, bg):
    """An embossed, serrated notary seal beside a fountain pen (signature and notary)."""
    cx, cy, r = x + s * .36, y + s * .6, s * .32
    star = [(cx + r * (1 if i % 2 else .86) * math.cos(i * math.pi / 14), cy + r * (1 if i % 2 else .86) * math.sin(i * math.pi / 14))
            for i in range(28)]
    d.polygon(star, fill=accent)
    d.ellipse([cx - r * .68, cy - r * .68, cx + r * .68, cy + r * .68], outline=fg, width=_w(s, 30))
    d.ellipse([cx - r * .4, cy - r * .4, cx + r * .4, cy + r * .4], outline=fg, width=_w(s, 40))
    _glyph_fountain_pen(d, x + s * .52, y + s * .02, int(s * .48), fg, accent, bg)


def _glyph_guardian(d, x, y, s, fg, accent, bg):
    """An adult with an arm around a child's shoulders (guardian for minors)."""
    figure(d, x + s * .08, y + s * .1, s * .5, fg)
    figure(d, x + s * .52, y + s * .44, s * .34, accent)
    d.line([(x + s * .5, y + s * .56), (x + s * .66, y + s * .64), (x + s * .84, y + s * .66)], fill=fg,
           width=_w(s, 12), joint="curve")  # the arm across the child's shoulders
    d.ellipse([x + s * .8, y + s * .62, x + s * .9, y + s * .72], fill=fg)
    d.line([x + s * .06, y + s * .9, x + s * .94, y + s * .9], fill=fg, width=_w(s, 30))


def _glyph_tax_percent(d, x, y, s, fg, accent, bg):
    """A tax form with a percent sign beside a short stack of coins (estate tax)."""
    w = _w(s, 22)
    d.rectangle([x + s * .12, y + s * .08, x + s * .62, y + s * .86], fill=bg, outline=fg, width=w)
    d.ellipse([x + s * .2, y + s * .2, x + s * .32, y + s * .32], outline=fg, width=w)
    d.ellipse([x + s * .42, y + s * .48, x + s * .54, y + s * .6], outline=fg, width=w)
    d.line([x + s * .48, y + s * .18, x + s * .26, y + s * .62], fill=fg, width=w)
    d.line([x + s * .2, y + s * .74, x + s * .54, y + s * .74], fill=fg, width=w)
    for i in range(3):
        cy = y + s * (.78 - i * .1)
        d.ellipse([x + s * .56, cy, x + s * .92, cy + s * .14], fill=accent, outline=fg, width=_w(s, 40))


def _glyph_courthouse(d, x, y, s, fg, accent, bg):
    """A columned courthouse with a clock in the pediment (probate)."""
    d.polygon([(x + s * .5, y + s * .06), (x + s * .94, y + s * .3), (x + s * .06, y + s * .3)], fill=fg)
    d.ellipse([x + s * .43, y + s * .13, x + s * .57, y + s * .27], fill=accent)
    d.line([x + s * .5, y + s * .2, x + s * .5, y + s * .15], fill=fg, width=_w(s, 50))
    d.line([x + s * .5, y + s * .2, x + s * .54, y + s * .2], fill=fg, width=_w(s, 50))
    d.rectangle([x + s * .1, y + s * .32, x + s * .9, y + s * .38], fill=fg)
    for i in range(5):
        cx = x + s * (.17 + i * .165)
        d.rectangle([cx - s * .04, y + s * .4, cx + s * .04, y + s * .78], fill=fg)
    d.rectangle([x + s * .08, y + s * .8, x + s * .92, y + s * .86], fill=fg)
    d.rectangle([x + s * .04, y + s * .88, x + s * .96, y + s * .94], fill=accent)


def _glyph_inventory(d, x, y, s, fg, accent, bg):
    """A clipboard listing a house, a car and a coin (asset inventory)."""
    w = _w(s, 30)
    d.rounded_rectangle([x + s * .16, y + s * .1, x + s * .84, y + s * .94], radius=s * .05, fill=fg)
    d.rectangle([x + s * .22, y + s * .18, x + s * .78, y + s * .88], fill=bg)
    d.rounded_rectangle([x + s * .36, y + s * .04, x + s * .64, y + s * .16], radius=s * .03, fill=accent)
    rows = (.28, .5, .72)
    hx, hy = x + s * .26, y + s * .22  # house
    d.polygon([(hx + s * .08, hy), (hx + s * .16, hy + s * .07), (hx, hy + s * .07)], fill=fg)
    d.rectangle([hx + s * .02, hy + s * .07, hx + s * .14, hy + s * .14], fill=fg)
    cx, cy = x + s * .26, y + s * .46  # car
    d.rounded_rectangle([cx, cy + s * .03, cx + s * .16, cy + s * .09], radius=s * .02, fill=fg)
    d.rounded_rectangle([cx + s * .03, cy, cx + s * .12, cy + s * .05], radius=s * .02, fill=fg)
    for wx in (.03, .11):
        d.ellipse([cx + s * wx - s * .02, cy + s * .07, cx + s * wx + s * .03, cy + s * .12], fill=accent)
    d.ellipse([x + s * .27, y + s * .66, x + s * .39, y + s * .78], fill=accent, outline=fg, width=w)  # coin
    for ry in rows:
        d.line([x + s * .46, y + s * ry, x + s * .72, y + s * ry], fill=fg, width=w * 2)


def _glyph_laptop_cloud(d, x, y, s, fg, accent, bg):
    """A laptop whose screen shows a padlock, under a cloud (digital assets)."""
    d.rounded_rectangle([x + s * .18, y + s * .4, x + s * .82, y + s * .8], radius=s * .03, fill=fg)
    d.rectangle([x + s * .23, y + s * .45, x + s * .77, y + s * .75], fill=bg)
    d.polygon([(x + s * .1, y + s * .82), (x + s * .9, y + s * .82), (x + s * .96, y + s * .9),
               (x + s * .04, y + s * .9)], fill=fg)
    d.arc([x + s * .44, y + s * .5, x + s * .56, y + s * .64], 180, 360, fill=fg, width=_w(s, 40))
    d.rectangle([x + s * .42, y + s * .57, x + s * .58, y + s * .7], fill=accent)
    for (cx, cy, r) in ((.4, .22, .1), (.54, .16, .13), (.67, .24, .09)):  # the cloud
        d.ellipse([x + s * (cx - r), y + s * (cy - r), x + s * (cx + r), y + s * (cy + r)], fill=accent)
    d.rectangle([x + s * .3, y + s * .24, x + s * .76, y + s * .33], fill=accent)


def _glyph_coin_jar(d, x, y, s, fg, accent, bg):
    """A jar of coins with a sapling growing out of it (retirement accounts)."""
    w = _w(s, 26)
    d.rounded_rectangle([x + s * .22, y + s * .42, x + s * .78, y + s * .94], radius=s * .1, fill=bg, outline=fg, width=w)
    d.rectangle([x + s * .28, y + s * .36, x + s * .72, y + s * .44], fill=fg)
    for i in range(3):
        cy = y + s * (.78 - i * .1)
        d.ellipse([x + s * .3, cy, x + s * .7, cy + s * .1], fill=accent, outline=fg, width=_w(s, 50))
    d.line([x + s * .5, y + s * .36, x + s * .5, y + s * .1], fill=fg, width=w)
    d.chord([x + s * .26, y + s * .06, x + s * .52, y + s * .26], 0, 360, fill=accent)
    d.chord([x + s * .48, y + s * .02, x + s * .78, y + s * .2], 0, 360, fill=accent)


def _glyph_deed_house(d, x, y, s, fg, accent, bg):
    """A folded deed with a house drawn on it (real estate deed)."""
    w = _w(s, 30)
    d.polygon([(x + s * .08, y + s * .2), (x + s * .5, y + s * .14), (x + s * .92, y + s * .2),
               (x + s * .92, y + s * .86), (x + s * .5, y + s * .92), (x + s * .08, y + s * .86)], fill=bg, outline=fg)
    d.line([x + s * .5, y + s * .14, x + s * .5, y + s * .92], fill=fg, width=w)  # the fold
    d.line([(x + s * .08, y + s * .2), (x + s * .5, y + s * .14), (x + s * .92, y + s * .2), (x + s * .92, y + s * .86),
            (x + s * .5, y + s * .92), (x + s * .08, y + s * .86), (x + s * .08, y + s * .2)], fill=fg, width=w)
    d.polygon([(x + s * .5, y + s * .26), (x + s * .74, y + s * .46), (x + s * .26, y + s * .46)], fill=fg)
    d.rectangle([x + s * .32, y + s * .46, x + s * .68, y + s * .68], fill=fg)
    d.rectangle([x + s * .45, y + s * .54, x + s * .55, y + s * .68], fill=accent)
    for i in range(2):
        d.line([x + s * .18, y + s * (.76 + i * .06), x + s * .82, y + s * (.76 + i * .06)], fill=fg, width=w)


def _glyph_paw_shield(d, x, y, s, fg, accent, bg):
    """A paw print inside a shield (pet trust)."""
    pts = [(x + s * .5, y + s * .06), (x + s * .88, y + s * .2), (x + s * .82, y + s * .6),
           (x + s * .5, y + s * .94), (x + s * .18, y + s * .6), (x + s * .12, y + s * .2)]
    d.polygon(pts, fill=fg)
    d.ellipse([x + s * .34, y + s * .46, x + s * .66, y + s * .72], fill=accent)  # pad
    for (cx, cy) in ((.3, .38), (.42, .28), (.58, .28), (.7, .38)):  # toes
        d.ellipse([x + s * (cx - .055), y + s * (cy - .07), x + s * (cx + .055), y + s * (cy + .07)], fill=accent)


def _glyph_calendar_renew(d, x, y, s, fg, accent, bg):
    """A calendar page with a circular review arrow (plan review reminder)."""
    w = _w(s, 30)
    d.rounded_rectangle([x + s * .1, y + s * .14, x + s * .9, y + s * .9], radius=s * .06, fill=bg, outline=fg, width=w)
    d.rectangle([x + s * .1, y + s * .14, x + s * .9, y + s * .3], fill=fg)
    for rx in (.3, .7):
        d.rounded_rectangle([x + s * (rx - .03), y + s * .06, x + s * (rx + .03), y + s * .22], radius=s * .02, fill=accent)
    d.arc([x + s * .3, y + s * .38, x + s * .7, y + s * .78], 30, 320, fill=accent, width=_w(s, 12))
    d.polygon([(x + s * .64, y + s * .34), (x + s * .74, y + s * .48), (x + s * .58, y + s * .5)], fill=accent)


def _glyph_vault(d, x, y, s, fg, accent, bg):
    """A round vault door with a spoked handle (secure document vault)."""
    d.rounded_rectangle([x + s * .06, y + s * .06, x + s * .94, y + s * .94], radius=s * .08, fill=fg)
    d.ellipse([x + s * .14, y + s * .14, x + s * .86, y + s * .86], fill=bg)
    d.ellipse([x + s * .2, y + s * .2, x + s * .8, y + s * .8], outline=fg, width=_w(s, 30))
    cx, cy = x + s * .5, y + s * .5
    for i in range(3):  # three spokes of the wheel
        a = i * math.pi / 3 + math.pi / 6
        d.line([cx - s * .22 * math.cos(a), cy - s * .22 * math.sin(a), cx + s * .22 * math.cos(a),
                cy + s * .22 * math.sin(a)], fill=fg, width=_w(s, 18))
    d.ellipse([cx - s * .07, cy - s * .07, cx + s * .07, cy + s * .07], fill=accent)
    for hy in (.28, .66):  # hinges
        d.rectangle([x + s * .04, y + s * hy, x + s * .12, y + s * (hy + .06)], fill=accent)


def _glyph_documents(d, x, y, s, fg, accent, bg):
    """A neat stack of documents (document checklists, "five documents" cards)."""
    w = _w(s, 30)
    for i, off in enumerate((.16, .08, 0.0)):
        d.rectangle([x + s * (.2 + off), y + s * (.1 + off), x + s * (.7 + off), y + s * (.74 + off)],
                    fill=bg, outline=fg, width=w)
    for i in range(4):
        d.line([x + s * .3, y + s * (.26 + i * .1), x + s * .62, y + s * (.26 + i * .1)], fill=fg, width=w)
    d.rectangle([x + s * .3, y + s * .64, x + s * .46, y + s * .7], fill=accent)


def _glyph_quote(d, x, y, s, fg, accent, bg):
    """A large opening quotation mark (client stories, testimonials)."""
    for qx in (.12, .54):
        d.ellipse([x + s * qx, y + s * .42, x + s * (qx + .32), y + s * .74], fill=fg)
        d.polygon([(x + s * qx, y + s * .6), (x + s * (qx + .06), y + s * .36), (x + s * (qx + .3), y + s * .14),
                   (x + s * (qx + .32), y + s * .22), (x + s * (qx + .18), y + s * .44)], fill=fg)
    d.line([x + s * .12, y + s * .88, x + s * .86, y + s * .88], fill=accent, width=_w(s, 24))


def _glyph_monogram(d, x, y, s, fg, accent, bg):
    """A portfolio with a monogram medallion (heritage collection)."""
    d.rounded_rectangle([x + s * .14, y + s * .1, x + s * .86, y + s * .9], radius=s * .05, fill=fg)
    d.rectangle([x + s * .14, y + s * .1, x + s * .22, y + s * .9], fill=accent)
    cx, cy, r = x + s * .54, y + s * .46, s * .2
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=accent, width=_w(s, 30))
    d.line([(cx - r * .5, cy + r * .5), (cx - r * .5, cy - r * .5), (cx, cy + r * .2), (cx + r * .5, cy - r * .5),
            (cx + r * .5, cy + r * .5)], fill=accent, width=_w(s, 26))
    d.line([x + s * .36, y + s * .76, x + s * .72, y + s * .76], fill=accent, width=_w(s, 40))


GLYPHS: dict[str, Callable[..., None]] = {
    name: globals()[f"_glyph_{name}"] for name in GLYPH_WORDS
}
