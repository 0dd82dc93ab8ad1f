"""Quality in a real session: scores projected, the gate and --regenerate, judges billed as issued."""
from __future__ import annotations

import asyncio
import json
import math
import random

import pytest
from helpers.pipeline_kit import assert_each_item_ends_once, assert_money_adds_up, session_events, \
    standin_client_factory

from engine.config import load_settings
from engine.quality.rubric import RUBRIC, judge_messages, parse_judgement
from engine.quality.standin_judge import simulated_judgement
from engine.quality.store import add_rating, review_queue
from engine.process.runtime import Engine
from engine.session.save import read_provenance
from engine.session.spec import RunSpec
from engine.store.database import Store
from engine.templates.brief import ensure_default_template, load_default_template_body, save_template_version
from tests.quality_images import hue_rotated, standin_image

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)


def run_one(settings, spec: RunSpec, **engine_options):
    async def main():
        async with Engine(settings, serve_websockets=False, **engine_options) as engine:
            return await engine.run_session(spec)
    return asyncio.run(main())


def activate_body(settings, body: dict) -> int:
    store = Store(settings.db_path)
    store.migrate()
    ensure_default_template(store)
    return save_template_version(store, body, author="test", comment="quality", activate=True)


def narrow_palette_body() -> dict:
    """Navy only, and a strict share: the stand-in's ivory grounds, sage, gold and slate miss it."""
    body = load_default_template_body()
    body["style"]["palette"] = [{"name": "deep navy", "hex": "#1F2A44"}]
    body["quality"]["defaults"]["palette_min_share"] = 0.97
    return body


def test_every_saved_image_is_scored_into_the_scores_table_and_its_provenance(settings):
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0))
    store = Store(settings.db_path)
    rows = store.query("SELECT item_id, attempt, count(*) FILTER (WHERE kind = 'check'), "
                       "bool_and(version IS NOT NULL) FILTER (WHERE kind = 'check') FROM scores "
                       "WHERE session_id = ? GROUP BY 1, 2", [run.session_id])
    assert len(rows) == 3 and all(r[1] == 1 and r[2] == 8 and r[3] for r in rows)
    for path, in store.query("SELECT image_path FROM items WHERE session_id = ?", [run.session_id]):
        quality = read_provenance(path)["quality"]
        assert {c["name"] for c in quality["checks"]} >= {"palette", "contrast", "sharpness", "near_duplicate"}
        assert quality["verdict"] in ("passed", "failed")


def test_regenerate_2_keeps_every_attempt_costs_add_up_and_no_item_goes_over(settings):
    activate_body(settings, narrow_palette_body())
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0, regenerate=2))
    store = Store(settings.db_path)
    sid = run.session_id
    events = session_events(store, sid)
    scored: dict[str, list[int]] = {}
    for e in events:
        if e["type"] == "quality_scored":
            scored.setdefault(e["item_id"], []).append(e["payload"]["attempt"])
    assert set(scored) == set(assert_each_item_ends_once(store, sid))
    for item_id, attempts in scored.items():
        assert attempts == list(range(1, len(attempts) + 1)) and len(attempts) <= 3, (item_id, attempts)
    assert any(len(a) > 1 for a in scored.values()), "the narrow palette should fail some first attempts"
    regenerations = [e for e in events if e["type"] == "regeneration_started"]
    assert len(regenerations) == sum(len(a) - 1 for a in scored.values())
    assert all("brand palette" in e["payload"]["feedback"] for e in regenerations)
    # every attempt kept: on disk, in scores, and as one image call each; none over its 1 + 2 attempts
    image_calls = dict(store.query("SELECT item_id, count(*) FROM api_calls WHERE session_id = ? AND purpose = 'image' "
                                   "AND status = 'ok' GROUP BY 1", [sid]))
    paths = dict(((item, attempt), path) for item, attempt, path in store.query(
        "SELECT item_id, attempt, image_path FROM scores WHERE session_id = ? AND kind = 'gate'", [sid]))
    for item_id, attempts in scored.items():
        assert image_calls[item_id] == len(attempts) <= 3
        for attempt in attempts:
            assert read_provenance(paths[(item_id, attempt)])["attempt"] == attempt
    attempts_col = dict(store.query("SELECT item_id, attempts FROM items WHERE session_id = ?", [sid]))
    assert attempts_col == {item: len(a) for item, a in scored.items()}
    # costs: every call, item and session total agree to the nanodollar
    total = assert_money_adds_up(store, sid)
    per_item = store.query("SELECT sum(cost_usd) FROM items WHERE session_id = ?", [sid])[0][0]
    assert math.isclose(per_item, total, abs_tol=1e-9)
    # an item whose last attempt still failed waits in the review queue until someone rates it
    failed_last = {i for i, a in scored.items()
                   if store.query("SELECT passed FROM scores WHERE item_id = ? AND attempt = ? AND kind = 'gate'",
                                  [i, a[-1]])[0][0] is False}
    assert {r["item_id"] for r in review_queue(store)} == failed_last
    for row in review_queue(store):
        add_rating(store, image_path=row["image_path"], rating=2, tag="off-brand", rated_by="ana",
                   item_id=row["item_id"], attempt=row["attempt"])
    assert review_queue(store) == []


def test_judge_calls_with_faults_bill_exactly_what_the_standin_issued(settings):
    transports: list = []
    run = run_one(settings, RunSpec(test=True, test_type="icons", latency_scale=0, judge=True,
                                    faults="429=0.15,502=0.1,malformed=0.1", seed=7),
                  client_factory=standin_client_factory(transports=transports))
    store = Store(settings.db_path)
    sid = run.session_id
    log = transports[0].log
    issued = sum(entry["cost"] for entry in log)
    billed = assert_money_adds_up(store, sid)
    assert math.isclose(issued, billed, abs_tol=1e-9), (issued, billed)
    judge_calls = store.query("SELECT count(*), count(*) FILTER (WHERE status = 'ok'), sum(cost_usd) FROM api_calls "
                              "WHERE session_id = ? AND purpose = 'judge'", [sid])[0]
    assert judge_calls[1] >= 1 and judge_calls[2] > 0
    judged = [e["payload"] for e in session_events(store, sid) if e["type"] == "quality_scored"]
    models = {j["model"] for p in judged for j in p["judges"]}
    assert models == {"google/gemini-2.5-flash", "openai/gpt-5-mini"}
    answered = [j for p in judged for j in p["judges"] if not j["error"]]
    assert answered and all(j["simulated"] for j in answered)
    assert all(e["reason"].startswith("SIMULATED") for j in answered for e in j["scores"].values())
    rows = store.query("SELECT count(*) FROM scores WHERE session_id = ? AND kind = 'judge' AND name = 'overall'", [sid])
    assert rows[0][0] == sum(len(p["judges"]) for p in judged)


def test_the_standin_judge_scores_an_off_brand_image_lower_than_an_on_brand_one():
    palette = [c["hex"] for c in load_default_template_body()["style"]["palette"]]
    good_png = standin_image("icon-living-trust")

    def judge(png):
        messages = judge_messages(brief="icon \"Living Trust\"", palette=palette, intended_text=None, image_png=png)
        return parse_judgement(json.loads(simulated_judgement(messages, "openai/gpt-5-mini", random.Random(1))))

    good, bad = judge(good_png), judge(hue_rotated(good_png))
    assert set(good) == set(RUBRIC)
    assert good["brand"]["score"] >= 4 > 2 >= bad["brand"]["score"]
    assert sum(s["score"] for s in bad.values()) < sum(s["score"] for s in good.values())


def test_a_rating_outside_1_to_5_or_without_a_rater_is_refused_with_the_reason(store):
    from engine.quality.store import RatingError

    with pytest.raises(RatingError, match="1 to 5"):
        add_rating(store, image_path="/x.png", rating=6, rated_by="ana")
    with pytest.raises(RatingError, match="rated_by"):
        add_rating(store, image_path="/x.png", rating=3, rated_by=" ")
    with pytest.raises(RatingError, match="tag"):
        add_rating(store, image_path="/x.png", rating=3, rated_by="ana", tag="ugly")
    assert add_rating(store, image_path="/x.png", rating=3, rated_by="ana", tag="illegible") == 1
