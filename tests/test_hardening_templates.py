"""Templates cannot spend without bound: no format specs or conversions, and briefs have a size limit."""
from __future__ import annotations

import dataclasses

import pytest

from engine.templates.catalog import load_catalog
from engine.templates.brief import (
    TemplateError, TemplateVersion, build_brief, load_default_template_body, save_template_version,
    validate_template,
)

MAX_BRIEF_CHARS = 12_000  # documented in docs/operations.md (Limits)


@pytest.mark.parametrize("placeholder", ["{title:x>2000000}", "{title:>99999999999999999999}", "{title!r}",
                                         "{title!s:>5}"])
def test_a_placeholder_with_a_format_spec_or_conversion_is_refused_at_save_time(store, placeholder):
    body = load_default_template_body()
    body["master_prompt"] = f"A brand image of {placeholder}."
    with pytest.raises(TemplateError) as refused:
        save_template_version(store, body, author="ana")
    assert placeholder in str(refused.value) and "no format spec or conversion" in str(refused.value)
    assert store.query("SELECT count(*) FROM template_versions")[0][0] == 0  # nothing saved


def test_a_brief_over_the_limit_is_refused_at_save_time_naming_the_asset(store):
    assets = load_catalog().assets[:3]
    wordy = dataclasses.replace(assets[1], description="very " * (MAX_BRIEF_CHARS // 5))
    with pytest.raises(TemplateError) as refused:
        save_template_version(store, load_default_template_body(), author="ana", assets=[assets[0], wordy, assets[2]])
    message = str(refused.value)
    assert repr(wordy.id) in message and f"{MAX_BRIEF_CHARS:,}" in message
    assert repr(assets[0].id) not in message and repr(assets[2].id) not in message


def test_a_master_prompt_that_makes_every_brief_too_long_is_refused_against_the_default_catalog(store):
    body = load_default_template_body()
    body["master_prompt"] = "{title} " + "luxurious " * (MAX_BRIEF_CHARS // 10)
    validate_template(body)  # the shape is fine: only rendering shows the size
    with pytest.raises(TemplateError) as refused:
        save_template_version(store, body, author="ana")
    assert repr(load_catalog().assets[0].id) in str(refused.value) and "more assets" in str(refused.value)


def test_a_body_written_by_sql_that_renders_too_long_fails_at_build_time_not_at_the_provider():
    body = load_default_template_body()
    body["master_prompt"] = "{title} " + "x" * MAX_BRIEF_CHARS
    asset = load_catalog().assets[0]
    with pytest.raises(TemplateError) as refused:
        build_brief(asset, TemplateVersion(7, body, None, None, None))
    assert "template v7 renders" in str(refused.value) and repr(asset.id) in str(refused.value)
