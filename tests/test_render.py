"""The procedural renderer: valid PNGs of the asked size, recognisably different per asset, fast."""
from __future__ import annotations

import io
import random
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from engine.templates.catalog import load_catalog
from engine.providers.standin.render import (BRAND_PALETTE, GLYPHS, asset_kind, card_layout_for, glyph_for, pattern_for, render_image,
                           scene_for)

CATALOG = Path(__file__).resolve().parent.parent / "data" / "catalogs" / "estate_planning_v4.toml"

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
    ("beneficiary icon", "gift"), ("charitable giving icon", "hands_heart"), ("power of attorney icon", "signed_page"),
    ("healthcare directive icon", "medical_heart"), ("guardian for minors icon", "guardian"),
    ("property icon", "house"), ("family icon", "family"), ("signature icon", "signature"),
    ("deadline icon", "calendar"), ("secure vault icon", "vault"), ("checklist icon", "checklist"),
    ("password lock icon", "laptop_cloud"), ("privacy lock icon", "padlock"),
    # whole words only, earliest subject first, longer keyword on a tie:
    ('Design the icon "Executor": a person holding a key', "key"),
    ('Design the icon "Family Tree": an oak whose branches end in circles', "tree"),
    ("the viewer will feel calm: a trust icon", "shield"),
    # the quoted title outranks incidental words, and the title's most specific subject wins:
    ('icon of "Digital Assets" in a navy and gold palette with a padlock', "laptop_cloud"),
    ('Design the icon "Pet Trust": a paw print inside a gently drawn shield', "paw_shield"),
    ('Design the icon "Secure Document Vault": a round vault door', "vault"),
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
    for seed, prompt in enumerate(["icon of a house", "hero illustration of a family kitchen", "background pattern",
                                   "social card about trusts", "sage gradient background with grain",
                                   'hero "Porch"', "guilloche background", "illustration of a lake"] * 2):
        started = time.perf_counter()
        render_image(prompt, width=1024, height=1024, seed=seed)
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.05  # ~3 ms here; generous for a loaded CI core


def test_rejects_an_empty_size():
    with pytest.raises(ValueError):
        render_image("icon", width=0, height=10, seed=0)


# Each catalog icon's subject and the glyph drawn for it. No two icons share a glyph: if two
# subjects ever truly coincide, list the pair in SHARED_ON_PURPOSE with the reason.
CATALOG_ICON_GLYPHS = {
    "icon-will": "scroll", "icon-living-trust": "folder_roof", "icon-executor": "key", "icon-trustee": "ledger",
    "icon-beneficiary": "gift", "icon-power-of-attorney": "signed_page", "icon-healthcare-directive": "medical_heart",
    "icon-guardian-minors": "guardian", "icon-estate-tax": "tax_percent", "icon-probate": "courthouse",
    "icon-asset-inventory": "inventory", "icon-digital-assets": "laptop_cloud", "icon-life-insurance": "umbrella",
    "icon-retirement-accounts": "coin_jar", "icon-real-estate-deed": "deed_house",
    "icon-signature-notary": "notary_stamp", "icon-family-tree": "tree", "icon-charitable-giving": "hands_heart",
    "icon-pet-trust": "paw_shield", "icon-review-reminder": "calendar_renew", "icon-secure-vault": "vault",
    "icon-document-checklist": "checklist", "icon-letter-of-wishes": "envelope",
}
SHARED_ON_PURPOSE: set[frozenset[str]] = set()


def catalog_assets(type_: str):
    return [a for a in load_catalog(CATALOG).assets if a.type == type_]


def voiced_prompts(asset):
    """The prompts the stand-in's three default competitors write for ``asset`` (any of them can win)."""
    from engine.vocabulary import DEFAULT_COMPETITORS
    from engine.providers.standin.voices import parse_brief, write_prompt
    from engine.templates.brief import build_brief, competition_messages, default_template
    brief = parse_brief(competition_messages(build_brief(asset, default_template())))
    return {m: write_prompt(m, brief, random.Random(f"{asset.id}:{m}"))[0] for m in DEFAULT_COMPETITORS}


def test_the_table_covers_every_catalog_icon():
    assert {a.id for a in catalog_assets("icons")} == set(CATALOG_ICON_GLYPHS)


@pytest.mark.parametrize("asset_id, glyph", sorted(CATALOG_ICON_GLYPHS.items()))
def test_each_catalog_icon_title_maps_to_its_own_glyph(asset_id, glyph):
    asset = next(a for a in catalog_assets("icons") if a.id == asset_id)
    assert glyph_for(f'flat icon of "{asset.title}", deep navy, warm gold, ivory, sage green and slate') == glyph
    assert glyph_for(f"{asset.title} icon, navy and gold palette, no text") == glyph


def test_every_voice_prompt_for_a_catalog_icon_draws_that_icons_glyph():
    for asset in catalog_assets("icons"):
        for model, prompt in voiced_prompts(asset).items():
            assert asset_kind(prompt) == "icon", (asset.id, model)
            assert glyph_for(prompt) == CATALOG_ICON_GLYPHS[asset.id], (asset.id, model, prompt[:120])


def test_catalog_icons_have_pairwise_distinct_glyphs_except_documented_coincidences():
    seen: dict[str, str] = {}
    for asset_id, glyph in CATALOG_ICON_GLYPHS.items():
        other = seen.setdefault(glyph, asset_id)
        assert other == asset_id or frozenset({other, asset_id}) in SHARED_ON_PURPOSE, (other, asset_id, glyph)


def test_illustrations_and_heroes_get_settings_that_fit_their_subject():
    expected = {
        "illus-kitchen-table-planning": "kitchen", "illus-attorney-consultation": "advisor",
        "illus-grandparent-letters": "letters", "illus-guardian-handoff": "journey", "illus-digital-legacy": "digital",
        "illus-trust-review": "sofa", "illus-healthcare-wishes": "care", "illus-charitable-bequest": "garden",
        "illus-planning-timeline": "journey", "hero-legacy-porch": "porch", "hero-trust-planning": "study",
        "hero-peace-of-mind-lake": "lake", "hero-heritage-library": "library", "hero-family-kitchen": "kitchen",
        "hero-digital-estate": "digital",
    }
    for asset in catalog_assets("illustrations") + catalog_assets("heroes"):
        for model, prompt in voiced_prompts(asset).items():
            assert asset_kind(prompt) == "scene", (asset.id, model)
            assert scene_for(prompt) == expected[asset.id], (asset.id, model)


def test_backgrounds_get_the_pattern_their_title_names_and_cards_their_layout():
    patterns = {"bg-linen-paper": "linen", "bg-guilloche": "guilloche", "bg-family-tree-lines": "branches",
                "bg-navy-damask": "damask", "bg-sage-gradient": "grain"}
    for asset in catalog_assets("backgrounds"):
        for prompt in voiced_prompts(asset).values():
            assert asset_kind(prompt) == "pattern" and pattern_for(prompt) == patterns[asset.id], asset.id
    layouts = {"social-checklist-tip": "headline", "social-probate-myth": "split", "social-review-reminder": "headline",
               "social-guardianship-quote": "quote", "social-heritage-launch": "announce"}
    for asset in catalog_assets("social_cards"):
        for prompt in voiced_prompts(asset).values():
            assert asset_kind(prompt) == "card" and card_layout_for(prompt) == layouts[asset.id], asset.id


def test_every_catalog_asset_renders_a_valid_png_of_its_size():
    for asset in load_catalog(CATALOG).assets:
        prompt = next(iter(voiced_prompts(asset).values()))
        w, h = (int(n) * 48 for n in asset.aspect_ratio.split(":"))
        assert decode(render_image(prompt, width=w, height=h, seed=5)).size == (w, h), asset.id


def test_settings_and_patterns_are_different_pictures():
    scenes = ["illustration of a kitchen table", "illustration of a lake dock", "illustration of a library",
              "illustration of a porch", "illustration of a winding path", "illustration of a tablet"]
    drawn = [render_image(p, width=160, height=120, seed=1) for p in scenes]
    assert all(differing_share(a, b) > 0.2 for i, a in enumerate(drawn) for b in drawn[i + 1:])
    backgrounds = [f"background pattern: {name}" for name in ("linen", "guilloche", "branching leaves", "damask")]
    drawn = [render_image(p, width=160, height=160, seed=1) for p in backgrounds]
    assert len({png for png in drawn}) == len(drawn)


def test_stand_in_voices_describe_the_picture_instead_of_repeating_the_briefs_instruction():
    asset = next(a for a in catalog_assets("icons") if a.id == "icon-digital-assets")
    prompts = voiced_prompts(asset)
    assert prompts["openai/gpt-5-mini"].startswith('icon of "Digital Assets" for ')
    assert not any("Design the icon" in p for p in prompts.values())
