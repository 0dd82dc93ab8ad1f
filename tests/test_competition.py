"""Model competition: the scoring rule, the structured answer's checks, and what a session records."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from helpers.pipeline_kit import (
    assert_money_adds_up, assert_one_winner_per_item, forwarding_handler, mock_client_factory, session_events,
)

from engine.session.competition import Proposal, parse_proposal, score_proposals
from engine.config import load_settings
from engine.providers.standin.transport import OpenRouterStandIn
from engine.process.runtime import Engine
from engine.session.save import read_provenance
from engine.session.spec import RunSpec
from engine.store.database import Store

pytestmark = pytest.mark.timeout(60)
REQUIRED = ["a rolled scroll with a wax seal", "deep navy", "antique gold", "open white space"]


def proposal(model: str, prompt: str, *, confidence: float = 0.8, cost: float = 0.01) -> Proposal:
    return Proposal(model=model, prompt=prompt, confidence=confidence, rationale="", cost_usd=cost, latency_ms=1.0)


def test_coverage_of_required_elements_beats_a_higher_self_reported_confidence():
    covering = proposal("a/covers", "rolled scroll, wax seal, deep navy, antique gold, open white space",
                        confidence=0.5)
    confident = proposal("b/boasts", "a nice legal document icon", confidence=1.0)
    verdict = score_proposals([confident, covering], REQUIRED)

    assert verdict.winner.model == "a/covers"
    assert verdict.winner.coverage == 1.0 and confident.coverage == 0.0
    assert "a/covers wins" in verdict.reasoning and "Runner-up b/boasts" in verdict.reasoning


def test_among_equal_proposals_the_cheaper_one_wins_then_the_model_id_decides():
    text = "rolled scroll with wax seal in deep navy and antique gold, open white space"
    cheap, dear = proposal("z/cheap", text, cost=0.001), proposal("a/dear", text, cost=0.01)
    assert score_proposals([dear, cheap], REQUIRED).winner.model == "z/cheap"
    twins = [proposal("b/two", text), proposal("a/one", text)]
    assert score_proposals(twins, REQUIRED).winner.model == "a/one"


def test_score_follows_the_documented_weights():
    only = proposal("a/only", "deep navy, antique gold", confidence=0.6, cost=0.02)
    score_proposals([only], REQUIRED)
    # 0.35 × 0.6 + 0.50 × 2/4 + 0.15 × (1 − 0.02/0.02)
    assert only.score == pytest.approx(0.35 * 0.6 + 0.50 * 0.5 + 0.0, abs=1e-4)


@pytest.mark.parametrize("content, complaint", [
    ({"prompt": "", "confidence": 0.5, "rationale": "r"}, "'prompt'"),
    ({"prompt": "p", "confidence": 1.5, "rationale": "r"}, "'confidence'"),
    ({"prompt": "p", "confidence": True, "rationale": "r"}, "'confidence'"),
    ({"prompt": "p", "confidence": 0.5}, "'rationale'"),
    (["not", "an", "object"], "not a JSON object"),
])
def test_parse_proposal_names_what_is_wrong(content, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_proposal(content)


def test_a_competitor_answering_broken_json_is_dropped_billed_and_left_out_of_proposals(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)
    standin = OpenRouterStandIn(latency_scale=0, natural_malformed_rate=0.0)

    forward = forwarding_handler(lambda request, body: None, standin=standin)

    async def handler(request: httpx.Request) -> httpx.Response:
        response = await forward(request)
        if json.loads(request.content).get("model") != "openai/gpt-5-mini":
            return response
        doc = json.loads(response.content)
        doc["choices"][0]["message"]["content"] = "Sure! Here is the JSON: {prompt: oops"
        return httpx.Response(200, json=doc)

    async def main():
        async with Engine(settings, serve_websockets=False, client_factory=mock_client_factory(handler)) as engine:
            return await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0),
                                            session_id="s-comp")
    run = asyncio.run(main())
    store = Store(settings.db_path)

    assert run.counts() == {"saved": 3}
    events = session_events(store, "s-comp")
    dropped = [e["payload"] for e in events if e["type"] == "competitor_dropped"]
    assert len(dropped) == 3 and all("unusable answer" in d["reason"] for d in dropped)
    assert assert_one_winner_per_item(store, "s-comp") == 3
    assert store.query("SELECT count(*) FROM proposals WHERE model = 'openai/gpt-5-mini'")[0][0] == 0
    billed = store.query("SELECT min(cost_usd) FROM api_calls WHERE model = 'openai/gpt-5-mini'")[0][0]
    assert billed > 0  # the answer was useless but paid for: it counts in the session's cost
    assert_money_adds_up(store, "s-comp")
    for item in run.items.values():
        decision = next(e["payload"] for e in events if e["type"] == "model_decision" and e["item_id"] == item.item_id)
        assert decision["winner"] == item.model
        assert [s["model"] for s in decision["scores"]] == [c["model"] for c in read_provenance(item.image_path)["candidates"]]
        assert decision["scores"][0]["score"] == max(s["score"] for s in decision["scores"])
