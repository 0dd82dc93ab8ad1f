"""Delivery renditions keep the chain: each carries its own manifest naming the saved original as ingredient."""
from __future__ import annotations

import pytest
from credentials_kit import anchors, assetgen, c2pa_read, run_signed_session
from PIL import Image

from engine.credentials import StudioCredentials
from engine.credentials.export import ExportError, export_rendition

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return run_signed_session(tmp_path_factory.mktemp("export") / "data", session_id="s-export")


def original_of(run):
    return sorted(run.recent.values(), key=lambda i: i.item_id)[0]


def test_a_webp_rendition_carries_a_manifest_whose_ingredient_is_the_original(session):
    settings, run = session
    item = original_of(run)
    result = assetgen(settings, "export-asset", item.asset.id, "--format", "webp", "--width", "256")
    assert result.exit_code == 0, result.output
    path = settings.data_dir / "exports" / "s-export" / f"{item.asset.id}-w256.webp"
    assert str(path) in result.output and "credentials signed" in result.output
    with Image.open(path) as image:
        assert (image.format, image.width) == ("WEBP", 256)

    original_store, _, _ = c2pa_read(open(item.image_path, "rb").read(), "image/png", anchors(settings))
    store, state, results = c2pa_read(path.read_bytes(), "image/webp", anchors(settings))
    assert state == "Trusted" and results["activeManifest"]["failure"] == []
    manifest = store["manifests"][store["active_manifest"]]
    [ingredient] = manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and ingredient["title"] == f"{item.asset.id}.png"
    assert ingredient["active_manifest"] == original_store["active_manifest"]  # the very manifest the original carries
    actions = [a["action"] for a in manifest["assertions"][0]["data"]["actions"]]
    assert actions == ["c2pa.opened", "c2pa.resized", "c2pa.transcoded"]

    verified = assetgen(settings, "verify", str(path))
    assert verified.exit_code == 0, verified.output
    assert "studio record      matches" in verified.output  # found through the ingredient


def test_a_same_format_rendition_is_resized_only_and_keeps_the_xmp(session):
    settings, run = session
    item = original_of(run)
    credentials = StudioCredentials.open(settings.data_dir)
    rendition = export_rendition(item.image_path, settings.data_dir / "out" / "small.png", fmt="png", width=100,
                                 credentials=credentials)
    store, state, _ = c2pa_read(rendition.path.read_bytes(), "image/png", anchors(settings))
    actions = [a["action"] for a in store["manifests"][store["active_manifest"]]["assertions"][0]["data"]["actions"]]
    assert state == "Trusted" and actions == ["c2pa.opened", "c2pa.resized"]
    with Image.open(rendition.path) as image:
        assert image.getxmp()["xmpmeta"]["RDF"]["Description"]["title"]["Alt"]["li"]["text"] == item.asset.title


def test_renditions_never_upscale_and_unknown_assets_are_named(session):
    settings, run = session
    item = original_of(run)
    with pytest.raises(ExportError, match="never upscale"):
        export_rendition(item.image_path, settings.data_dir / "out" / "big.webp", fmt="webp", width=99999,
                         credentials=StudioCredentials.open(settings.data_dir))
    result = assetgen(settings, "export-asset", "no-such-asset")
    assert result.exit_code != 0 and "no saved image for 'no-such-asset'" in result.output
