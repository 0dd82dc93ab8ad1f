"""OpenRouterClient over the stand-in (the same code path as online), plus wire-level checks.

httpx.MockTransport appears only where a test needs an answer the stand-in never
gives (a server echoing the key, a server without usage.cost) or to look at the
exact request on the wire.
"""
from __future__ import annotations

import asyncio
import io
import json
import time

import httpx
import pytest
from PIL import Image

from engine.providers.pricing import load_snapshot
from engine.providers.openrouter import (AuthError, BadRequest, ChatResult, CreditsError, MalformedContent, ModerationError,
                                         OpenRouterClient, OpenRouterError, RateLimited, RequestTimeout,
                                         UpstreamError, error_from_response)
from engine.providers.standin.transport import OpenRouterStandIn, StandInTransport
from engine.providers.standin.server import start_standin_server

pytestmark = pytest.mark.timeout(60)

KEY = "sk-or-v1-THIS-IS-A-SECRET-KEY-0123456789"
BOOK = load_snapshot()
TEXT_MODELS = ["anthropic/claude-sonnet-4.5", "openai/gpt-5-mini", "google/gemini-2.5-flash",
               "meta-llama/llama-4-maverick", "deepseek/deepseek-v3.2"]
IMAGE_MODEL = "google/gemini-2.5-flash-image"
SYSTEM = ('You write image prompts. Answer with JSON {"prompt": str, "confidence": number 0-1, '
          '"rationale": str}.')


def competition_messages(brief="An icon for the last will and testament page.",
                         elements="a scroll; a wax seal; a gold ribbon; rounded corners"):
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Asset type: icon\nBrief: {brief}\nRequired elements: {elements}"}]


def client_over(transport, **kwargs) -> OpenRouterClient:
    kwargs.setdefault("backoff_base", 0.0)
    kwargs.setdefault("retry_after_cap", 0.01)  # the stand-in advises whole seconds: keep tests fast
    return OpenRouterClient(base_url="http://standin.test/api/v1", api_key=KEY, transport=transport, **kwargs)


def run(coro):
    return asyncio.run(coro)


# --- the happy path over the stand-in ------------------------------------------------------------
@pytest.mark.parametrize("model", TEXT_MODELS)
def test_competition_answer_parses_as_json_with_prompt_confidence_rationale(model):
    async def go():
        async with client_over(StandInTransport(latency_scale=0, natural_malformed_rate=0)) as client:
            return await client.chat(model=model, messages=competition_messages(),
                                     response_format={"type": "json_object"})
    result = run(go())
    answer = result.json_content()
    assert set(answer) >= {"prompt", "confidence", "rationale"}
    assert isinstance(answer["prompt"], str) and len(answer["prompt"]) > 40
    assert 0.0 <= answer["confidence"] <= 1.0
    assert result.model == model and result.id.startswith("gen-") and result.finish_reason == "stop"


@pytest.mark.parametrize("model", TEXT_MODELS)
def test_text_cost_equals_tokens_times_snapshot_price(model):
    async def go():
        async with client_over(StandInTransport(latency_scale=0)) as client:
            return await client.chat_once(model=model, messages=competition_messages(),
                                          response_format={"type": "json_object"})
    result = run(go())
    price = BOOK.model(model)
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    expected = result.prompt_tokens * price.prompt + result.completion_tokens * price.completion
    assert result.cost_usd == pytest.approx(expected, rel=1e-9)
    assert result.completion_tokens >= result.reasoning_tokens


def test_image_answer_decodes_as_png_of_the_asked_aspect_and_is_priced_by_image_tokens():
    async def go():
        async with client_over(StandInTransport(latency_scale=0, image_size_px=256)) as client:
            return await client.chat_once(model=IMAGE_MODEL, modalities=["image", "text"],
                                          image_config={"aspect_ratio": "16:9", "image_size": "1K"},
                                          messages=[{"role": "user", "content": "A trust icon: a shield"}])
    result = run(go())
    assert result.image_formats == ["png"]
    with Image.open(io.BytesIO(result.images[0])) as img:
        img.verify()
    with Image.open(io.BytesIO(result.images[0])) as img:
        assert img.size == (256, 146)  # 1344x768 scaled to a longest side of 256
    assert result.image_tokens == 1290
    price = BOOK.model(IMAGE_MODEL)
    text_tokens = result.completion_tokens - result.image_tokens
    expected = result.prompt_tokens * price.prompt + text_tokens * price.completion + 1290 * price.image_output
    assert result.cost_usd == pytest.approx(expected, rel=1e-9)
    assert result.cost_usd == pytest.approx(0.039, abs=0.001)  # the documented ≈ $0.039 per 1K image


def test_models_key_and_generation_endpoints():
    async def go():
        transport = StandInTransport(latency_scale=0, credits_limit=5.0)
        async with client_over(transport) as client:
            image_models = await client.models(output_modalities="image")
            everything = await client.models()
            result = await client.chat_once(model=TEXT_MODELS[0], messages=competition_messages())
            key = await client.key_info()
            stats = await client.generation(result.id)
            return image_models, everything, result, key, stats
    image_models, everything, result, key, stats = run(go())
    assert {m["id"] for m in image_models} == {IMAGE_MODEL, "openai/gpt-5-image"}
    assert len(everything) == len(BOOK)
    assert key["usage"] == pytest.approx(result.cost_usd) and key["limit"] == 5.0
    assert key["limit_remaining"] == pytest.approx(5.0 - result.cost_usd)
    assert stats["id"] == result.id and stats["total_cost"] == result.cost_usd
    assert stats["tokens_completion"] == result.completion_tokens


# --- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault, error_class, retryable", [
    ("400", BadRequest, False), ("401", AuthError, False), ("402", CreditsError, False),
    ("403", ModerationError, False), ("408", RequestTimeout, True), ("429", RateLimited, True),
    ("502", UpstreamError, True), ("503", UpstreamError, True), ("524", UpstreamError, True),
    ("529", UpstreamError, True), ("timeout", RequestTimeout, True),
])
def test_each_error_status_maps_to_its_exception(fault, error_class, retryable):
    async def go():
        async with client_over(StandInTransport(latency_scale=0, faults=f"{fault}=1")) as client:
            await client.chat_once(model=TEXT_MODELS[1], messages=competition_messages())
    with pytest.raises(error_class) as caught:
        run(go())
    error = caught.value
    assert error.retryable is retryable
    if fault.isdigit():
        assert error.status == int(fault) and error.code == int(fault)
    if fault == "403":
        assert error.reasons == ["violence"] and "last will" in error.flagged_input
    if fault == "503":  # retryable as documented, its wait advised by Retry-After (no undocumented fields)
        assert error.retry_after >= 1 and error.retry_after_source == "header"
        assert "availability" not in error.metadata


def test_unknown_model_is_a_bad_request_with_openrouters_message():
    async def go():
        async with client_over(StandInTransport(latency_scale=0)) as client:
            await client.chat(model="acme/imaginary-1", messages=competition_messages())
    with pytest.raises(BadRequest, match="acme/imaginary-1 is not a valid model ID"):
        run(go())


def test_malformed_content_is_a_model_error_not_a_crash():
    async def go():
        async with client_over(StandInTransport(latency_scale=0, faults="malformed=1")) as client:
            return await client.chat_once(model=TEXT_MODELS[0], messages=competition_messages(),
                                          response_format={"type": "json_object"})
    result = run(go())
    with pytest.raises(MalformedContent) as caught:
        result.json_content()
    assert caught.value.retryable and caught.value.result is result  # billed: the caller settles its cost


@pytest.mark.parametrize(("content", "reason"), [
    ('{"prompt": "a brass', "Unterminated string starting at char 11"),
    ("{'prompt': 1}", "Expecting property name enclosed in double quotes at char 1"),
])
def test_content_that_is_not_json_says_where_it_stopped_in_plain_words(content, reason):
    result = ChatResult(id="g", model="m/x", provider=None, content=content, images=[], finish_reason="stop",
                        prompt_tokens=1, completion_tokens=1, reasoning_tokens=0, image_tokens=0, cost_usd=0.0,
                        latency_ms=1.0, raw={})
    with pytest.raises(MalformedContent) as caught:
        result.json_content()
    assert caught.value.message.endswith(f"not valid JSON: {reason}")  # once "starting at at char 11"


def test_an_image_that_does_not_decode_raises_malformed_content_carrying_the_billed_result():
    async def go():
        async with client_over(StandInTransport(latency_scale=0, faults="malformed=1", image_size_px=64)) as client:
            await client.chat_once(model=IMAGE_MODEL, modalities=["image", "text"],
                                   messages=[{"role": "user", "content": "icon of a key"}])
    with pytest.raises(MalformedContent) as caught:
        run(go())
    assert caught.value.error_type == "invalid_image"
    assert caught.value.result.cost_usd > 0


def test_retry_delay_honours_retry_after_from_the_header_and_from_availability():
    client = OpenRouterClient(base_url="http://x/api/v1", api_key=KEY, backoff_base=0.5, backoff_cap=20.0)
    body = {"error": {"code": 429, "message": "slow down", "metadata": {"error_type": "rate_limit_exceeded"}}}
    limited = error_from_response(429, body, httpx.Headers({"Retry-After": "7"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
    assert 7.0 <= client.retry_delay(limited, 1) <= 7.0 * 1.2  # the advice, jittered upwards only
    unavailable = error_from_response(503, {"error": {"code": 503, "message": "no provider",
                                                      "availability": {"retryable": True, "retry_after": 3}}})
    assert 3.0 <= client.retry_delay(unavailable, 2) <= 3.6
    no_hint = error_from_response(502, {"error": {"code": 502, "message": "Provider returned error"}})
    delays = [client.retry_delay(no_hint, attempt) for attempt in (1, 2, 3, 4)]
    for attempt, delay in enumerate(delays, start=1):  # jittered exponential: within [step/2, step]
        step = 0.5 * 2 ** (attempt - 1)
        assert step / 2 <= delay <= step
    assert client.retry_delay(no_hint, client.max_retries + 1) is None
    assert client.retry_delay(error_from_response(400, {"error": {"code": 400, "message": "bad"}}), 1) is None
    run(client.aclose())


def test_retry_after_from_the_stand_in_reaches_retry_delay():
    standin = OpenRouterStandIn(latency_scale=0.01, retry_after_s=300.0, faults="429=1")

    async def go():
        async with client_over(StandInTransport(standin=standin), retry_after_cap=120.0) as client:
            try:
                await client.chat_once(model=TEXT_MODELS[2], messages=competition_messages())
            except RateLimited as error:
                return error.retry_after, client.retry_delay(error, 1)
    advised, delay = run(go())
    assert advised == 3.0 and 3.0 <= delay <= 3.6  # 300 s x latency_scale 0.01, wherever the 429 put it


@pytest.mark.parametrize("fault", ["429", "502", "timeout"])
def test_chat_retries_transient_faults_until_an_answer_arrives(fault):
    transport = StandInTransport(latency_scale=0, faults=f"{fault}=0.5", seed=3)
    retries = []

    async def go():
        async with client_over(transport, max_retries=12) as client:
            return [await client.chat(model=TEXT_MODELS[1], on_retry=lambda e, a, d: retries.append(e),
                                      messages=competition_messages(brief=f"Brief number {i}"))
                    for i in range(8)]
    results = run(go())
    assert all(r.content for r in results)
    assert retries and all(isinstance(e, (RateLimited, UpstreamError, RequestTimeout)) for e in retries)
    statuses = [entry["status"] for entry in transport.log]
    assert statuses.count(200) == 8 and len(statuses) == 8 + len(retries)


@pytest.mark.parametrize("fault, error_class, attempts", [
    ("429", RateLimited, 3), ("502", UpstreamError, 3), ("timeout", RequestTimeout, 3),  # 1 + max_retries
    ("400", BadRequest, 1), ("401", AuthError, 1), ("402", CreditsError, 1), ("403", ModerationError, 1),
])
def test_chat_gives_up_after_max_retries_and_never_retries_client_errors(fault, error_class, attempts):
    transport = StandInTransport(latency_scale=0, faults=f"{fault}=1")

    async def go():
        async with client_over(transport, max_retries=2) as client:
            await client.chat(model=TEXT_MODELS[3], messages=competition_messages())
    with pytest.raises(error_class):
        run(go())
    assert len(transport.log) == attempts


def test_credits_limit_answers_402_once_spent():
    async def go():
        async with client_over(StandInTransport(latency_scale=0, credits_limit=0.05, image_size_px=32)) as client:
            spent = 0
            with pytest.raises(CreditsError):
                for _ in range(10):
                    await client.chat_once(model=IMAGE_MODEL, modalities=["image", "text"],
                                           messages=[{"role": "user", "content": "icon of a house"}])
                    spent += 1
            return spent
    assert run(go()) == 2  # $0.039 each: the second call crosses $0.05, the third is refused


# --- the key -------------------------------------------------------------------------------------
def test_the_api_key_never_appears_in_errors_results_or_reprs():
    seen: list[str] = []

    async def go():
        for faults in (None, "401=1", "403=1", "429=1", "502=1", "timeout=1", "malformed=1"):
            async with client_over(StandInTransport(latency_scale=0, faults=faults), max_retries=1) as client:
                seen.append(repr(client))
                try:
                    result = await client.chat(model=TEXT_MODELS[0], messages=competition_messages(),
                                               response_format={"type": "json_object"})
                    seen.extend([str(result), repr(result), json.dumps(result.raw)])
                    result.json_content()
                except OpenRouterError as error:
                    seen.extend([str(error), repr(error), json.dumps(error.metadata)])

        def echo_key(request: httpx.Request) -> httpx.Response:  # a careless proxy repeating the header
            return httpx.Response(401, json={"error": {"code": 401, "message":
                                  f"Invalid key: {request.headers['authorization']}"}})
        async with client_over(httpx.MockTransport(echo_key)) as client:
            with pytest.raises(AuthError) as caught:
                await client.chat_once(model=TEXT_MODELS[0], messages=competition_messages())
            seen.extend([str(caught.value), repr(caught.value), caught.value.message])
    run(go())
    assert len(seen) > 15
    assert not [text for text in seen if KEY in text]


# --- the wire ------------------------------------------------------------------------------------
def test_request_carries_auth_app_headers_json_schema_routing_and_max_completion_tokens():
    captured = {}

    def answer(request: httpx.Request) -> httpx.Response:
        captured["headers"] = request.headers
        captured["body"] = json.loads(request.content)
        return httpx.Response(200, json={"id": "gen-1", "model": "m", "choices": [
            {"finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}]})

    schema = {"type": "json_schema", "json_schema": {"name": "proposal", "strict": True, "schema": {}}}

    async def go():
        async with client_over(httpx.MockTransport(answer), app_title="assetgen-test") as client:
            return await client.chat_once(model=TEXT_MODELS[1], messages=competition_messages(),
                                          response_format=schema, max_completion_tokens=800, seed=7)
    result = run(go())
    headers, body = captured["headers"], captured["body"]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["http-referer"] and headers["x-openrouter-title"] == "assetgen-test" == headers["x-title"]
    assert body["provider"] == {"require_parameters": True} and body["response_format"] == schema
    assert body["max_completion_tokens"] == 800 and "max_tokens" not in body and body["seed"] == 7
    assert result.cost_usd is None and not result.cost_known  # no usage.cost: unknown, not zero


def test_a_real_stand_in_server_answers_over_http():
    async def go():
        server = await start_standin_server(port=0, latency_scale=0, image_size_px=128, natural_malformed_rate=0)
        async with server:
            async with OpenRouterClient(base_url=server.base_url, api_key=KEY) as client:
                text = await client.chat(model=TEXT_MODELS[0], messages=competition_messages(),
                                         response_format={"type": "json_object"})
                image = await client.chat(model=IMAGE_MODEL, modalities=["image", "text"],
                                          messages=[{"role": "user", "content": "icon of a padlock"}])
                models = await client.models(output_modalities="image")
            return server.base_url, text, image, models, list(server.log)
    base_url, text, image, models, log = run(go())
    assert base_url.startswith("http://127.0.0.1:") and not base_url.endswith(":0/api/v1")
    assert text.json_content()["prompt"] and image.image_formats == ["png"] and len(models) == 2
    assert [entry["status"] for entry in log] == [200, 200]


def test_a_stalled_server_becomes_request_timeout_at_the_client_timeout():
    async def go():
        server = await start_standin_server(port=0, latency_scale=0, faults="timeout=1", timeout_after_s=30)
        async with server:
            async with OpenRouterClient(base_url=server.base_url, api_key=KEY, timeout=0.3) as client:
                started = time.monotonic()
                with pytest.raises(RequestTimeout):
                    await client.chat_once(model=TEXT_MODELS[0], messages=competition_messages())
                return time.monotonic() - started
    assert run(go()) < 5.0


def test_cancelling_a_call_propagates_cancelled_error():
    transport = StandInTransport(latency_scale=1.0)  # a real ~1-3 s wait to interrupt

    async def go():
        async with client_over(transport) as client:
            task = asyncio.create_task(client.chat(model=TEXT_MODELS[0], messages=competition_messages()))
            deadline = time.monotonic() + 5
            while not transport.log and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            task.cancel()
            started = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started
    assert run(go()) < 0.5
    assert transport.log[0]["status"] == "cancelled"


def test_the_stand_in_server_answers_concurrent_calls_in_parallel_and_closes_cleanly():
    async def go():
        server = await start_standin_server(port=0, latency_scale=0.2)
        async with server:
            async with OpenRouterClient(base_url=server.base_url, api_key=KEY) as client:
                started = time.monotonic()
                await asyncio.gather(*[client.chat(model=TEXT_MODELS[i % 5], messages=competition_messages(
                    brief=f"Brief {i}")) for i in range(10)])
                wall = time.monotonic() - started
            idle = OpenRouterClient(base_url=server.base_url, api_key=KEY)  # keeps a connection open
            await idle.chat(model=TEXT_MODELS[0], messages=competition_messages())
        await idle.aclose()
        return wall, sum(entry["latency_s"] * 0.2 for entry in server.log[:10])
    wall, summed = run(go())
    assert wall < summed * 0.6  # in parallel, not one after another


# --- documented behaviours (issue 11) ---------------------------------------------------------------
def test_chat_pays_for_an_answer_without_an_image_at_most_twice():
    transport = StandInTransport(latency_scale=0, faults="no_image=1")

    async def go():
        async with client_over(transport, max_retries=4) as client:
            await client.chat(model=IMAGE_MODEL, modalities=["image", "text"],
                              messages=[{"role": "user", "content": "icon of a key"}])
    with pytest.raises(MalformedContent) as caught:
        run(go())
    assert caught.value.error_type == "no_image" and caught.value.result.cost_usd > 0
    assert len(transport.log) == 2 and all(entry["cost"] > 0 for entry in transport.log)


def test_wait_advice_is_read_from_the_header_first_then_metadata_then_the_providers_headers():
    body = {"error": {"code": 429, "message": "slow", "metadata": {"retry_after_seconds": 5,
                                                                   "headers": {"Retry-After": "9"}}}}
    assert error_from_response(429, body, {"Retry-After": "2"}).retry_after_source == "header"
    assert error_from_response(429, body).retry_after == 5.0
    del body["error"]["metadata"]["retry_after_seconds"]
    assert error_from_response(429, body).retry_after == 9.0
    dated = error_from_response(503, {"error": {"code": 503, "message": "x"}},
                                {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert dated.retry_after == 0.0  # a date in the past: retry now, not never


def test_an_undocumented_availability_hint_saying_no_retry_is_believed_but_its_absence_changes_nothing():
    plain = error_from_response(503, {"error": {"code": 503, "message": "No provider available"}})
    hinted = error_from_response(503, {"error": {"code": 503, "message": "x", "availability": {"retryable": False}}})
    assert plain.retryable and not hinted.retryable


def test_generation_cost_asks_again_while_generation_answers_404_then_reads_total_cost():
    asked = []

    def handler(request):
        asked.append(time.monotonic())
        if len(asked) < 3:
            return httpx.Response(404, json={"error": {"code": 404, "message": "Generation not found"}})
        return httpx.Response(200, json={"data": {"id": "gen-1", "total_cost": 0.0123}})

    async def go():
        async with OpenRouterClient(base_url="http://x/api/v1", api_key=KEY, transport=httpx.MockTransport(handler),
                                    cost_lookup_delay=0.05) as client:
            return await client.generation_cost("gen-1")
    assert run(go()) == 0.0123 and len(asked) == 3
    assert asked[2] - asked[1] >= asked[1] - asked[0] >= 0.05  # backing off, not hammering


def test_generation_cost_gives_up_after_its_timeout_with_none_not_zero():
    async def go():
        transport = httpx.MockTransport(lambda r: httpx.Response(404, json={"error": {"code": 404, "message": "no"}}))
        async with OpenRouterClient(base_url="http://x/api/v1", api_key=KEY, transport=transport,
                                    cost_lookup_delay=0.01, cost_lookup_timeout=0.1) as client:
            return await client.generation_cost("gen-1")
    assert run(go()) is None


def test_the_generation_id_header_names_an_answer_that_has_no_id_in_its_body():
    def handler(request):
        return httpx.Response(200, headers={"x-generation-id": "gen-header"},
                              json={"choices": [{"finish_reason": "stop", "message": {"content": "hi"}}]})

    async def go():
        async with OpenRouterClient(base_url="http://x/api/v1", api_key=KEY,
                                    transport=httpx.MockTransport(handler)) as client:
            return await client.chat_once(model="deepseek/deepseek-v3.2", messages=[{"role": "user", "content": "x"}])
    result = run(go())
    assert result.id == "gen-header" and result.cost_usd is None and not result.cost_known
