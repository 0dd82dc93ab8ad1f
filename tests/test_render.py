"""The procedural renderer: valid PNGs of the asked size, recognisably different per asset, fast."""
from __future__ import annotations

import io
import time

import pytest
from PIL import Image, ImageChops

from engine.render import BRAND_PALETTE, GLYPHS, asset_kind, glyph_for, render_image

pytestmark = pytest.mark.timeout(60)


def decode(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as img:
        img.verify()  # a truncated or corrupt file fails here
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return img.convert("RGB")


def differing_share(a: bytes, b: bytes) -> float:
    one, two = decode(a), decode(b)
    diff = ImageChops.difference(one, two).convert("L").point(lambda v: 255 if v else 0)
    return diff.histogram()[255] / (one.width * one.height)


@pytest.mark.parametrize("prompt, size", [
    ("icon of a last will scroll with a wax seal", (512, 512)),
    ("hero illustration of a family home at dusk", (1344, 768)),
    ("subtle background pattern for the documents page", (300, 500)),
    ("social card announcing the trust checklist", (1200, 630)),
])
def test_renders_a_valid_png_of_exactly_the_requested_size(prompt, size):
    img = decode(render_image(prompt, width=size[0], height=size[1], seed=1))
    assert img.size == size


def test_two_different_icon_prompts_give_clearly_different_pictures():
    will = render_image("icon for the last will and testament", width=256, height=256, seed=7)
    trust = render_image("icon for a family trust", width=256, height=256, seed=7)
    assert differing_share(will, trust) > 0.05


def test_each_glyph_is_its_own_drawing():
    prompts = {name: f"icon of a {name.replace('_', ' ')}" for name in GLYPHS}
    assert all(glyph_for(prompt) == name for name, prompt in prompts.items())
    drawn = {name: decode(render_image(prompt, width=128, height=128, seed=0)) for name, prompt in prompts.items()}
    assert len(GLYPHS) >= 12
    fingerprints = {name: img.tobytes() for name, img in drawn.items()}
    assert len(set(fingerprints.values())) == len(GLYPHS)


@pytest.mark.parametrize("prompt, glyph", [
    ("icon: last will and testament", "scroll"), ("a trust icon", "shield"), ("executor icon", "key"),
    ("beneficiary icon", "hands_heart"), ("power of attorney icon", "fountain_pen"),
    ("healthcare directive icon", "medical_heart"), ("guardian for minors icon", "umbrella"),
    ("property icon", "house"), ("family icon", "family"), ("signature icon", "signature"),
    ("deadline icon", "calendar"), ("secure vault icon", "padlock"), ("checklist icon", "checklist"),
    # whole words only, earliest subject first, longer keyword on a tie:
    ('Design the icon "Executor": a person holding a key', "key"),
    ('Design the icon "Family Tree": an oak whose branches end in circles', "tree"),
    ("the viewer will feel calm: a trust icon", "shield"),
])
def test_icon_keywords_choose_their_glyph(prompt, glyph):
    assert glyph_for(prompt) == glyph


@pytest.mark.parametrize("prompt, kind", [
    ("an icon of a key", "icon"), ("hero illustration with hills", "scene"), ("background pattern", "pattern"),
    ("social card with an icon and a background band", "card"), ("something calm", "scene"),
])
def test_asset_kind_comes_from_the_wording(prompt, kind):
    assert asset_kind(prompt) == kind


def test_same_prompt_and_seed_is_reproducible_and_another_seed_varies_the_scene():
    prompt = "illustration of a quiet landscape"
    first = render_image(prompt, width=200, height=120, seed=3)
    assert first == render_image(prompt, width=200, height=120, seed=3)
    assert differing_share(first, render_image(prompt, width=200, height=120, seed=4)) > 0.05


def test_pictures_are_flat_brand_artwork_not_noise():
    palette = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in BRAND_PALETTE.values()}
    for prompt in ("icon of a shield", "social card for the will", "background pattern"):
        img = decode(render_image(prompt, width=256, height=256, seed=2))
        colors = img.getcolors(maxcolors=256)
        assert colors is not None and len(colors) <= 12  # a handful of flat colours
        top = max(colors)[1]
        assert top in palette  # the dominant colour is a brand colour


def test_a_1024_square_renders_in_tens_of_milliseconds():
    timings = []
    for seed, prompt in enumerate(["icon of a house", "hero illustration of a family", "background pattern",
                                   "social card about trusts"] * 3):
        started = time.perf_counter()
        render_image(prompt, width=1024, height=1024, seed=seed)
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.05  # ~5 ms here; generous for a loaded CI core


def test_rejects_an_empty_size():
    with pytest.raises(ValueError):
        render_image("icon", width=0, height=10, seed=0)
