"""`assetgen score`, `review`, `rate` and `agreement`: thin commands over engine/quality."""
from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import cli
from tests.quality_images import hue_rotated, standin_image


def invoke(tmp_path, *args):
    return CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), *args], catch_exceptions=False)


def test_score_prints_every_check_and_fails_a_hue_rotated_icon(tmp_path):
    good, bad = tmp_path / "icon-will.png", tmp_path / "rotated.png"
    good.write_bytes(standin_image("icon-will"))
    bad.write_bytes(hue_rotated(standin_image("icon-will")))
    result = invoke(tmp_path, "score", str(good), str(bad), "--asset", "icon-will", "--json", "--no-ocr")
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["passed"] and first["asset_id"] == "icon-will"
    assert "palette" in second["failing"]
    assert {c["name"] for c in first["checks"]} == {"palette", "contrast", "copy", "size", "aspect", "alpha",
                                                     "sharpness", "near_duplicate"}


def test_score_names_the_problem_when_the_asset_is_unknown(tmp_path):
    stray = tmp_path / "holiday.png"
    stray.write_bytes(standin_image("icon-will"))
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "score", str(stray)])
    assert result.exit_code != 0 and "--asset ID" in result.output


def test_rate_then_review_and_agreement_on_an_empty_studio(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(standin_image("icon-will"))
    assert "nothing waits for review" in invoke(tmp_path, "review").output
    rated = invoke(tmp_path, "rate", str(image), "--rating", "4", "--tag", "good", "--by", "ana")
    assert rated.exit_code == 0 and "4/5 (good) by ana" in rated.output
    assert "no image has both" in invoke(tmp_path, "agreement").output
    refused = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "rate", str(image), "--rating", "4",
                                       "--tag", "meh"])
    assert refused.exit_code != 0 and "not one of" in refused.output
