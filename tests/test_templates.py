"""Prompt templates: versions in a real DuckDB file, briefs and their events, coverage scoring."""
from __future__ import annotations

import json

import pytest

from engine import events as ev
from engine.live.bus import Bus
from engine.templates.catalog import Asset, load_catalog
from engine.templates.brief import (
    TemplateError, activate_template, active_template, build_brief, competition_messages, coverage,
    default_template, diff_template_versions, ensure_default_template, get_template_version,
    list_template_versions, load_default_template_body, save_template_version, validate_template,
)

TEMPLATE_EVENTS = [ev.PromptTemplateStart, ev.PromptTierSelected, ev.AddingEmotionalLayer, ev.TemplateBuilding,
                   ev.StyleElementsApplied, ev.LuxuryIndicatorsApplied, ev.PromptTemplateComplete]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def brief_line(text: str, name: str) -> str:
    (line,) = [l for l in text.splitlines() if l.startswith(f"{name}: ")]
    return line[len(name) + 2:]


# --- versions ----------------------------------------------------------------------------------
def test_default_version_is_created_once_and_active(store):
    assert ensure_default_template(store) == 1
    assert ensure_default_template(store) == 1
    assert store.query("SELECT count(*) FROM template_versions") == [(1,)]
    active = active_template(store)
    assert (active.version, active.author, active.active) == (1, "built-in", True)
    assert active.body == load_default_template_body()


def test_active_template_on_an_empty_table_creates_the_default(store):
    assert active_template(store).version == 1


def test_save_activate_list_get_diff_round_trip(store):
    ensure_default_template(store)
    edited = load_default_template_body()
    edited["master_prompt"] = "A calm {asset_type} of {title}. {description}"
    v2 = save_template_version(store, edited, author="maya", comment="shorter master prompt")
    assert v2 == 2
    assert active_template(store).version == 1  # saving alone does not switch briefs over

    activate_template(store, 2)
    active = active_template(store)
    assert (active.version, active.author, active.comment, active.body) == (2, "maya", "shorter master prompt", edited)
    assert [(v.version, v.active) for v in list_template_versions(store)] == [(2, True), (1, False)]
    assert get_template_version(store, 1).body == load_default_template_body()

    v3 = save_template_version(store, load_default_template_body(), author="maya", comment="revert", activate=True)
    assert active_template(store).version == v3 == 3
    assert store.query("SELECT count(*) FROM template_versions WHERE active") == [(1,)]

    diff = diff_template_versions(get_template_version(store, 1), get_template_version(store, 2))
    assert diff.startswith("--- v1\n+++ v2\n")
    assert '+  "master_prompt": "A calm {asset_type} of {title}. {description}",' in diff
    assert diff_template_versions(get_template_version(store, 1).body, get_template_version(store, 3).body) == ""


def test_activation_records_who_and_when_on_the_version_it_activates(store):
    ensure_default_template(store)
    save_template_version(store, load_default_template_body(), author="maya", comment="copy")
    activate_template(store, 2, activated_by="lee")
    activate_template(store, 1, activated_by="sam")
    by_version = {v.version: v for v in list_template_versions(store)}
    assert (by_version[1].active, by_version[1].activated_by) == (True, "sam")
    assert (by_version[2].active, by_version[2].activated_by) == (False, "lee")  # its last activation stays on record
    assert by_version[1].activated_at >= by_version[2].activated_at


def test_invalid_body_is_refused_with_reasons_and_not_stored(store):
    ensure_default_template(store)
    body = load_default_template_body()
    body["master_prompt"] = "Paint {title} in {colour}"
    body["tier_rule"]["minimum_by_type"]["heroes"] = "platinum"
    body["style"]["palette"][0]["hex"] = "navy"
    with pytest.raises(TemplateError) as info:
        save_template_version(store, body, author="maya", comment="broken")
    message = str(info.value)
    assert "unknown placeholder(s) {colour}" in message and "{description}" in message  # lists the known ones
    assert "tier_rule.minimum_by_type.heroes: unknown tier 'platinum'" in message
    assert "style.palette[0]" in message
    assert store.query("SELECT count(*) FROM template_versions") == [(1,)]


def test_unknown_versions_are_refused_with_the_known_ones(store):
    ensure_default_template(store)
    with pytest.raises(TemplateError, match="no template version 9; known versions: 1"):
        activate_template(store, 9)
    with pytest.raises(TemplateError, match="no template version 9"):
        get_template_version(store, 9)
    assert active_template(store).version == 1


# --- briefs ------------------------------------------------------------------------------------
def test_build_brief_emits_the_template_events_in_order(catalog):
    emitted: list[ev.Event] = []
    asset = catalog.get("icon-executor")
    brief = build_brief(asset, default_template(), emit=emitted.append, session_id="s-1", item_id="s-1:icon-executor")
    assert [type(e) for e in emitted] == TEMPLATE_EVENTS
    assert {(e.session_id, e.item_id) for e in emitted} == {("s-1", "s-1:icon-executor")}
    start, tier, layer, building, style, luxury, complete = emitted
    assert (start.asset_id, start.asset_type, start.template_version) == ("icon-executor", "icons", 0)
    assert (tier.tier, tier.rule) == ("essential", "declared tier 'essential' from the catalog")
    assert layer.theme == "continuity" and layer.elements == ["paths and growth lines", "gentle forward progression",
                                                              "connected forms"]
    assert building.sections[0] == "brief" and building.sections[-1] == "required_elements"
    assert "deep navy #1F2A44" in style.elements
    assert (luxury.applied, luxury.indicators) == (False, [])
    assert (complete.brief, complete.length, complete.required_elements) == (brief.text, len(brief.text),
                                                                             brief.required_elements)
    assert complete.elements_used == brief.elements_used > 0


def test_brief_events_encode_on_the_real_bus(catalog):
    bus = Bus()
    build_brief(catalog.get("icon-family-tree"), default_template(), emit=bus.emit, session_id="s", item_id="s:x")
    records = bus.take_pending()
    assert [r.type for r in records] == [cls.name for cls in TEMPLATE_EVENTS]
    assert json.loads(records[-1].frame)["payload"]["required_elements"]


def test_brief_text_carries_the_lines_the_stand_in_parses(catalog):
    asset = catalog.get("icon-will")
    brief = build_brief(asset, default_template())
    assert brief_line(brief.text, "Asset type") == "icon"
    assert brief_line(brief.text, "Aspect ratio") == "1:1"
    assert 'Design the icon "Last Will and Testament"' in brief_line(brief.text, "Brief")
    assert brief_line(brief.text, "Required elements").split("; ") == brief.required_elements
    assert brief.required_elements == ["a rolled scroll with a wax seal", "deep navy", "antique gold", "centered",
                                       "open white space"]


def test_heritage_tier_gets_luxury_indicators(catalog):
    emitted: list[ev.Event] = []
    brief = build_brief(catalog.get("icon-family-tree"), default_template(), emit=emitted.append)
    luxury = next(e for e in emitted if isinstance(e, ev.LuxuryIndicatorsApplied))
    assert brief.tier == "heritage" and luxury.applied is True
    assert luxury.indicators[:2] == ["gold foil accents", "embossed texture"]
    assert {"gold foil accents", "embossed texture"} <= set(brief.required_elements)
    assert "Luxury indicators: gold foil accents; embossed texture" in brief.text


def test_heroes_are_raised_to_the_top_tier_by_the_tier_rule(catalog):
    emitted: list[ev.Event] = []
    asset = catalog.get("hero-digital-estate")
    assert asset.tier == "essential"
    brief = build_brief(asset, default_template(), emit=emitted.append)
    tier = next(e for e in emitted if isinstance(e, ev.PromptTierSelected))
    assert brief.tier == tier.tier == "heritage"
    assert tier.rule == "declared tier 'essential' raised to 'heritage': tier_rule.minimum_by_type.heroes = 'heritage'"


def test_an_edited_master_prompt_shapes_the_next_brief(store, catalog):
    body = load_default_template_body()
    body["master_prompt"] = "Quiet {asset_type} for {title}, mood {mood}."
    version = save_template_version(store, body, author="maya", comment="terse", activate=True)
    brief = build_brief(catalog.get("bg-sage-gradient"), active_template(store))
    assert brief.template_version == version
    assert brief_line(brief.text, "Brief") == "Quiet background pattern for Soft Sage Gradient, mood peace of mind."


def test_every_catalog_asset_builds_with_the_default_template(catalog):
    template = default_template()
    validate_template(template.body)
    for asset in catalog.assets:
        brief = build_brief(asset, template)
        assert brief.required_elements and all(";" not in e for e in brief.required_elements), asset.id


def test_asset_with_a_tier_or_theme_the_template_lacks_fails_clearly():
    odd = Asset(id="icon-x", type="icons", title="X", description="X.", tier="bespoke", aspect_ratio="1:1",
                theme="clarity")
    with pytest.raises(TemplateError, match="tier 'bespoke', which the template does not define"):
        build_brief(odd, default_template())


def test_competition_messages_ask_for_json_and_carry_the_brief(catalog):
    brief = build_brief(catalog.get("icon-will"), default_template())
    system, user = competition_messages(brief)
    assert system["role"] == "system" and '{"prompt": string, "confidence": number' in system["content"]
    assert user == {"role": "user", "content": brief.text}


# --- coverage ----------------------------------------------------------------------------------
def test_coverage_tolerates_case_plurals_word_order_and_small_words():
    required = ["a rolled scroll with a wax seal", "Deep Navy", "gold foil accents", "slate grey"]
    prompt = "Wax seals on a scroll, rolled; DEEP-NAVY ground, gold foil accent, slate gray shadow"
    assert coverage(prompt, required) == 1.0


def test_coverage_is_the_fraction_of_elements_fully_present():
    required = ["a rolled scroll with a wax seal", "deep navy", "antique gold", "centered"]
    assert coverage("A rolled scroll, deep navy, centred", required) == 0.5  # the seal is missing: no credit
    assert coverage("", required) == 0.0
    assert coverage("anything", []) == 1.0


# --- CLI ---------------------------------------------------------------------------------------
def test_cli_lists_saves_and_activates_versions(tmp_path):
    from click.testing import CliRunner

    from engine.cli import cli

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    listed = runner.invoke(cli, [*base, "templates", "list"])
    assert listed.exit_code == 0 and listed.output.startswith("* v1 ")
    body = tmp_path / "edited.json"
    body.write_text(json.dumps({**load_default_template_body(), "brand": "Hearthstone"}))
    saved = runner.invoke(cli, [*base, "templates", "save", str(body), "--comment", "short brand", "--author", "maya"])
    assert saved.exit_code == 0 and "saved template v2" in saved.output
    assert runner.invoke(cli, [*base, "templates", "activate", "2"]).exit_code == 0
    diff = runner.invoke(cli, [*base, "templates", "show", "--diff", "1"])
    assert '+  "brand": "Hearthstone",' in diff.output
    missing = runner.invoke(cli, [*base, "templates", "activate", "9"])
    assert missing.exit_code == 1 and "no template version 9; known versions: 1, 2" in missing.output


def test_cli_catalog_lists_by_type_and_names_unknown_types():
    from click.testing import CliRunner

    from engine.cli import cli

    runner = CliRunner()
    heroes = runner.invoke(cli, ["catalog", "--type", "heroes", "--format", "json"])
    assert heroes.exit_code == 0 and {a["type"] for a in json.loads(heroes.output)} == {"heroes"}
    unknown = runner.invoke(cli, ["catalog", "--type", "posters"])
    assert unknown.exit_code == 1 and "valid types: icons, illustrations" in unknown.output
