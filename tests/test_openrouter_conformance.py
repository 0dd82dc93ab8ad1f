"""An independent client, the official ``openai`` package, against ``assetgen standin``'s HTTP server.

What it sees must be what it would see from OpenRouter: the models list with OpenRouter's
extra fields, structured outputs, images through chat with ``modalities``, SSE streaming
with the usage last, the generation and key endpoints, and each error class mapped to the
SDK exception OpenRouter's status would give (the SDK's own retries are off, so every
answer is seen as sent).
"""
from __future__ import annotations

import asyncio
import base64
import io
import json

import openai
import pytest
from PIL import Image
from pydantic import BaseModel

from engine.providers.standin.server import start_standin_server

pytestmark = pytest.mark.timeout(60)

TEXT_MODEL = "anthropic/claude-sonnet-4.5"
IMAGE_MODEL = "google/gemini-2.5-flash-image"
MESSAGES = [{"role": "system", "content": 'Answer as JSON {"prompt","confidence","rationale"}.'},
            {"role": "user", "content": "Asset type: icon\nBrief: An oak key.\nRequired elements: a key; a leaf"}]


class Proposal(BaseModel):
    prompt: str
    confidence: float
    rationale: str


def against_standin(test, *, timeout: float = 10.0, **settings):
    """Run ``test(client, server)`` with an AsyncOpenAI pointed at a fresh stand-in server on port 0."""
    async def main():
        server = await start_standin_server(port=0, **{"latency_scale": 0, "image_size_px": 32, **settings})
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-or-test", max_retries=0, timeout=timeout)
        try:
            return await test(client, server)
        finally:
            await client.close()
            await server.close()
    return asyncio.run(main())


def test_models_list_carries_openrouters_fields():
    async def test(client, server):
        return (await client.models.list()).data
    models = against_standin(test)
    ids = [m.id for m in models]
    assert TEXT_MODEL in ids and IMAGE_MODEL in ids
    gemini = next(m for m in models if m.id == IMAGE_MODEL).model_extra
    assert gemini["architecture"]["output_modalities"] == ["image", "text"]
    assert "seed" in gemini["supported_parameters"] and isinstance(gemini["pricing"]["prompt"], str)


def test_structured_outputs_parse_into_the_schema_with_usage_cost_and_generation_id():
    async def test(client, server):
        raw = await client.chat.completions.with_raw_response.parse(
            model=TEXT_MODEL, messages=MESSAGES, response_format=Proposal,
            extra_body={"provider": {"require_parameters": True}})
        return raw.headers, raw.parse()
    headers, completion = against_standin(test, natural_malformed_rate=0)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Proposal) and parsed.prompt and 0 <= parsed.confidence <= 1
    assert completion.usage.model_extra["cost"] > 0 and completion.model_extra["provider"] == "Anthropic"
    assert headers["x-generation-id"] == completion.id


def test_an_image_comes_back_in_message_images_as_a_png_data_url_of_the_asked_aspect():
    async def test(client, server):
        return await client.chat.completions.create(
            model=IMAGE_MODEL, messages=[{"role": "user", "content": "An oak key"}],
            extra_body={"modalities": ["image", "text"], "image_config": {"aspect_ratio": "16:9"}})
    completion = against_standin(test)
    images = completion.choices[0].message.model_extra["images"]
    url = images[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert image.width > image.height
    assert completion.usage.completion_tokens_details.image_tokens == 1290


def test_streaming_yields_chunks_then_the_usage_with_cost_last():
    async def test(client, server):
        stream = await client.chat.completions.create(model=TEXT_MODEL, messages=MESSAGES, stream=True)
        return [chunk async for chunk in stream], server.log[-1]["cost"]
    chunks, billed = against_standin(test)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "An oak key" in text  # the model's answer, streamed in pieces
    assert len(chunks) > 2 and chunks[-1].choices == [] and chunks[-1].usage.model_extra["cost"] == billed > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_generation_and_key_endpoints_answer_through_the_sdks_generic_get():
    async def test(client, server):
        completion = await client.chat.completions.create(model=TEXT_MODEL, messages=MESSAGES)
        stats = await client.get("/generation", cast_to=object, options={"params": {"id": completion.id}})
        key = await client.get("/key", cast_to=object)
        return completion, stats["data"], key["data"]
    completion, stats, key = against_standin(test)
    assert stats["total_cost"] == completion.usage.model_extra["cost"] and key["usage"] == stats["total_cost"]


@pytest.mark.parametrize("settings, request_extra, sdk_error, status", [
    ({}, {"model": "acme/nothing"}, openai.BadRequestError, 400),
    ({"faults": "401=1"}, {}, openai.AuthenticationError, 401),
    ({"faults": "402=1"}, {}, openai.APIStatusError, 402),
    ({"faults": "403=1"}, {}, openai.PermissionDeniedError, 403),
    ({}, {"model": "openai/gpt-5-mini", "temperature": 0.7,
          "extra_body": {"provider": {"require_parameters": True}}}, openai.NotFoundError, 404),
    ({"faults": "no_endpoints=1"}, {}, openai.NotFoundError, 404),
    ({"faults": "408=1"}, {}, openai.APIStatusError, 408),
    ({"faults": "429=1"}, {}, openai.RateLimitError, 429),
    ({"faults": "502=1"}, {}, openai.InternalServerError, 502),
    ({"faults": "503=1"}, {}, openai.InternalServerError, 503),
    ({"faults": "524=1"}, {}, openai.InternalServerError, 524),
    ({"faults": "529=1"}, {}, openai.InternalServerError, 529),
], ids=["400", "401", "402", "403", "404-require_parameters", "404-no_endpoints", "408", "429", "502", "503",
        "524", "529"])
def test_each_error_status_raises_the_sdk_exception_of_that_status(settings, request_extra, sdk_error, status):
    async def test(client, server):
        request = {"model": TEXT_MODEL, "messages": MESSAGES, **request_extra}
        with pytest.raises(sdk_error) as caught:
            await client.chat.completions.create(**request)
        return caught.value
    error = against_standin(test, **settings)
    assert error.status_code == status and error.body["code"] == status and error.body["message"]
    if status in (429, 503):  # the wait advice: in a header, or (429) in the body's metadata
        advice = error.response.headers.get("retry-after") or json.dumps(error.body.get("metadata"))
        assert advice and ("1" in advice)


def test_a_stalled_answer_is_the_sdks_timeout():
    async def test(client, server):
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model=TEXT_MODEL, messages=MESSAGES)
        return True
    assert against_standin(test, timeout=0.3, faults="timeout=1", timeout_after_s=2.0)


def test_an_error_after_generation_began_is_a_200_completion_with_finish_reason_error_as_on_openrouter():
    async def test(client, server):
        return await client.chat.completions.create(model=TEXT_MODEL, messages=MESSAGES)
    completion = against_standin(test, faults="error200=1")
    assert completion.choices[0].finish_reason == "error"
    assert completion.model_extra["error"]["message"] and completion.usage.model_extra["cost"] > 0


def test_an_error_after_a_stream_began_raises_the_sdks_api_error_mid_stream():
    async def test(client, server):
        stream = await client.chat.completions.create(model=TEXT_MODEL, messages=MESSAGES, stream=True)
        seen = []
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                seen.append(chunk)
        return seen, caught.value
    seen, error = against_standin(test, faults="error200=1")
    assert seen and error.message


def test_an_image_model_answering_in_text_only_has_no_images():
    async def test(client, server):
        return await client.chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "a key"}],
                                                    extra_body={"modalities": ["image", "text"]})
    completion = against_standin(test, faults="no_image=1")
    assert completion.choices[0].message.content and not completion.choices[0].message.model_extra.get("images")


def test_a_missing_cost_is_found_on_generation():
    async def test(client, server):
        completion = await client.chat.completions.create(model=TEXT_MODEL, messages=MESSAGES)
        stats = await client.get("/generation", cast_to=object, options={"params": {"id": completion.id}})
        return completion, stats["data"]["total_cost"], server.log[-1]["cost"]
    completion, total_cost, billed = against_standin(test, faults="no_cost=1", seed=2)
    assert completion.usage is None or completion.usage.model_extra.get("cost") is None
    assert total_cost == billed > 0
