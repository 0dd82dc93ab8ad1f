"""Issue 11, points 1-5: what would cost a user with a real key money or items, each now handled.

Sessions run in-process over the real client; the network is replaced only at the httpx
transport (the stand-in, or a MockTransport that answers one documented shape and forwards
the rest to the stand-in). Each test fails on the client before this change.
"""
from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest
from helpers.pipeline_kit import (
    TEST_BASE_URL, assert_each_item_ends_once, assert_money_adds_up, forwarding_handler, is_image_request,
    mock_client_factory, session_events, standin_client_factory,
)

from engine.config import load_settings
from engine.providers.pricing import load_snapshot
from engine.providers.openrouter import (OpenRouterClient, RateLimited, UpstreamError, error_from_response)
from engine.providers.standin.transport import OpenRouterStandIn
from engine.process.runtime import Engine
from engine.session.spec import ApprovalSettings, RunSpec, SpecError
from engine.store.database import Store

pytestmark = pytest.mark.timeout(120)
NO_APPROVAL = ApprovalSettings(enabled=False)
IMAGE_MODEL = "google/gemini-2.5-flash-image"


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)


def icons(**overrides) -> RunSpec:
    return RunSpec(test=True, test_type="icons", latency_scale=0, approval=NO_APPROVAL, **overrides)


def run_one(settings, spec: RunSpec, *, client_factory, session_id: str):
    async def main():
        async with Engine(settings, serve_websockets=False, client_factory=client_factory) as engine:
            return await engine.run_session(spec, session_id=session_id)
    return asyncio.run(main())


def billed_answer(body: dict, *, content: str, cost: float, **extra) -> httpx.Response:
    doc = {"id": "gen-test-" + str(abs(hash(json.dumps(body, sort_keys=True))) % 10**9), "model": body["model"],
           "object": "chat.completion", "created": 1,
           "choices": [{"index": 0, "finish_reason": extra.pop("finish_reason", "stop"),
                        "message": {"role": "assistant", "content": content}}],
           "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21, "cost": cost}}
    doc.update(extra)
    return httpx.Response(200, json=doc)


# --- 1. paid retries when no image comes back ---------------------------------------------------
def test_1_a_text_only_image_model_is_refused_at_session_start_before_anything_is_paid(settings):
    transports: list = []
    with pytest.raises(SpecError, match="google/gemini-2.5-flash' only outputs text: it cannot make images"):
        run_one(settings, icons(image_model="google/gemini-2.5-flash"),
                client_factory=standin_client_factory(transports=transports), session_id="s-text-image")
    assert all(not t.log for t in transports)  # not one call was made, so nothing was paid


def test_1_an_image_model_answering_in_text_is_paid_at_most_twice_then_the_item_fails_with_why(settings):
    def intercept(request, body):
        if is_image_request(body):
            return billed_answer(body, content="I can't draw that, but imagine a calm key.", cost=0.0004)
        return None
    run = run_one(settings, icons(), client_factory=mock_client_factory(forwarding_handler(intercept)),
                  session_id="s-no-image")
    store = Store(settings.db_path)

    outcomes = assert_each_item_ends_once(store, run.session_id)
    assert set(outcomes.values()) == {"failed"}
    reasons = [r for (r,) in store.query("SELECT reason FROM items WHERE session_id = 's-no-image'")]
    assert all("without an image" in r for r in reasons), reasons
    attempts = store.query("SELECT item_id, count(*), sum(cost_usd) FROM api_calls WHERE session_id = 's-no-image' "
                           "AND purpose = 'image' GROUP BY 1")
    assert [(n, round(cost, 9)) for _, n, cost in attempts] == [(2, 0.0008)] * 3  # each attempt was billed
    causes = {e["payload"]["cause"] for e in session_events(store, "s-no-image") if e["type"] == "api_retry"}
    assert causes == {"no_image"}
    assert_money_adds_up(store, "s-no-image")


# --- 2. errors delivered with HTTP 200 ---------------------------------------------------------
def test_2_a_200_with_a_string_coded_error_is_retried_and_its_billed_cost_settled(settings):
    failed_once: set[str] = set()

    def intercept(request, body):
        prompt = str(body.get("messages"))
        if is_image_request(body) and prompt not in failed_once:
            failed_once.add(prompt)
            return billed_answer(body, content="", cost=0.00042, finish_reason="error",
                                 error={"code": "server_error", "message": "Upstream provider stopped mid-generation"})
        return None
    run = run_one(settings, icons(), client_factory=mock_client_factory(forwarding_handler(intercept)),
                  session_id="s-200-error")
    store = Store(settings.db_path)

    assert run.counts() == {"saved": 3}
    failures = store.query("SELECT http_status, cost_usd, error FROM api_calls WHERE session_id = 's-200-error' "
                           "AND status = 'error'")
    assert len(failures) == 3
    assert all(status == 200 and cost == 0.00042 and "Upstream provider stopped mid-generation" in error
               for status, cost, error in failures), failures
    retries = [e["payload"] for e in session_events(store, "s-200-error") if e["type"] == "api_retry"]
    assert [r["cause"] for r in retries] == ["error200:server_error"] * 3
    assert_money_adds_up(store, "s-200-error")


def test_2_an_integer_code_in_a_200_is_classified_by_that_code_with_the_message_and_the_bill():
    async def handler(request):
        body = json.loads(request.content)
        return billed_answer(body, content="partial", cost=0.0011, finish_reason="error",
                             error={"code": 502, "message": "Provider returned error"})

    async def go():
        async with OpenRouterClient(base_url=TEST_BASE_URL, api_key="k", transport=httpx.MockTransport(handler)) as c:
            await c.chat_once(model="deepseek/deepseek-v3.2", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(go())
    error = caught.value
    assert (error.status, error.http_status, error.retryable) == (502, 200, True)
    assert error.message == "Provider returned error" and error.result.cost_usd == 0.0011


# --- 3. wait advice -------------------------------------------------------------------------
def test_3_a_503_with_retry_after_and_no_availability_is_retried_after_the_advised_wait():
    client = OpenRouterClient(base_url=TEST_BASE_URL, api_key="k", retry_after_cap=60.0)
    error = error_from_response(503, {"error": {"code": 503, "message": "No provider available"}},
                                httpx.Headers({"Retry-After": "9"}))
    assert isinstance(error, UpstreamError) and error.retryable
    assert 9.0 <= client.retry_delay(error, 1) <= 9.0 * 1.2


@pytest.mark.parametrize("metadata, source", [
    ({"retry_after_seconds": 17}, "metadata.retry_after_seconds"),
    ({"headers": {"Retry-After": "17", "X-RateLimit-Remaining": "0"}}, "metadata.headers"),
    ({"headers": {"retry-after-ms": "17000"}}, "metadata.headers"),
])
def test_3_a_429_whose_wait_is_only_in_metadata_waits_as_advised_jittered_and_capped(metadata, source):
    client = OpenRouterClient(base_url=TEST_BASE_URL, api_key="k", retry_after_cap=60.0)
    error = error_from_response(429, {"error": {"code": 429, "message": "Rate limited", "metadata": metadata}})
    assert isinstance(error, RateLimited) and error.retry_after == 17.0 and error.retry_after_source == source
    decision = client.retry_decision(error, 1)
    assert 17.0 <= decision.delay_s <= 17.0 * 1.2 and decision.advised_s == 17.0
    capped = OpenRouterClient(base_url=TEST_BASE_URL, api_key="k", retry_after_cap=5.0)
    assert capped.retry_delay(error, 1) == 5.0


def test_3_each_retry_in_a_session_records_its_cause_and_the_servers_advice(settings):
    run = run_one(settings, icons(faults="429=0.3,503=0.1", seed=5),
                  client_factory=standin_client_factory(retry_after_cap=0.02), session_id="s-advice")
    store = Store(settings.db_path)
    assert run.counts().get("saved", 0) >= 2
    retries = [e["payload"] for e in session_events(store, "s-advice") if e["type"] == "api_retry"]
    assert {r["cause"] for r in retries} <= {"http_429", "http_503"} and retries
    assert all(r["advised_s"] == 1.0 and r["delay_s"] == 0.02 for r in retries)  # advised, then capped
    assert {r["advice_source"] for r in retries} == {"header", "metadata.retry_after_seconds", "metadata.headers"}


# --- 4. unknown cost ---------------------------------------------------------------------------
def without_cost(standin: OpenRouterStandIn):
    """A handler forwarding to ``standin`` that strips usage.cost from every chat answer."""
    forward = forwarding_handler(lambda request, body: None, standin=standin)

    async def handler(request: httpx.Request) -> httpx.Response:
        response = await forward(request)
        if request.url.path.endswith("/chat/completions") and response.status_code == 200:
            doc = json.loads(response.content)
            doc["usage"].pop("cost", None)
            return httpx.Response(200, json=doc, headers={"x-generation-id": doc["id"]})
        return response
    return handler


def test_4_an_answer_without_a_cost_is_settled_from_generation_total_cost_never_zero(settings):
    standin = OpenRouterStandIn(latency_scale=0)
    run = run_one(settings, icons(), client_factory=mock_client_factory(without_cost(standin)),
                  session_id="s-no-cost")
    store = Store(settings.db_path)

    assert run.counts() == {"saved": 3}
    billed = sum(entry["cost"] for entry in standin.log)
    recorded, zero = store.query("SELECT sum(cost_usd), count(*) FILTER (WHERE cost_usd <= 0) FROM api_calls "
                                 "WHERE session_id = 's-no-cost'")[0]
    assert billed > 0 and math.isclose(recorded, billed, abs_tol=1e-9) and zero == 0, (recorded, billed, zero)
    assert store.query("SELECT count(*) FILTER (WHERE cost_estimated) FROM api_calls")[0][0] == 0
    settled = [e["payload"] for e in session_events(store, "s-no-cost") if e["type"] == "api_cost_settled"]
    assert len(settled) == len(standin.log) and {s["source"] for s in settled} == {"generation"}
    assert_money_adds_up(store, "s-no-cost")


def test_4_while_generation_stats_never_come_the_call_keeps_its_estimate_marked_estimated(settings):
    standin = OpenRouterStandIn(latency_scale=0)
    stripped = without_cost(standin)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generation"):
            return httpx.Response(404, json={"error": {"code": 404, "message": "Generation not found"}})
        return await stripped(request)

    def factory(spec, price_book=None):
        return OpenRouterClient(base_url=TEST_BASE_URL, api_key="k", transport=httpx.MockTransport(handler),
                                cost_lookup_delay=0.01, cost_lookup_timeout=0.05)
    run_one(settings, icons(limit=1), client_factory=factory, session_id="s-estimated")
    store = Store(settings.db_path)
    rows = store.query("SELECT cost_usd, cost_estimated FROM api_calls WHERE session_id = 's-estimated'")
    assert rows and all(cost > 0 and estimated for cost, estimated in rows), rows
    expected = [e["payload"]["estimated_cost_usd"] for e in session_events(store, "s-estimated")
                if e["type"] == "openrouter_api_call"]
    assert sorted(round(c, 8) for c, _ in rows) == sorted(expected)
    assert_money_adds_up(store, "s-estimated")


# --- 5. parameters a model does not take ----------------------------------------------------
def recording(intercept=None, *, standin=None):
    sent: list[dict] = []

    def capture(request, body):
        if request.url.path.endswith("/chat/completions"):
            sent.append(body)
        return intercept(request, body) if intercept else None
    return sent, forwarding_handler(capture, standin=standin or OpenRouterStandIn(latency_scale=0,
                                                                                  natural_malformed_rate=0))


def test_5_competitors_get_temperature_only_when_their_model_lists_it(settings):
    sent, handler = recording()
    run = run_one(settings, icons(), client_factory=mock_client_factory(handler), session_id="s-params")
    store = Store(settings.db_path)

    assert run.counts() == {"saved": 3}
    prompts = [b for b in sent if not is_image_request(b)]
    by_model = {b["model"]: b for b in prompts}
    assert "temperature" not in by_model["openai/gpt-5-mini"]  # GPT-5 keeps its default temperature
    assert by_model["anthropic/claude-sonnet-4.5"]["temperature"] == 0.7
    assert all(b["provider"]["require_parameters"] is True for b in prompts)
    dropped = [e for e in session_events(store, "s-params") if e["type"] == "competitor_dropped"]
    assert not dropped  # with require_parameters and temperature, GPT-5 Mini found no endpoints on every item


def test_5_an_image_only_model_is_asked_for_modalities_image_alone(settings, tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshot.json"
    book = load_snapshot()
    entry = {"id": "acme/pixel-only", "name": "Acme: Pixel Only", "context_length": 4096,
             "architecture": {"modality": "text->image", "input_modalities": ["text"], "output_modalities": ["image"]},
             "pricing": {"prompt": "0.000001", "completion": "0.00001", "image_output": "0.00002", "request": "0"},
             "top_provider": {"context_length": 4096}, "supported_parameters": ["seed"]}
    snapshot.write_text(json.dumps({"as_of": "2026-12-01", "data": [*book.entries, entry]}))
    monkeypatch.setenv("ASSETGEN_PRICING_SNAPSHOT", str(snapshot))
    sent, handler = recording(standin=OpenRouterStandIn(latency_scale=0, price_book=load_snapshot(snapshot),
                                                        image_size_px=32))
    run = run_one(settings, icons(image_model="acme/pixel-only"), client_factory=mock_client_factory(handler),
                  session_id="s-image-only")

    assert run.counts() == {"saved": 3}
    images = [b for b in sent if b["model"] == "acme/pixel-only"]
    assert len(images) == 3 and all(b["modalities"] == ["image"] for b in images)
