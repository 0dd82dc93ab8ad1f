"""The Gallery shows, per image, what its Content Credentials prove."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from console_fixtures import FINISHED, build_sample_db
from engine.credentials import StudioCredentials
from engine.store.database import Store

pytestmark = pytest.mark.timeout(120)
APP = Path(__file__).resolve().parent.parent / "app.py"


def sign_in_place(sample, item_id: str) -> None:
    """Sign one sample image as the saver would, with a provenance that agrees with the database."""
    row = Store(sample.db_path).query_dicts("SELECT final_prompt, cost_usd, image_path FROM items WHERE item_id = ?",
                                            [item_id])[0]
    session_id, asset_id = item_id.split(":")
    provenance = {"session_id": session_id, "item_id": item_id, "asset_id": asset_id, "prompt": row["final_prompt"],
                  "image_model": "google/gemini-2.5-flash-image", "costs": {"total_usd": row["cost_usd"]}}
    path = Path(row["image_path"])
    seal = StudioCredentials.open(sample.data_dir).seal(provenance, title=path.name)
    path.write_bytes(seal(path.read_bytes()))
    assert seal.status == "signed"


def test_gallery_badges_a_verified_image_and_an_unsigned_one_and_details_the_checks(tmp_path, monkeypatch):
    sample = build_sample_db(tmp_path)
    signed = f"{FINISHED}:icon-will"
    sign_in_place(sample, signed)
    monkeypatch.setenv("ASSETGEN_DATA_DIR", str(sample.data_dir))
    monkeypatch.setenv("ASSETGEN_DB", str(sample.db_path))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.switch_page("console/gallery.py").run()
    assert not at.exception, [e.message for e in at.exception]
    text = [m.value for m in at.markdown]
    assert text.count(":green-badge[Content Credentials verified]") == 1
    assert ":grey-badge[no Content Credentials]" in text

    at.selectbox(key="gal_detail").select(signed).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Content Credentials** :green-badge[Content Credentials verified]" in m.value for m in at.markdown)
    checks = " ".join(c.value for c in at.caption)
    assert "✓ signature valid" in checks and "✓ matches the studio's record" in checks
    assert json.loads(at.json[0].value)["item_id"] == signed  # the provenance chunk survived signing
