"""The stand-in rehearses OpenRouter's documented behaviours: routing requirements, errors with
HTTP 200, text instead of an image, missing costs, X-Generation-Id, and SSE streaming."""
from __future__ import annotations

import asyncio
import json

import pytest

from engine.providers.standin import transport as standin_module
from engine.providers.sse import parse_sse
from engine.providers.standin.transport import OpenRouterStandIn

pytestmark = pytest.mark.timeout(60)

IMAGE_MODEL = "google/gemini-2.5-flash-image"
MESSAGES = [{"role": "user", "content": "Asset type: icon\nBrief: An oak key.\nRequired elements: a key; a leaf"}]


def chat(standin: OpenRouterStandIn, **request):
    raw = json.dumps({"messages": MESSAGES, **request}).encode()
    return asyncio.run(standin.handle("POST", "/api/v1/chat/completions", body=raw))


def doc_of(reply) -> dict:
    return json.loads(reply.body)


def streamed(reply) -> tuple[list[bytes], list]:
    async def collect():
        return [piece async for piece in reply.stream]
    pieces = asyncio.run(collect())
    lines = b"".join(pieces).decode().splitlines()
    return pieces, list(parse_sse(lines))


def test_require_parameters_with_a_parameter_the_model_does_not_list_finds_no_endpoints_404():
    standin = OpenRouterStandIn(latency_scale=0)
    refused = chat(standin, model="openai/gpt-5-mini", temperature=0.7, provider={"require_parameters": True})
    assert refused.status == 404
    assert doc_of(refused)["error"] == {"code": 404,
                                        "message": "No endpoints found that can handle the requested parameters."}
    ignored = chat(standin, model="openai/gpt-5-mini", temperature=0.7)  # without the requirement: ignored
    assert ignored.status == 200
    listed = chat(standin, model="anthropic/claude-sonnet-4.5", temperature=0.7, provider={"require_parameters": True})
    assert listed.status == 200
    assert standin.usage_usd == pytest.approx(doc_of(ignored)["usage"]["cost"] + doc_of(listed)["usage"]["cost"])


def test_no_endpoints_fault_is_a_404_and_costs_nothing():
    standin = OpenRouterStandIn(latency_scale=0, faults="no_endpoints=1")
    reply = chat(standin, model="deepseek/deepseek-v3.2")
    assert reply.status == 404 and "No endpoints found" in doc_of(reply)["error"]["message"]
    assert standin.usage_usd == 0.0


def test_every_answer_carries_x_generation_id_matching_its_id():
    reply = chat(OpenRouterStandIn(latency_scale=0), model="deepseek/deepseek-v3.2")
    assert reply.headers["x-generation-id"] == doc_of(reply)["id"] and doc_of(reply)["id"].startswith("gen-")


@pytest.mark.parametrize("model", ["deepseek/deepseek-v3.2", IMAGE_MODEL])
def test_error200_is_a_200_with_a_top_level_error_finish_reason_error_and_a_billed_usage(model):
    standin = OpenRouterStandIn(latency_scale=0, faults="error200=1", image_size_px=32)
    codes = set()
    for n in range(12):
        reply = chat(standin, model=model, modalities=["image", "text"], seed=n)
        doc = doc_of(reply)
        assert reply.status == 200 and doc["choices"][0]["finish_reason"] == "error"
        assert set(doc["error"]) >= {"code", "message"} and not doc["choices"][0]["message"].get("images")
        assert doc["usage"]["cost"] > 0
        codes.add(type(doc["error"]["code"]))
    assert codes == {int, str}  # both documented forms: 502 and "server_error"
    assert standin.usage_usd == pytest.approx(sum(e["cost"] for e in standin.log))


def test_no_image_answers_an_image_request_in_text_only_and_bills_it():
    standin = OpenRouterStandIn(latency_scale=0, faults="no_image=1")
    doc = doc_of(chat(standin, model=IMAGE_MODEL, modalities=["image", "text"]))
    message = doc["choices"][0]["message"]
    assert message["content"] and not message.get("images") and doc["usage"]["cost"] > 0
    assert doc["usage"]["completion_tokens_details"]["image_tokens"] == 0
    text = doc_of(chat(standin, model="deepseek/deepseek-v3.2"))  # text requests are unaffected
    assert text["choices"][0]["finish_reason"] == "stop"


def test_no_cost_leaves_cost_out_of_usage_but_generation_stats_have_the_billed_total():
    standin = OpenRouterStandIn(latency_scale=0, faults="no_cost=1")
    forms = set()
    for n in range(10):
        doc = doc_of(chat(standin, model="deepseek/deepseek-v3.2", seed=n))
        usage = doc.get("usage")
        forms.add("no usage" if usage is None else "cost null")
        assert usage is None or usage["cost"] is None
        stats = json.loads(asyncio.run(standin.handle("GET", "/api/v1/generation", query=f"id={doc['id']}")).body)
        assert stats["data"]["total_cost"] == standin.log[-1]["cost"] > 0
    assert forms == {"no usage", "cost null"}


def test_an_image_only_model_asked_for_image_and_text_finds_no_endpoints(tmp_path):
    from engine.providers.pricing import PriceBook, load_snapshot
    entries = [*load_snapshot().entries, image_only_entry()]
    standin = OpenRouterStandIn(latency_scale=0, price_book=PriceBook(entries), image_size_px=16)
    both = chat(standin, model="acme/pixel-only", modalities=["image", "text"])
    assert both.status == 404 and "output modalities" in doc_of(both)["error"]["message"]
    only = doc_of(chat(standin, model="acme/pixel-only", modalities=["image"]))
    assert only["choices"][0]["message"]["images"] and only["choices"][0]["message"]["content"] is None


def image_only_entry() -> dict:
    return {"id": "acme/pixel-only", "name": "Acme: Pixel Only", "context_length": 4096,
            "architecture": {"modality": "text->image", "input_modalities": ["text"], "output_modalities": ["image"]},
            "pricing": {"prompt": "0.000001", "completion": "0.00001", "image_output": "0.00002", "request": "0"},
            "top_provider": {"context_length": 4096, "max_completion_tokens": None, "is_moderated": False},
            "supported_parameters": ["seed"]}


def test_stream_true_answers_sse_with_processing_comments_chunks_usage_last_and_done():
    standin = OpenRouterStandIn(latency_scale=0)
    reply = chat(standin, model="anthropic/claude-sonnet-4.5", stream=True)
    assert reply.status == 200 and reply.headers["content-type"] == "text/event-stream"
    pieces, events = streamed(reply)
    assert pieces[0] == b": OPENROUTER PROCESSING\n\n"
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["cost"] == standin.log[-1]["cost"] > 0
    assert sum("usage" in c for c in chunks) == 1
    finish = [c["choices"][0]["finish_reason"] for c in chunks[:-1]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert "key" in text


def test_a_stream_that_fails_after_it_began_sends_the_error_as_a_data_event_with_status_200():
    standin = OpenRouterStandIn(latency_scale=0, faults="error200=1")
    reply = chat(standin, model="deepseek/deepseek-v3.2", stream=True)
    _, events = streamed(reply)
    failed = [e for e in events if isinstance(e, dict) and "error" in e]
    assert reply.status == 200 and len(failed) == 1
    assert failed[0]["choices"][0]["finish_reason"] == "error"
    assert events[-2]["usage"]["cost"] > 0 and events[-1] == "[DONE]"


def test_a_slow_stream_sends_processing_comments_while_the_model_works(monkeypatch):
    monkeypatch.setattr(standin_module, "_COMMENT_EVERY_S", 0.05)
    standin = OpenRouterStandIn(latency_scale=0.1, seed=1)
    reply = chat(standin, model="anthropic/claude-sonnet-4.5", stream=True)
    pieces, events = streamed(reply)
    comments = [p for p in pieces if p.startswith(b":")]
    waited = standin.log[-1]["latency_s"] * 0.1
    assert len(comments) >= int(waited / 0.05) // 2 >= 2  # one at once, then while waiting
    assert events[-1] == "[DONE]"
