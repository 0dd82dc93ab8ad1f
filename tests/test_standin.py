"""The offline stand-in: OpenRouter's shapes, seeded faults, distinct model voices, honest billing."""
from __future__ import annotations

import asyncio
import json
import random
import re
import time

import pytest

from engine.providers.standin.faults import FaultSpec
from engine.images import image_dimensions
from engine.providers.standin.transport import OpenRouterStandIn
from engine.providers.standin.voices import parse_brief, write_prompt

pytestmark = pytest.mark.timeout(60)

TEXT_MODELS = ["anthropic/claude-sonnet-4.5", "openai/gpt-5-mini", "google/gemini-2.5-flash",
               "meta-llama/llama-4-maverick", "deepseek/deepseek-v3.2"]
IMAGE_MODEL = "google/gemini-2.5-flash-image"
ELEMENTS = ["a wax seal", "a rolled scroll", "a gold ribbon", "two hands", "a small oak tree"]


def body(model, brief="An icon for the will page.", *, elements=ELEMENTS, json_mode=True, **extra) -> bytes:
    doc = {"model": model, "messages": [
        {"role": "system", "content": 'Answer as JSON {"prompt","confidence","rationale"}.'},
        {"role": "user", "content": f"Asset type: icon\nBrief: {brief}\nRequired elements: {'; '.join(elements)}"}]}
    if json_mode:
        doc["response_format"] = {"type": "json_object"}
    doc.update(extra)
    return json.dumps(doc).encode()


def post(standin: OpenRouterStandIn, raw: bytes, *, path="/api/v1/chat/completions"):
    reply = asyncio.run(standin.handle("POST", path, body=raw))
    return reply.status, (json.loads(reply.body) if reply.body else None)


def get(standin: OpenRouterStandIn, path: str, query: str = ""):
    reply = asyncio.run(standin.handle("GET", path, query=query))
    return reply.status, json.loads(reply.body)


def answer(doc) -> dict:
    return json.loads(doc["choices"][0]["message"]["content"])


def test_same_seed_and_requests_give_the_same_faults_and_another_seed_does_not():
    def fault_sequence(seed):
        standin = OpenRouterStandIn(seed=seed, latency_scale=0, faults="429=0.2,502=0.1,timeout=0.1,malformed=0.1")
        for i in range(40):
            post(standin, body(TEXT_MODELS[i % 5], f"Brief {i % 7}"))  # repeats: the per-body counter matters
        return [(entry["fault"], entry["status"]) for entry in standin.log]
    first, again, other = fault_sequence(11), fault_sequence(11), fault_sequence(12)
    assert first == again
    assert first != other
    assert {"429", "502", "timeout"} <= {fault for fault, _ in first}


def test_a_retried_identical_request_is_a_fresh_draw():
    standin = OpenRouterStandIn(seed=1, latency_scale=0, faults="502=0.5")
    statuses = [post(standin, body(TEXT_MODELS[0]))[0] for _ in range(12)]
    assert 502 in statuses and 200 in statuses


def test_fault_spec_parses_validates_and_prints():
    spec = FaultSpec.parse("429=0.1, 502=0.05;timeout=0.02,malformed=0.05")
    assert spec.rates == {"429": 0.1, "502": 0.05, "timeout": 0.02, "malformed": 0.05}
    assert str(FaultSpec.parse(str(spec))) == str(spec) and bool(spec) and not FaultSpec.parse(None)
    for bad in ("418=0.1", "429", "429=lots", "429=0.7,502=0.6", "502=1.5"):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)


def test_each_model_writes_in_its_own_voice_and_quotes_covered_elements_verbatim():
    standin = OpenRouterStandIn(seed=5, latency_scale=0, natural_malformed_rate=0)
    prompts = {m: answer(post(standin, body(m))[1])["prompt"] for m in TEXT_MODELS}
    assert len(set(prompts.values())) == 5
    assert len(prompts["anthropic/claude-sonnet-4.5"]) > 2 * len(prompts["openai/gpt-5-mini"])
    assert prompts["openai/gpt-5-mini"].count(",") >= 5
    assert re.search(r"lens|light|f/\d", prompts["google/gemini-2.5-flash"])
    assert re.search(r"TYPE: .*PALETTE: #1F2A44", prompts["deepseek/deepseek-v3.2"])
    assert re.search(r"whispers|hope|love|tender", prompts["meta-llama/llama-4-maverick"])


def test_covered_elements_are_quoted_verbatim_and_uncovered_ones_are_absent():
    brief = parse_brief([{"role": "user", "content": "Brief: An icon for the will page.\n"
                                                     f"Required elements: {'; '.join(ELEMENTS)}"}])
    for i, model in enumerate(TEXT_MODELS * 4):
        prompt, covered, _, _ = write_prompt(model, brief, random.Random(i))
        assert [e for e in ELEMENTS if e in prompt] == covered, model


def test_coverage_and_confidence_differ_by_model_and_stay_in_range():
    standin = OpenRouterStandIn(seed=2, latency_scale=0, natural_malformed_rate=0)
    coverage, confidence = {}, {}
    for model in TEXT_MODELS:
        answers = [answer(post(standin, body(model, f"Brief {i}"))[1]) for i in range(30)]
        coverage[model] = sum(sum(e in a["prompt"] for e in ELEMENTS) for a in answers) / (30 * len(ELEMENTS))
        confidence[model] = sum(a["confidence"] for a in answers) / 30
        assert all(0.0 <= a["confidence"] <= 1.0 for a in answers)
    assert coverage["anthropic/claude-sonnet-4.5"] > coverage["meta-llama/llama-4-maverick"] + 0.15
    assert 0.3 < min(coverage.values()) and max(coverage.values()) <= 1.0
    assert confidence["meta-llama/llama-4-maverick"] > confidence["deepseek/deepseek-v3.2"] + 0.1


def test_plain_text_when_json_is_not_asked_and_schema_fields_are_filled_when_it_is():
    standin = OpenRouterStandIn(seed=0, latency_scale=0, natural_malformed_rate=0)
    _, plain = post(standin, body(TEXT_MODELS[1], json_mode=False))
    content = plain["choices"][0]["message"]["content"]
    assert not content.lstrip().startswith("{") and "icon" in content
    schema = {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": {
        "type": "object", "properties": {"prompt": {"type": "string"}, "confidence": {"type": "number"},
                                         "rationale": {"type": "string"}, "elements_used": {"type": "array"}}}}}
    _, structured = post(standin, body(TEXT_MODELS[1], response_format=schema))
    assert set(answer(structured)) == {"prompt", "confidence", "rationale", "elements_used"}


def test_malformed_fault_and_the_small_natural_rate_return_content_that_is_not_json():
    faulty = OpenRouterStandIn(seed=0, latency_scale=0, faults="malformed=1")
    for i in range(3):
        with pytest.raises(json.JSONDecodeError):
            answer(post(faulty, body(TEXT_MODELS[0], f"Brief {i}"))[1])
    natural = OpenRouterStandIn(seed=0, latency_scale=0)  # default: about 2 % of JSON answers
    broken = 0
    for i in range(300):
        try:
            answer(post(natural, body(TEXT_MODELS[i % 5], f"Brief {i}"))[1])
        except json.JSONDecodeError:
            broken += 1
    assert 1 <= broken <= 20


def test_usage_block_has_openrouters_exact_shape():
    _, doc = post(OpenRouterStandIn(latency_scale=0), body(TEXT_MODELS[2]))
    usage = doc["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens", "cost", "is_byok",
                          "prompt_tokens_details", "completion_tokens_details", "cost_details"}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert set(usage["completion_tokens_details"]) == {"reasoning_tokens", "image_tokens"}
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0  # Gemini Flash thinks
    assert set(doc) >= {"id", "provider", "model", "object", "created", "choices", "usage"}
    assert doc["choices"][0]["native_finish_reason"] == "STOP"


def test_reasoning_spends_a_tight_token_limit_first():
    _, doc = post(OpenRouterStandIn(seed=0, latency_scale=0), body("openai/gpt-5-mini", max_completion_tokens=120))
    assert doc["choices"][0]["finish_reason"] == "length"
    assert doc["usage"]["completion_tokens"] <= 120


def test_failed_image_calls_are_not_charged_and_successful_ones_are():
    standin = OpenRouterStandIn(latency_scale=0, faults="502=1", image_size_px=32)
    image_body = json.dumps({"model": IMAGE_MODEL, "modalities": ["image", "text"],
                             "messages": [{"role": "user", "content": "icon of a key"}]}).encode()
    status, doc = post(standin, image_body)
    assert status == 502 and doc["error"]["code"] == 502 and doc["error"]["message"] == "Provider returned error"
    assert "error_type" not in doc["error"]["metadata"]  # undocumented: the stand-in does not teach it
    assert standin.usage_usd == 0.0 and standin.log[0]["cost"] == 0.0
    standin.faults = FaultSpec()
    status, doc = post(standin, image_body)
    assert status == 200 and standin.usage_usd == pytest.approx(doc["usage"]["cost"]) and doc["usage"]["cost"] > 0


def test_rate_limit_advice_comes_in_each_documented_place_in_whole_seconds_never_zero():
    standin = OpenRouterStandIn(latency_scale=0, retry_after_s=2.0, faults="429=1")
    places = set()
    for n in range(30):
        reply = asyncio.run(standin.handle("POST", "/api/v1/chat/completions", body=body(TEXT_MODELS[0], f"B {n}")))
        meta = json.loads(reply.body)["error"]["metadata"]
        assert reply.status == 429
        if "retry-after" in reply.headers:
            assert reply.headers["retry-after"] == "1" and reply.headers["x-ratelimit-remaining"] == "0"
            places.add("header")
        elif "retry_after_seconds" in meta:
            assert meta["retry_after_seconds"] == 1
            places.add("metadata")
        else:
            assert meta["headers"]["Retry-After"] == "1"
            places.add("provider headers")
    assert places == {"header", "metadata", "provider headers"}


def test_503_carries_retry_after_scaled_by_latency():
    standin = OpenRouterStandIn(latency_scale=0.5, retry_after_s=10.0, faults="503=1")
    standin.latency_scale = 0.5
    reply = asyncio.run(standin.handle("POST", "/api/v1/chat/completions", body=body(TEXT_MODELS[0])))
    assert reply.status == 503 and reply.headers["retry-after"] == "5"
    assert "availability" not in json.loads(reply.body)["error"]


def test_error_bodies_for_unknown_models_routers_and_missing_keys():
    standin = OpenRouterStandIn(latency_scale=0)
    status, doc = post(standin, body("acme/nothing"))
    assert status == 400 and doc == {"error": {"code": 400, "message": "acme/nothing is not a valid model ID"}}
    assert post(standin, body("openrouter/auto"))[0] == 400  # "-1" prices: cannot bill it
    assert post(standin, b"{not json")[0] == 400
    guarded = OpenRouterStandIn(latency_scale=0, api_key_required=True)
    assert post(guarded, body(TEXT_MODELS[0]))[0] == 401
    assert get(OpenRouterStandIn(), "/api/v1/nowhere")[0] == 404


def test_models_endpoint_serves_the_snapshot_and_filters_by_output_modality():
    standin = OpenRouterStandIn()
    _, everything = get(standin, "/api/v1/models")
    _, images = get(standin, "/api/v1/models", "output_modalities=image")
    assert len(everything["data"]) >= 8
    assert all("image" in m["architecture"]["output_modalities"] for m in images["data"]) and len(images["data"]) == 2
    assert all(isinstance(m["pricing"]["prompt"], str) for m in everything["data"])


def test_generation_stats_appear_only_after_a_delay_like_openrouters():
    standin = OpenRouterStandIn(latency_scale=0.001, generation_delay_s=1000.0)  # ~1 s window
    _, doc = post(standin, body(TEXT_MODELS[3]))
    assert get(standin, "/api/v1/generation", f"id={doc['id']}")[0] == 404
    ready = OpenRouterStandIn(latency_scale=0)
    _, doc = post(ready, body(TEXT_MODELS[3]))
    status, stats = get(ready, "/api/v1/generation", f"id={doc['id']}")
    assert status == 200 and stats["data"]["total_cost"] == doc["usage"]["cost"]


def test_latency_is_drawn_realistically_but_zero_scale_never_sleeps():
    standin = OpenRouterStandIn(seed=4, latency_scale=0, image_size_px=32)
    started = time.monotonic()
    for i in range(20):
        post(standin, body(TEXT_MODELS[i % 5], f"Brief {i}"))
    for i in range(6):
        post(standin, json.dumps({"model": IMAGE_MODEL, "messages": [{"role": "user", "content": f"icon {i}"}]}).encode())
    assert time.monotonic() - started < 3.0
    text = [e["latency_s"] for e in standin.log if e["kind"] == "text"]
    images = [e["latency_s"] for e in standin.log if e["kind"] == "image"]
    assert all(0.3 < s < 12 for s in text) and 0.8 < sorted(text)[10] < 5
    assert all(2.5 < s < 12 for s in images)
    assert all(e["finished"] >= e["started"] for e in standin.log)


def test_latency_scale_slows_answers_proportionally():
    standin = OpenRouterStandIn(seed=4, latency_scale=0.05)
    started = time.monotonic()
    post(standin, body(TEXT_MODELS[0]))
    elapsed = time.monotonic() - started
    expected = standin.log[0]["latency_s"] * 0.05
    assert expected - 0.005 <= elapsed < expected + 0.25  # slack above for a busy machine


def test_brief_parsing_reads_brief_elements_and_kind():
    brief = parse_brief([{"role": "user", "content": "Asset type: social card\nBrief: Share the checklist.\n"
                                                     "Required elements: a checklist; a pen | a calendar"}])
    assert brief.text == "Share the checklist." and brief.kind == "social card"
    assert brief.elements == ("a checklist", "a pen", "a calendar")


def test_image_dimensions_follow_aspect_ratio_size_and_override():
    assert image_dimensions(None) == (1024, 1024)
    assert image_dimensions({"aspect_ratio": "16:9", "image_size": "2K"}) == (2688, 1536)
    assert image_dimensions({"aspect_ratio": "9:16"}, override_px=128) == (73, 128)
