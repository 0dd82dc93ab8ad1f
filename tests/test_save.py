"""Saved PNGs: valid images whose `parameters` (A1111 format) and `provenance` chunks say how they came to be."""
from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
from PIL import Image

from engine.config import load_settings
from engine.providers.standin.render import render_image
from engine.process.runtime import Engine
from engine.session.save import asset_path, parameters_text, read_provenance, read_text_chunks, save_png
from engine.session.spec import RunSpec
from engine.store.database import Store

pytestmark = pytest.mark.timeout(60)

# A1111: the prompt, then one line of "Key: value" pairs: the sampler keys readers look for (neutral values
# for a hosted model, engine/credentials/a1111.py), then Seed, Size, Model and Cost.
PARAMETERS = re.compile(r"^(?P<prompt>.+)\nSteps: 1, Sampler: hosted, CFG scale: 1, Seed: (?P<seed>\d+), "
                        r"Size: (?P<w>\d+)x(?P<h>\d+), Model: (?P<model>[^,]+), Cost: \$(?P<cost>\d+\.\d+)$", re.S)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One 3-icon test session, shared by the checks on its files."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("save") / "data", tick_seconds=0.05)

    async def main():
        async with Engine(settings, serve_websockets=False) as engine:
            return await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0))
    run = asyncio.run(main())
    return settings, run


def test_each_saved_file_is_a_png_pillow_decodes_at_the_reported_size(session):
    settings, run = session
    rows = Store(settings.db_path).query_dicts(
        "SELECT payload->>'path' AS path, (payload->>'width')::INT AS w, (payload->>'height')::INT AS h "
        "FROM events WHERE session_id = ? AND type = 'image_saved'", [run.session_id])
    assert len(rows) == 3
    for row in rows:
        with Image.open(row["path"]) as img:
            img.load()
            assert (img.format, img.size) == ("PNG", (row["w"], row["h"]))


def test_parameters_chunk_is_a1111_format_with_the_winning_prompt_model_seed_size_and_cost(session):
    settings, run = session
    for item in run.items.values():
        chunks = read_text_chunks(item.image_path)
        match = PARAMETERS.match(chunks["parameters"])
        assert match, chunks["parameters"]
        with Image.open(item.image_path) as img:
            size = img.size
            assert img.text["parameters"] == chunks["parameters"]  # what other tools read
        assert match["prompt"] == item.prompt
        assert match["model"] == run.spec.image_model
        assert (int(match["w"]), int(match["h"])) == size
        assert float(match["cost"]) == pytest.approx(item.cost_usd, abs=1e-6)
        assert int(match["seed"]) == read_provenance(item.image_path)["seed"]


def test_provenance_names_winner_every_candidate_costs_template_version_and_session(session):
    settings, run = session
    store = Store(settings.db_path)
    for item in run.items.values():
        prov = read_provenance(item.image_path)
        assert prov["session_id"] == run.session_id and prov["item_id"] == item.item_id
        assert prov["prompt"] == item.prompt and prov["winner_model"] == item.model
        assert prov["template_version"] == item.template_version is not None
        proposals = store.query("SELECT model, confidence FROM proposals WHERE item_id = ? ORDER BY model",
                                [item.item_id])
        candidates = sorted((c["model"], c["confidence"]) for c in prov["candidates"])
        assert candidates == [(m, pytest.approx(c)) for m, c in proposals]
        costs = prov["costs"]
        assert costs["prompt_usd"] + costs["image_usd"] == pytest.approx(costs["total_usd"], abs=1e-7)
        billed = store.query("SELECT sum(cost_usd) FROM api_calls WHERE item_id = ?", [item.item_id])[0][0]
        assert costs["total_usd"] == pytest.approx(billed, abs=1e-7)
        assert prov["simulated"] is True and prov["provider"] == "standin"


def test_save_png_inserts_both_chunks_before_the_image_data_and_replaces_the_providers_own(tmp_path):
    image = render_image("a quiet lantern", width=64, height=48, seed=7)
    path = tmp_path / "s1" / "icon.png"
    provenance = {"prompt": "ünïcode prompt", "candidates": []}
    saved = save_png(path, image, parameters=parameters_text("ünïcode prompt", model="m/x", seed=7, width=64,
                                                             height=48, cost_usd=0.0123456),
                     provenance=provenance)

    data = path.read_bytes()
    assert (saved.width, saved.height, saved.bytes) == (64, 48, len(data))
    assert data.index(b"provenance") < data.index(b"IDAT")
    assert data.count(b"parameters") == 1  # the renderer wrote one too: a reader must not find two
    assert b"Software" in data  # the provider's other text is kept
    assert data[data.index(b"IDAT") - 4:] == image[image.index(b"IDAT") - 4:]  # pixels untouched
    assert read_text_chunks(path)["parameters"] == ("ünïcode prompt\nSteps: 1, Sampler: hosted, CFG scale: 1, Seed: 7, "
                                                     "Size: 64x48, Model: m/x, Cost: $0.012346")
    assert read_provenance(path) == provenance
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    assert not list(path.parent.glob("*.part"))  # written atomically


def test_save_png_refuses_bytes_that_are_not_a_png(tmp_path):
    with pytest.raises(ValueError, match="not a PNG"):
        save_png(tmp_path / "x.png", b"<html>error</html>", parameters="p", provenance={})
    assert not (tmp_path / "x.png").exists()


def test_asset_path_keeps_odd_ids_inside_the_session_folder(tmp_path):
    path = asset_path(tmp_path, "s1", "../../etc/passwd")
    assert path.parent == tmp_path / "s1"
    assert json.dumps(str(path))  # a plain, serialisable path
