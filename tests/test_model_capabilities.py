"""Capabilities from /models: what is refused at session start, what each request may carry,
where they come from (live /models, else the snapshot), and `models --refresh`."""
from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.providers.pricing import load_snapshot, newest_snapshot_path, refresh_snapshot
from engine.providers.capabilities import CapabilityBook, UnsuitableModel, check_session_models
from engine.providers.openrouter import NotFound, OpenRouterClient
from engine.providers.standin.transport import StandInTransport

pytestmark = pytest.mark.timeout(60)
BOOK = CapabilityBook(load_snapshot().entries, source="snapshot")
COMPETITORS = ["anthropic/claude-sonnet-4.5", "openai/gpt-5-mini"]


def test_a_text_only_image_model_is_refused_naming_image_models_to_pick():
    with pytest.raises(UnsuitableModel) as caught:
        check_session_models(BOOK, image_model="deepseek/deepseek-v3.2", competitors=COMPETITORS)
    message = str(caught.value)
    assert "only outputs text" in message and "google/gemini-2.5-flash-image" in message


def test_a_judge_that_cannot_see_images_is_refused_and_a_vision_model_is_accepted():
    with pytest.raises(UnsuitableModel, match="judge model 'deepseek/deepseek-v3.2' takes only text as input"):
        check_session_models(BOOK, image_model="google/gemini-2.5-flash-image", competitors=COMPETITORS,
                             judge_model="deepseek/deepseek-v3.2")
    check_session_models(BOOK, image_model="google/gemini-2.5-flash-image", competitors=COMPETITORS,
                         judge_model="google/gemini-2.5-flash")


def test_unknown_models_and_competitors_that_cannot_write_are_refused():
    with pytest.raises(UnsuitableModel, match="'acme/none' is not listed by /models"):
        check_session_models(BOOK, image_model="acme/none", competitors=COMPETITORS)
    image_only = CapabilityBook([*load_snapshot().entries, {
        "id": "acme/pixels", "architecture": {"input_modalities": ["text"], "output_modalities": ["image"]}}])
    with pytest.raises(UnsuitableModel, match="competitor 'acme/pixels' does not output text"):
        check_session_models(image_only, image_model="acme/pixels", competitors=["acme/pixels"])


def test_fit_drops_what_a_model_does_not_list_and_keeps_what_it_does():
    body = {"model": "openai/gpt-5-mini", "messages": [], "temperature": 0.7, "max_completion_tokens": 99, "seed": 1,
            "response_format": {"type": "json_schema", "json_schema": {}}, "provider": {"require_parameters": True}}
    fitted, changed = BOOK.fit("openai/gpt-5-mini", body)
    assert changed == ["temperature"] and "temperature" not in fitted
    assert fitted["max_completion_tokens"] == 99 and fitted["response_format"]["type"] == "json_schema"
    same, nothing = BOOK.fit("anthropic/claude-sonnet-4.5", {**body, "model": "anthropic/claude-sonnet-4.5"})
    assert nothing == [] and same["temperature"] == 0.7
    unknown, untouched = BOOK.fit("acme/unknown", body)
    assert unknown is body and untouched == []


def test_fit_falls_back_to_json_object_without_structured_outputs_and_picks_image_modalities():
    book = CapabilityBook([
        {"id": "a/json-only", "architecture": {"output_modalities": ["text"]}, "supported_parameters": ["response_format"]},
        {"id": "a/pixels", "architecture": {"output_modalities": ["image"]}, "supported_parameters": ["seed"]},
        {"id": "a/both", "architecture": {"output_modalities": ["image", "text"]}, "supported_parameters": ["seed"]},
    ])
    fitted, _ = book.fit("a/json-only", {"response_format": {"type": "json_schema", "json_schema": {}}})
    assert fitted["response_format"] == {"type": "json_object"}
    assert book.fit("a/pixels", {"modalities": ["image", "text"]})[0]["modalities"] == ["image"]
    assert book.fit("a/both", {"modalities": ["image", "text"]}) == ({"modalities": ["image", "text"]}, [])


def test_the_client_sends_gpt5_no_temperature_and_the_stand_in_would_have_refused_it():
    sent = []
    transport = StandInTransport(latency_scale=0)

    async def handler(request):
        sent.append(json.loads(request.content))
        return await transport.handle_async_request(request)

    async def go(capabilities):
        async with OpenRouterClient(base_url="http://standin.test/api/v1", api_key="k", capabilities=capabilities,
                                    transport=httpx.MockTransport(handler)) as client:
            return await client.chat_once(model="openai/gpt-5-mini", messages=[{"role": "user", "content": "Brief: x"}],
                                          temperature=0.7, provider={"require_parameters": True})
    assert asyncio.run(go(BOOK)).content and "temperature" not in sent[-1]
    with pytest.raises(NotFound, match="No endpoints found that can handle the requested parameters"):
        asyncio.run(go(None))  # what every item met before: 404 on each call
    assert sent[-1]["temperature"] == 0.7


def test_load_capabilities_reads_live_models_and_falls_back_to_the_snapshot_when_that_fails():
    async def go(transport):
        async with OpenRouterClient(base_url="http://standin.test/api/v1", api_key="k", transport=transport,
                                    max_retries=0) as client:
            return await client.load_capabilities(fallback=load_snapshot().entries, fallback_source="snapshot X")
    live = asyncio.run(go(StandInTransport(latency_scale=0)))
    assert live.source == "GET http://standin.test/api/v1/models" and "openai/gpt-5-mini" in live
    down = asyncio.run(go(httpx.MockTransport(lambda request: httpx.Response(503, json={"error": {"code": 503}}))))
    assert down.source == "snapshot X" and len(down) == len(BOOK)


def test_refresh_writes_a_dated_snapshot_that_becomes_the_default(tmp_path):
    async def go():
        async with OpenRouterClient(base_url="http://standin.test/api/v1", api_key="k",
                                    transport=StandInTransport(latency_scale=0)) as client:
            return await refresh_snapshot(client, directory=tmp_path, today="2026-12-24")
    path = asyncio.run(go())
    assert path.name == "openrouter-snapshot-2026-12-24.json" and newest_snapshot_path(tmp_path) == path
    refreshed = load_snapshot(path)
    assert refreshed.as_of == "2026-12-24" and refreshed.ids() == load_snapshot().ids()
    assert refreshed.model("openai/gpt-5-mini").raw["supported_parameters"]


def test_refresh_without_a_key_says_to_export_it(monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["models", "--refresh"], env={**os.environ, "OPENROUTER_API_KEY": ""})
    assert result.exit_code != 0 and "OPENROUTER_API_KEY is not set" in result.output
