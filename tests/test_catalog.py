"""The asset catalog: the shipped file is complete, broken files explain themselves, select() picks right."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.templates.catalog import ASPECT_RATIOS, DEFAULT_CATALOG_PATH, CatalogError, load_catalog

HEADER = """
[catalog]
name = "Test catalog"
version = "0.1"
tiers = ["essential", "signature", "heritage"]
themes = ["security", "legacy", "clarity"]

[types.icons]
label = "icon"
aspect_ratio = "1:1"
image_size = "1K"

[types.heroes]
label = "hero image"
aspect_ratio = "16:9"
image_size = "2K"
"""


def asset_toml(asset_id: str, **overrides) -> str:
    fields = {"id": asset_id, "type": "icons", "title": "Will", "description": "A rolled scroll.",
              "tier": "essential", "theme": "clarity"}
    fields.update(overrides)
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in fields.items() if v is not None)
    return f"\n[[assets]]\n{body}\n"


def write_catalog(tmp_path: Path, *assets: str, header: str = HEADER) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(header + "".join(assets), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    return str(info.value)


def test_shipped_catalog_has_forty_assets_and_twenty_icons():
    catalog = load_catalog()
    assert catalog.path == DEFAULT_CATALOG_PATH
    assert catalog.name == "Estate Planning v4.0" and catalog.version == "4.0"
    assert catalog.types == ("icons", "illustrations", "heroes", "backgrounds", "social_cards")
    counts = {name: len(items) for name, items in catalog.by_type().items()}
    assert len(catalog.assets) >= 40
    assert counts["icons"] >= 20 and counts["illustrations"] >= 8 and counts["heroes"] >= 5
    assert counts["backgrounds"] >= 4 and counts["social_cards"] >= 4
    assert len({a.id for a in catalog.assets}) == len(catalog.assets)
    assert all(a.aspect_ratio in ASPECT_RATIOS for a in catalog.assets)
    assert {a.tier for a in catalog.assets} == set(catalog.tiers) and catalog.top_tier == "heritage"


def test_asset_takes_type_defaults_and_singular_label(tmp_path):
    path = write_catalog(tmp_path, asset_toml("hero-porch", type="heroes", must_include="a porch"))
    (asset,) = load_catalog(path).assets
    assert (asset.aspect_ratio, asset.image_size, asset.type_label) == ("16:9", "2K", "hero image")
    assert asset.must_include == ("a porch",)


@pytest.mark.parametrize(("override", "field", "expected"), [
    ({"title": None}, "title", "required field is missing"),
    ({"type": "posters"}, "type", "expected one of icons, heroes"),
    ({"tier": "gold"}, "tier", "expected one of essential, signature, heritage"),
    ({"aspect_ratio": "7:5"}, "aspect_ratio", "expected one of 1:1, 2:3"),
    ({"theme": "joy"}, "theme", "expected one of security, legacy, clarity"),
    ({"must_inclde": "x"}, "must_inclde", "unknown field"),
], ids=["missing-field", "unknown-type", "unknown-tier", "bad-aspect-ratio", "unknown-theme", "unknown-field"])
def test_invalid_asset_error_names_file_asset_and_field(tmp_path, override, field, expected):
    path = write_catalog(tmp_path, asset_toml("icon-ok"), asset_toml("icon-broken", **override))
    message = load_error(path)
    assert str(path) in message
    assert "'icon-broken'" in message and "assets[1]" in message
    assert f"field '{field}'" in message
    assert expected in message
    assert "icon-ok" not in message


def test_duplicate_id_names_both_positions(tmp_path):
    path = write_catalog(tmp_path, asset_toml("icon-will"), asset_toml("icon-will", title="Again"))
    message = load_error(path)
    assert str(path) in message and "'icon-will' (assets[1]) field 'id'" in message
    assert "duplicate id, already used by assets[0]" in message


def test_asset_without_id_is_named_by_index(tmp_path):
    path = write_catalog(tmp_path, asset_toml("icon-ok"), asset_toml(None, id=None))
    message = load_error(path)
    assert "assets[1] field 'id': required field is missing" in message


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write_catalog(tmp_path, asset_toml("icon-ok"), '\n[[assets]]\nid = "icon-x\n')
    message = load_error(path)
    broken_line = (HEADER + asset_toml("icon-ok")).count("\n") + 3
    assert str(path) in message and f"line {broken_line}" in message and "TOML syntax error" in message


def test_every_problem_is_reported_at_once(tmp_path):
    path = write_catalog(tmp_path, asset_toml("icon-a", tier="gold"), asset_toml("icon-b", theme="joy"))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert len(info.value.errors) == 2
    assert "2 problem(s)" in str(info.value)


def test_missing_file_says_what_was_expected(tmp_path):
    message = load_error(tmp_path / "nope.toml")
    assert "nope.toml" in message and "file not found" in message


def test_select_filters_by_type_in_catalog_order_and_limits():
    catalog = load_catalog()
    heroes = catalog.select(types=["heroes"])
    assert heroes and all(a.type == "heroes" for a in heroes)
    assert heroes == [a for a in catalog.assets if a.type == "heroes"]
    both = catalog.select(types=["social_cards", "heroes"], limit=4)
    assert both == [a for a in catalog.assets if a.type in ("heroes", "social_cards")][:4]
    assert catalog.select(types="heroes") == heroes
    assert catalog.select() == catalog.assets
    assert catalog.select(limit=0) == []


def test_select_test_mode_makes_three_of_the_test_type_spread_over_tiers():
    catalog = load_catalog()
    icons = catalog.select(test=True)
    assert len(icons) == 3 and all(a.type == "icons" for a in icons)
    assert {a.tier for a in icons} == set(catalog.tiers)  # the luxury path shows in a test run
    heroes = catalog.select(test=True, test_type="heroes", types=["icons"])
    assert len(heroes) == 3 and all(a.type == "heroes" for a in heroes)


def test_select_unknown_type_lists_valid_types():
    catalog = load_catalog()
    for call in (lambda: catalog.select(types=["icons", "posters"]),
                 lambda: catalog.select(test=True, test_type="posters")):
        with pytest.raises(CatalogError) as info:
            call()
        assert "'posters'" in str(info.value)
        assert "valid types: icons, illustrations, heroes, backgrounds, social_cards" in str(info.value)


def test_a_catalog_of_ten_thousand_assets_loads(tmp_path):
    """Issue 14: sessions of 10,000-50,000 assets are the product's scale, so `assetgen run` must take them
    (the count limit was 5,000)."""
    path = write_catalog(tmp_path, *(asset_toml(f"icon-{n:05d}") for n in range(10_000)))
    catalog = load_catalog(path)
    assert len(catalog.assets) == 10_000 and catalog.assets[-1].id == "icon-09999"


def test_a_catalog_over_the_byte_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import engine.templates.catalog as catalog_module

    path = write_catalog(tmp_path, asset_toml("icon-will"), "\n# padding\n" * 10)
    monkeypatch.setattr(catalog_module, "MAX_CATALOG_BYTES", path.stat().st_size - 1)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert f"{path.stat().st_size:,} bytes, over the limit of {path.stat().st_size - 1:,}" in str(info.value)
    assert "split the catalog" in str(info.value)


def test_a_catalog_over_the_asset_count_limit_is_refused(tmp_path, monkeypatch):
    import engine.templates.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "MAX_ASSETS", 2)
    path = write_catalog(tmp_path, *(asset_toml(f"icon-{n}") for n in range(3)))
    with pytest.raises(CatalogError, match="3 assets, over the limit of 2"):
        load_catalog(path)


def test_catalog_errors_survive_a_process_boundary(tmp_path):
    import pickle

    error = CatalogError(tmp_path / "c.toml", ["line 1: one", "line 2: two"])
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, CatalogError) and again.errors == error.errors and str(again) == str(error)


@pytest.mark.slow  # starts a process
def test_a_large_catalog_is_parsed_aside_to_the_same_catalog_and_errors(tmp_path):
    """`assetgen run` parses a large catalog in another process while the engine starts (issue 14: the first
    image of a 10,000-asset session waited for the parse); the result is what load_catalog gives."""
    from engine.templates.catalog import load_catalog_aside

    path = write_catalog(tmp_path, *(asset_toml(f"icon-{n:05d}") for n in range(300)))
    assert load_catalog_aside(path, min_bytes=path.stat().st_size + 1) is None  # small: parsed in the engine
    assert load_catalog_aside(tmp_path / "missing.toml", min_bytes=0) is None  # load_catalog says why
    assert load_catalog_aside(path, min_bytes=0).result(timeout=60) == load_catalog(path)
    broken = tmp_path / "broken-2.toml"
    broken.write_text(HEADER + asset_toml("icon-a", tier="platinum") + asset_toml("icon-b", theme="joy"), encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog_aside(broken, min_bytes=0).result(timeout=60)
    assert len(info.value.errors) == 2 and "platinum" in str(info.value) and "joy" in str(info.value)


def test_assets_share_their_vocabulary_words(tmp_path):
    """Every open item of a session holds its asset: a type, tier or theme is one string, not one per asset."""
    path = write_catalog(tmp_path, asset_toml("icon-a"), asset_toml("icon-b"))
    first, second = load_catalog(path).assets
    for field in ("type", "tier", "theme", "aspect_ratio", "image_size"):
        assert getattr(first, field) is getattr(second, field), field
