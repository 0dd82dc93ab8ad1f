"""Each deterministic check passes a good image and fails the spoiled one it exists to catch."""
from __future__ import annotations

import pytest

from dataclasses import replace

from engine.quality.scorecard import score_asset_image
from engine.quality.copy import character_error_rate, ocr_available
from engine.quality.neardup import LibraryEntry, LibraryIndex
from engine.quality.pixels import load_pixels
from engine.quality.neardup import phash_of
from engine.quality.thresholds import validate_quality
from tests.quality_images import CATALOG, TEMPLATE, blurred, card_with_text, hue_rotated, resized, standin_image

BODY = TEMPLATE.body


def score(png: bytes, asset_id: str, **options):
    asset = replace(CATALOG.get(asset_id), image_size="1K")  # the stand-in renders here are drawn at 1K
    return score_asset_image(png, asset, BODY, **options)


def test_an_on_brand_standin_image_passes_palette_and_hue_rotated_120_degrees_fails_it():
    png = standin_image("icon-living-trust")
    good, rotated = score(png, "icon-living-trust", ocr=False), score(hue_rotated(png), "icon-living-trust", ocr=False)
    assert good.get("palette").passed, good.get("palette").note
    assert rotated.get("palette").passed is False
    assert rotated.get("palette").value < 0.3 < 0.9 < good.get("palette").value
    assert rotated.get("palette").detail["largest_off_palette_share"] > 0.3


def test_a_blurred_image_fails_sharpness_and_the_sharp_one_passes():
    png = standin_image("icon-will")
    assert score(png, "icon-will", ocr=False).get("sharpness").passed
    soft = score(blurred(png), "icon-will", ocr=False).get("sharpness")
    assert soft.passed is False and soft.value > soft.threshold


def test_our_blur_effect_is_scikit_images():
    from skimage.measure import blur_effect as skimage_blur_effect

    from engine.quality.form import blur_effect

    for png in (standin_image("icon-will"), blurred(standin_image("illus-trust-review"))):
        grey = load_pixels(png).grey_small
        assert blur_effect(grey) == pytest.approx(skimage_blur_effect(grey), abs=1e-5)


def test_a_wrong_aspect_ratio_fails_form():
    square = standin_image("icon-will")  # 1024x1024, scored as a 16:9 hero
    checks = score(square, "hero-trust-planning", ocr=False)
    assert checks.get("aspect").passed is False
    assert checks.get("size").passed is False
    right = score(standin_image("hero-trust-planning"), "hero-trust-planning", ocr=False)
    assert right.get("aspect").passed and right.get("size").passed


def test_a_resized_copy_of_another_asset_is_flagged_as_its_near_duplicate():
    original = standin_image("icon-will")
    other = standin_image("icon-probate")
    library = LibraryIndex([
        LibraryEntry("icon-will", "s1:icon-will", "/lib/icon-will.png", phash_of(load_pixels(original))),
        LibraryEntry("icon-probate", "s1:icon-probate", "/lib/icon-probate.png", phash_of(load_pixels(other))),
    ])
    copy = score(resized(original, 640, 640), "icon-living-trust", library=library, ocr=False).get("near_duplicate")
    assert copy.passed is False
    assert copy.detail["duplicate_of"] == "icon-will" and copy.detail["distance"] <= 2
    fresh = score(standin_image("icon-living-trust"), "icon-living-trust", library=library, ocr=False)
    assert fresh.get("near_duplicate").passed, fresh.get("near_duplicate").note


def test_a_new_attempt_at_the_same_asset_is_not_its_own_duplicate():
    png = standin_image("icon-will")
    library = LibraryIndex([LibraryEntry("icon-will", "s1:icon-will", "/lib/a.png", phash_of(load_pixels(png)))])
    assert score(png, "icon-will", library=library, ocr=False).get("near_duplicate").passed


def test_character_error_rate_finds_the_headline_among_other_lines():
    cer, matched = character_error_rate(["HEARTHSTONE", "Five Documents Every", "Family Needs", "Swipe"],
                                        "Five Documents Every Family Needs")
    assert cer == 0 and matched == "five documents every family needs"
    assert character_error_rate(["Five Dacuments Every Family Needs"], "Five Documents Every Family Needs")[0] \
        == pytest.approx(1 / 33)
    assert character_error_rate([], "Five Documents")[0] == 1.0


@pytest.mark.slow
def test_a_social_card_whose_text_differs_from_its_headline_fails_copy():
    assert ocr_available()[0], ocr_available()[1]
    title = CATALOG.get("social-checklist-tip").title  # "Five Documents Every Family Needs"
    right = score(card_with_text(["Five Documents Every", "Family Needs"]), "social-checklist-tip")
    wrong = score(card_with_text(["Three Forms Some", "People Want"]), "social-checklist-tip")
    assert right.get("copy").passed, right.get("copy").note
    assert wrong.get("copy").passed is False and wrong.get("copy").value > 0.5
    assert wrong.get("copy").detail["intended"] == title
    assert right.get("contrast").detail["where"] == "text against its background"


def test_every_check_names_its_threshold_and_scorer_version():
    card = score(standin_image("icon-will"), "icon-will", ocr=False)
    for check in card.checks:
        assert check.version and "/" in check.version
        assert check.passed is None or check.threshold is not None


def test_the_default_template_quality_section_is_valid_and_a_bad_one_is_named():
    assert validate_quality(BODY) == []
    problems = validate_quality({"quality": {"defaults": {"palette_min_sahre": 0.5}, "types": {"icons": {"max_blur": -1}}}})
    assert any("palette_min_sahre" in p for p in problems) and any("icons.max_blur" in p for p in problems)


def test_a_check_as_a_dict_carries_every_field_and_round_trips():
    from dataclasses import asdict

    from engine.quality.check import Check

    check = Check(name="palette", value=3.5, threshold=10.0, op="<=", passed=True, version="v1", note="n",
                  detail={"colours": ["#112233"], "share": 0.4})
    assert check.to_dict() == asdict(check)
    assert Check.from_dict(check.to_dict()) == check
