"""Saved images carry proof a stranger's tools read: A1111 parameters, XMP, and trusted Content Credentials."""
from __future__ import annotations

import hashlib
import json

import pytest
from credentials_kit import anchors, assetgen, c2pa_read, run_signed_session
from PIL import Image
from sd_parsers import ParserManager

from engine.credentials.manifest import DIGITAL_SOURCE_TYPE, STUDIO_ASSERTION
from engine.store.database import Store

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return run_signed_session(tmp_path_factory.mktemp("cred") / "data")


def one_item(run):
    return sorted(run.recent.values(), key=lambda i: i.item_id)[0]


def active(store: dict) -> dict:
    return store["manifests"][store["active_manifest"]]


def test_sd_parsers_reads_prompt_model_seed_and_size_from_a_saved_image(session):
    settings, run = session
    for item in run.recent.values():
        info = ParserManager().parse(item.image_path)
        assert info is not None, "sd-parsers found no metadata"
        sampler = info.samplers[0]
        with Image.open(item.image_path) as image:
            size = f"{image.width}x{image.height}"
        provenance = json.loads(Image.open(item.image_path).text["provenance"])
        assert info.full_prompt == item.prompt
        assert sampler.model.name == run.spec.image_model
        assert sampler.parameters["seed"] == str(provenance["seed"])
        assert info.metadata["Size"] == size


def test_the_c2pa_reader_trusts_a_saved_image_with_the_studios_anchor_and_reports_no_error(session):
    settings, run = session
    for item in run.recent.values():
        data = open(item.image_path, "rb").read()
        store, state, results = c2pa_read(data, "image/png", anchors(settings))
        assert state == "Trusted"
        assert results["activeManifest"]["failure"] == []
        codes = {entry["code"] for entry in results["activeManifest"]["success"]}
        assert {"signingCredential.trusted", "claimSignature.validated", "assertion.dataHash.match"} <= codes
        assertions = {a["label"]: a["data"] for a in active(store)["assertions"]}
        created = assertions["c2pa.actions.v2"]["actions"][0]
        assert created["action"] == "c2pa.created"
        assert created["digitalSourceType"] == DIGITAL_SOURCE_TYPE
        assert created["softwareAgent"]["name"] == run.spec.image_model


def test_without_the_studios_anchor_the_same_image_is_valid_but_its_signer_untrusted(session):
    settings, run = session
    data = open(one_item(run).image_path, "rb").read()
    _, state, results = c2pa_read(data, "image/png", None)
    assert state == "Valid"
    assert [f["code"] for f in results["activeManifest"]["failure"]] == ["signingCredential.untrusted"]


def test_the_studio_assertion_names_session_asset_template_prompt_hash_decision_scores_and_cost(session):
    settings, run = session
    item = one_item(run)
    store, _, _ = c2pa_read(open(item.image_path, "rb").read(), "image/png", anchors(settings))
    studio = {a["label"]: a["data"] for a in active(store)["assertions"]}[STUDIO_ASSERTION]
    assert (studio["session_id"], studio["item_id"], studio["asset_id"]) == (run.session_id, item.item_id,
                                                                          item.asset.id)
    assert studio["template_version"] == item.template_version
    assert studio["prompt_sha256"] == hashlib.sha256(item.prompt.encode()).hexdigest()
    assert studio["cost_usd"] == pytest.approx(item.cost_usd, abs=1e-7)
    assert studio["decision"]["decided_by"] == "policy"  # a 3-item test batch is under the approval threshold
    assert {s["model"] for s in studio["scores"]} == {p.model for p in item.proposals}
    assert item.prompt not in json.dumps(store)  # the hash, not the prompt (which is in `parameters`)


def test_one_changed_byte_is_a_hash_mismatch_for_the_reader_and_for_assetgen_verify(session, tmp_path):
    settings, run = session
    data = bytearray(open(one_item(run).image_path, "rb").read())
    data[data.index(b"IDAT") + 40] ^= 0x01
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(bytes(data))

    _, state, results = c2pa_read(bytes(data), "image/png", anchors(settings))
    assert state == "Invalid"
    assert "assertion.dataHash.mismatch" in [f["code"] for f in results["activeManifest"]["failure"]]

    result = assetgen(settings, "verify", str(tampered))
    assert result.exit_code == 1
    assert "content unchanged  NO (assertion.dataHash.mismatch)" in result.output
    report = json.loads(assetgen(settings, "verify", str(tampered), "--format", "json").output)[0]
    assert report["content_unchanged"] is False and report["signature_valid"] is True and not report["ok"]


def test_assetgen_verify_passes_every_saved_image_and_matches_the_studios_record(session):
    settings, run = session
    paths = [item.image_path for item in run.recent.values()]
    result = assetgen(settings, "verify", *paths, "--format", "json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert len(reports) == 3
    for report in reports:
        assert report["ok"] and report["signer_trusted"] and report["content_unchanged"]
        assert report["record_matches"] is True


def test_assetgen_verify_reports_a_manifest_that_disagrees_with_the_studios_record(session, tmp_path):
    settings, run = session
    item = one_item(run)
    copy = settings.with_(data_dir=tmp_path, db_path=tmp_path / "studio.duckdb")
    (tmp_path / "studio.duckdb").write_bytes(settings.db_path.read_bytes())
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "trust-anchors.pem").write_text(anchors(settings))
    with Store(copy.db_path).write() as con:
        con.execute("UPDATE items SET cost_usd = cost_usd + 1 WHERE item_id = ?", [item.item_id])
    report = json.loads(assetgen(copy, "verify", item.image_path, "--format", "json").output)[0]
    assert report["record_matches"] is False
    assert any(problem.startswith("cost:") for problem in report["record_problems"])


def test_xmp_carries_title_description_creator_credit_and_digital_source_type(session):
    settings, run = session
    item = one_item(run)
    with Image.open(item.image_path) as image:
        xmp = image.getxmp()["xmpmeta"]["RDF"]["Description"]  # Pillow's XMP reader
    assert xmp["title"]["Alt"]["li"]["text"] == item.asset.title
    assert xmp["description"]["Alt"]["li"]["text"] == item.prompt
    assert xmp["creator"]["Seq"]["li"] == "assetgen studio"
    assert "AI-generated" in xmp["Credit"] and run.spec.image_model in xmp["Credit"]
    assert xmp["DigitalSourceType"] == DIGITAL_SOURCE_TYPE


def test_image_saved_events_say_each_image_was_signed_and_hash_the_signed_file(session):
    settings, run = session
    rows = Store(settings.db_path).query(
        "SELECT payload->>'path', payload->>'credentials', payload->>'sha256' FROM events "
        "WHERE session_id = ? AND type = 'image_saved'", [run.session_id])
    assert len(rows) == 3
    for path, credentials, sha in rows:
        assert credentials == "signed"
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == sha


def test_with_signing_off_images_carry_xmp_and_parameters_but_no_manifest(tmp_path):
    settings, run = run_signed_session(tmp_path / "data", session_id="s-off", content_credentials=False)
    assert not (settings.data_dir / "credentials").exists()
    item = one_item(run)
    with Image.open(item.image_path) as image:
        assert "XML:com.adobe.xmp" in image.info and "parameters" in image.text
    result = assetgen(settings, "verify", item.image_path)
    assert result.exit_code == 1
    assert "manifest present   NO" in result.output


def test_png_has_manifest_tells_a_signed_file_from_an_unsigned_one(session):
    from engine.credentials.sign import png_has_manifest
    from engine.providers.standin.render import render_image

    settings, run = session
    assert png_has_manifest(open(one_item(run).image_path, "rb").read())
    assert not png_has_manifest(render_image("a lantern", width=32, height=32, seed=1))


@pytest.mark.skipif(not __import__("shutil").which("exiftool"), reason="exiftool not installed (apt-get install "
                    "libimage-exiftool-perl); Pillow's XMP reader covers the same fields above")
def test_exiftool_reads_the_xmp_and_the_a1111_parameters(session):
    import subprocess

    settings, run = session
    item = one_item(run)
    out = json.loads(subprocess.run(["exiftool", "-json", "-XMP:all", "-PNG:Parameters", item.image_path],
                                    capture_output=True, text=True, check=True).stdout)[0]
    assert out["Title"] == item.asset.title and out["Creator"] == "assetgen studio"
    assert out["DigitalSourceType"] == DIGITAL_SOURCE_TYPE and "AI-generated" in out["Credit"]
    assert out["Parameters"].startswith(item.prompt)
