"""The built-in OpenRouter stand-in: rehearse a whole catalog offline, in OpenRouter's exact shapes.

Not a test double: users run it to try a catalog, a budget or a fault drill without
spending money. One handler (``OpenRouterStandIn``) serves two ways:

* ``StandInTransport`` plugs into httpx in-process (``OpenRouterClient(transport=...)``);
* ``assetgen standin --port 4510`` serves it over HTTP (standin_server.py), so any
  OpenRouter client can point ``OPENROUTER_BASE_URL`` at it.

Real model ids, prices, ``supported_parameters`` and modalities come from the dated
snapshot, so ``usage.cost`` is exactly tokens × snapshot price, and a request with
``provider.require_parameters: true`` carrying a parameter its model does not list is
refused with OpenRouter's 404 "No endpoints found". Every 200 carries ``X-Generation-Id``
and is recorded for ``GET /generation?id=`` (ready after a moment, like OpenRouter's);
``stream: true`` answers in server-sent events (sse.py). Faults (faults.py) include the
documented failures after generation began (``error200``), an image model answering in
text only (``no_image``) and usage without a cost (``no_cost``). Latency is lognormal per model (scaled by ``latency_scale``;
0 never sleeps). Faults are drawn from an RNG seeded per request by
(seed, model, body digest, how many times that same body was seen), so a run with the
same seed and requests meets the same faults in the same places.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import string
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable
from urllib.parse import parse_qs

import httpx

from engine.images import image_dimensions
from engine.quality.rubric import JUDGE_SCHEMA_NAME
from engine.providers.standin.render import render_image
from engine.providers.capabilities import ModelCapabilities, unsupported_parameters
from engine.providers.standin.faults import FaultSpec
from engine.providers.sse import DONE, PROCESSING_COMMENT, completion_chunks, encode_event
from engine.providers.standin.replies import (MID_GENERATION_ERRORS, NO_IMAGE_TEXT, error_body, fault_reply, fill_schema, malform,
                              no_endpoints_body, pick_image_text)
from engine.providers.standin.voices import parse_brief, voice_for, write_prompt
from engine.providers.pricing import IMAGE_INPUT_TOKENS, PriceBook, estimate_tokens, image_output_tokens, load_snapshot

__all__ = ["OpenRouterStandIn", "StandInReply", "StandInTransport"]

_REMEMBERED_BODIES = 5_000  # request bodies whose repeats draw afresh (a retry is not the same answer again)
_REMEMBERED_GENERATIONS = 2_000  # generations GET /generation can still find


@dataclass(frozen=True)
class _Profile:
    provider: str
    ttft_s: float        # median time to first token
    tokens_per_s: float  # output speed (reasoning tokens included)
    image_s: float = 0.0  # median image generation time


_PROFILES = {
    "anthropic": _Profile("Anthropic", 1.1, 60.0),
    "openai": _Profile("OpenAI", 0.7, 140.0, image_s=7.0),
    "google": _Profile("Google", 0.45, 190.0, image_s=4.5),
    "meta-llama": _Profile("DeepInfra", 0.35, 120.0),
    "deepseek": _Profile("DeepSeek", 0.9, 45.0),
}
_DEFAULT_PROFILE = _Profile("Stand-in", 0.6, 80.0, image_s=5.0)


@dataclass
class StandInReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    stalled: bool = False  # timeout fault: no answer was given at all
    stream: AsyncIterator[bytes] | None = None  # stream: true — the body comes as SSE pieces


_SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}
_COMMENT_EVERY_S = 1.0  # while the model works, a stream says so this often


class OpenRouterStandIn:
    """The stand-in's handler: request in, OpenRouter-shaped reply out."""

    def __init__(self, *, seed: int = 0, latency_scale: float = 1.0, faults: FaultSpec | str | None = None,
                 price_book: PriceBook | None = None, credits_limit: float | None = None,
                 api_key_required: bool = False, image_size_px: int | None = None,
                 timeout_after_s: float | None = None, natural_malformed_rate: float = 0.02,
                 retry_after_s: float = 2.0, generation_delay_s: float = 1.0, log_limit: int | None = None):
        self.seed = seed
        self.latency_scale = max(0.0, float(latency_scale))
        self.faults = FaultSpec.parse(faults)
        self.price_book = price_book or load_snapshot()
        self.credits_limit = credits_limit
        self.api_key_required = api_key_required
        self.image_size_px = image_size_px
        self.timeout_after_s = timeout_after_s
        self.natural_malformed_rate = natural_malformed_rate
        self.retry_after_s = retry_after_s
        self.generation_delay_s = generation_delay_s
        self.usage_usd = 0.0
        # Every request, for tests and benches; ``log_limit`` keeps only the newest (a long-running engine).
        self.log: list[dict] | deque[dict] = deque(maxlen=log_limit) if log_limit else []
        # Bounded like OpenRouter's own memory of them, so a long session does not grow the stand-in:
        # repeats of a body (retries) and /generation look-ups come soon after the request.
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._generations: OrderedDict[str, tuple[float, dict]] = OrderedDict()

    # -- routing ------------------------------------------------------------------------------
    async def handle(self, method: str, path: str, *, query: str = "", headers: dict[str, str] | None = None,
                     body: bytes = b"", stall_s: float = 0.0) -> StandInReply:
        """Answer one request. ``stall_s``: how long a timeout fault holds before giving up."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        route = path.split("/api/v1", 1)[-1].rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if self.api_key_required and not headers.get("authorization", "").removeprefix("Bearer ").strip():
            return self._json(401, error_body(401, "No auth credentials found"))
        if method == "POST" and route == "/chat/completions":
            return await self._chat(body, stall_s)
        if method == "GET" and route == "/models":
            return self._json(200, {"data": self._models(params.get("output_modalities"))})
        if method == "GET" and route == "/key":
            return self._json(200, {"data": self.key_data()})
        if method == "GET" and route == "/generation":
            return self._generation(params.get("id", ""))
        return self._json(404, error_body(404, f"Not Found: {method} {path}"))

    @staticmethod
    def _json(status: int, doc: dict, headers: dict[str, str] | None = None) -> StandInReply:
        return StandInReply(status, json.dumps(doc).encode(), {"content-type": "application/json", **(headers or {})})

    def _models(self, output_modalities: str | None) -> list[dict]:
        wanted = {m.strip() for m in (output_modalities or "").split(",") if m.strip()} - {"all"}
        entries = self.price_book.entries
        if wanted:
            entries = [e for e in entries if wanted & set(e.get("architecture", {}).get("output_modalities", []))]
        return entries

    def key_data(self) -> dict:
        limit = self.credits_limit
        return {"label": "assetgen stand-in (simulated)", "limit": limit,
                "limit_remaining": None if limit is None else max(0.0, limit - self.usage_usd),
                "limit_reset": None, "usage": self.usage_usd, "usage_daily": self.usage_usd,
                "usage_weekly": self.usage_usd, "usage_monthly": self.usage_usd, "is_free_tier": False,
                "is_provisioning_key": False}

    def _generation(self, gen_id: str) -> StandInReply:
        ready_at, data = self._generations.get(gen_id, (None, None))
        if data is None or time.monotonic() < ready_at:  # like OpenRouter: not there for a moment
            return self._json(404, error_body(404, f"Generation {gen_id} not found"))
        return self._json(200, {"data": data})

    # -- chat ---------------------------------------------------------------------------------
    def _request_rng(self, model: str, body: bytes) -> tuple[random.Random, int]:
        digest = hashlib.sha256(body).hexdigest()
        key = f"{model}|{digest}"
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        if len(self._seen) > _REMEMBERED_BODIES:
            self._seen.popitem(last=False)
        seed = hashlib.sha256(f"{self.seed}|{key}|{count}".encode()).digest()
        return random.Random(int.from_bytes(seed[:8], "big")), count

    async def _sleep(self, seconds: float) -> float:
        slept = seconds * self.latency_scale
        if slept > 0:
            await asyncio.sleep(slept)
        return slept

    async def _chat(self, raw: bytes, stall_s: float) -> StandInReply:
        entry = {"path": "/chat/completions", "model": None, "kind": None, "status": None, "fault": None,
                 "latency_s": 0.0, "cost": 0.0, "started": time.monotonic(), "finished": None}
        self.log.append(entry)
        try:
            reply = await self._chat_reply(raw, stall_s, entry)
        except asyncio.CancelledError:  # the client gave up (timeout, cancel): record it, then let go
            entry["status"] = entry["status"] or "cancelled"
            raise
        finally:
            entry["finished"] = time.monotonic()
        entry["status"] = "stalled" if reply.stalled else reply.status
        return reply

    async def _chat_reply(self, raw: bytes, stall_s: float, entry: dict) -> StandInReply:
        try:
            request = json.loads(raw or b"{}")
            if not isinstance(request, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            return self._json(400, error_body(400, f"Invalid JSON body: {exc}"))
        model_id = request.get("model")
        messages = request.get("messages")
        entry["model"] = model_id
        if not isinstance(model_id, str) or model_id not in self.price_book:
            return self._json(400, error_body(400, f"{model_id} is not a valid model ID"))
        if not isinstance(messages, list) or not messages:
            return self._json(400, error_body(400, "messages must be a non-empty array"))
        price = self.price_book.model(model_id)
        if price.prompt is None or price.completion is None:  # a router entry like openrouter/auto
            return self._json(400, error_body(400, f"{model_id} routes to other models; the stand-in "
                                              "needs a concrete model id"))
        if self.credits_limit is not None and self.usage_usd >= self.credits_limit:
            return self._json(402, error_body(402, "Insufficient credits: this key's limit of "
                                              f"${self.credits_limit:.2f} is reached"))
        refusal = _routing_refusal(request, ModelCapabilities.from_entry(price.raw))
        if refusal is not None:  # no provider meets the routing requirements: OpenRouter says 404
            entry["fault"] = f"no_endpoints ({refusal})"
            return self._json(404, no_endpoints_body(refusal))
        rng, _ = self._request_rng(model_id, raw)
        profile = _PROFILES.get(price.provider_prefix, _DEFAULT_PROFILE)
        image_route = price.outputs_images
        entry["kind"] = "image" if image_route else "text"
        fault = self.faults.draw(rng)
        entry["fault"] = fault
        if fault == "timeout":
            if stall_s > 0:
                await asyncio.sleep(stall_s)
            return StandInReply(0, b"", stalled=True)
        if fault == "no_endpoints" or (fault and fault.isdigit()):
            entry["latency_s"] = rng.lognormvariate(math.log(0.25), 0.5)
            await self._sleep(entry["latency_s"])
            if fault == "no_endpoints":
                return self._json(404, no_endpoints_body())
            status, body, headers = fault_reply(int(fault), model_id, profile.provider, messages, rng,
                                                retry_after_s=self.retry_after_s, latency_scale=self.latency_scale)
            return self._json(status, body, headers)
        answer = self._completion(request, price, profile, rng, entry, fault, image_route)
        if request.get("stream") is True:
            return StandInReply(200, b"", dict(_SSE_HEADERS), stream=self._stream(answer))
        doc = await answer
        return self._json(200, doc, {"x-generation-id": doc["id"]})

    async def _completion(self, request: dict, price, profile: _Profile, rng: random.Random, entry: dict,
                          fault: str | None, image_route: bool) -> dict:
        """The answer, billed: a normal one, or the one the drawn fault calls for."""
        malformed = fault == "malformed"
        if image_route and fault != "no_image":
            doc = await self._image_completion(request, price, profile, rng, entry, malformed)
        elif image_route:  # an image model that answers in text only (Gemini does, now and then)
            doc = await self._text_instead_of_image(request, price, profile, rng, entry)
        else:
            doc = await self._text_completion(request, price, profile, rng, entry, malformed)
        if fault == "error200":
            doc = self._failed_mid_generation(doc, price, rng)
        cost = doc["usage"]["cost"]
        entry["cost"] = cost
        entry["generation_id"] = doc["id"]
        self.usage_usd += cost
        self._remember_generation(doc, profile, entry)
        if fault == "no_cost":  # billed all the same: only /generation knows how much
            if rng.random() < 0.5:
                del doc["usage"]
            else:
                doc["usage"]["cost"] = None
        return doc

    async def _stream(self, answer: Awaitable[dict]) -> AsyncIterator[bytes]:
        """``stream: true``: comments while the model works, the answer's chunks, usage last, [DONE]."""
        task = asyncio.ensure_future(answer)
        try:
            yield PROCESSING_COMMENT
            while not task.done():
                await asyncio.wait({task}, timeout=_COMMENT_EVERY_S)
                if not task.done():
                    yield PROCESSING_COMMENT
            for chunk in completion_chunks(task.result()):
                yield encode_event(chunk)
            yield DONE
        finally:
            if not task.done():  # the client went away: stop working on its answer
                task.cancel()

    def _usage(self, price, *, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0,
               image_tokens: int = 0) -> dict:
        prompt_cost = prompt_tokens * price.prompt
        text_completion = completion_tokens - image_tokens
        image_rate = price.image_output if price.image_output is not None else price.completion
        completion_cost = text_completion * price.completion + image_tokens * image_rate
        cost = round(prompt_cost + completion_cost + (price.request or 0.0), 12)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens, "cost": cost, "is_byok": False,
                "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "audio_tokens": 0,
                                          "video_tokens": 0},
                "cost_details": {"upstream_inference_cost": None,
                                 "upstream_inference_prompt_cost": round(prompt_cost, 12),
                                 "upstream_inference_completions_cost": round(completion_cost, 12)},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "image_tokens": image_tokens}}

    def _envelope(self, model_id: str, profile: _Profile, rng: random.Random, *, message: dict,
                  finish_reason: str, usage: dict) -> dict:
        suffix = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(20))
        now = int(time.time())
        native = {"stop": "STOP", "length": "MAX_TOKENS"}.get(finish_reason, finish_reason.upper())
        return {"id": f"gen-{now}-{suffix}", "provider": profile.provider, "model": model_id,
                "object": "chat.completion", "created": now, "system_fingerprint": None,
                "choices": [{"logprobs": None, "finish_reason": finish_reason, "native_finish_reason": native,
                             "index": 0, "message": message}],
                "usage": usage}

    async def _text_completion(self, request: dict, price, profile: _Profile, rng: random.Random,
                               entry: dict, malformed: bool) -> dict:
        messages = request["messages"]
        brief = parse_brief(messages)
        prompt, _covered, confidence, rationale = write_prompt(price.id, brief, rng)
        response_format = request.get("response_format") or {}
        wants_json = response_format.get("type") in ("json_object", "json_schema")
        if _wants_judgement(request):  # a vision judge: measure the image off the loop
            from engine.quality.standin_judge import simulated_judgement  # noqa: PLC0415 (loads colour science)
            content = await asyncio.to_thread(simulated_judgement, messages, price.id, rng)
        elif wants_json:
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            content = json.dumps(fill_schema(schema, prompt=prompt, confidence=confidence, rationale=rationale,
                                              elements=list(_covered)))
            if malformed or rng.random() < self.natural_malformed_rate:
                content = malform(content, rng)
        else:
            content = prompt
        low, high = voice_for(price.id).reasoning_tokens
        reasoning = rng.randint(low, high) if high else 0
        visible = estimate_tokens(content)
        finish_reason = "stop"
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and reasoning + visible > limit:
            # like real reasoning models: the hidden reasoning spends the budget first
            reasoning = min(reasoning, limit)
            visible = limit - reasoning
            content = content[: visible * 4]
            finish_reason = "length"
        prompt_tokens = sum(estimate_tokens(_text_of(m)) for m in messages) + 3 * len(messages)
        prompt_tokens += IMAGE_INPUT_TOKENS * sum(_image_parts(m) for m in messages)  # vision input is billed
        usage = self._usage(price, prompt_tokens=prompt_tokens, completion_tokens=visible + reasoning,
                            reasoning_tokens=reasoning)
        latency = rng.lognormvariate(math.log(profile.ttft_s), 0.35) + (visible + reasoning) / profile.tokens_per_s
        entry["latency_s"] = latency
        await self._sleep(latency)
        message = {"role": "assistant", "content": content, "refusal": None, "reasoning": None}
        return self._envelope(price.id, profile, rng, message=message, finish_reason=finish_reason, usage=usage)

    async def _image_completion(self, request: dict, price, profile: _Profile, rng: random.Random,
                                entry: dict, malformed: bool) -> dict:
        messages = request["messages"]
        user_text = "\n".join(_text_of(m) for m in messages if m.get("role") == "user")
        image_config = request.get("image_config") or {}
        width, height = image_dimensions(image_config, override_px=self.image_size_px)
        seed = request.get("seed") if isinstance(request.get("seed"), int) else rng.randrange(2**31)
        latency = rng.lognormvariate(math.log(profile.image_s or 5.0), 0.22)
        entry["latency_s"] = latency
        started = time.monotonic()
        if malformed:
            png = b"<html>upstream returned an error page instead of an image</html>"
        else:  # drawing takes ~10-20 ms: off the event loop, so other sessions keep moving
            png = await asyncio.to_thread(render_image, user_text, width=width, height=height, seed=seed)
        await self._sleep(max(0.0, latency - (time.monotonic() - started) / max(self.latency_scale, 1e-9)))
        text = pick_image_text(rng) if price.outputs_text else ""
        text_tokens = estimate_tokens(text)
        image_tokens = image_output_tokens(image_config.get("image_size"))
        prompt_tokens = sum(estimate_tokens(_text_of(m)) for m in messages) + 3 * len(messages)
        usage = self._usage(price, prompt_tokens=prompt_tokens, completion_tokens=text_tokens + image_tokens,
                            image_tokens=image_tokens)
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        message = {"role": "assistant", "content": text or None, "refusal": None, "reasoning": None,
                   "images": [{"type": "image_url", "image_url": {"url": url}, "index": 0}]}
        return self._envelope(price.id, profile, rng, message=message, finish_reason="stop", usage=usage)

    async def _text_instead_of_image(self, request: dict, price, profile: _Profile, rng: random.Random,
                                     entry: dict) -> dict:
        messages = request["messages"]
        text = rng.choice(NO_IMAGE_TEXT) + parse_brief(messages).text[:200]
        prompt_tokens = sum(estimate_tokens(_text_of(m)) for m in messages) + 3 * len(messages)
        usage = self._usage(price, prompt_tokens=prompt_tokens, completion_tokens=estimate_tokens(text))
        entry["latency_s"] = rng.lognormvariate(math.log(profile.ttft_s), 0.35)
        await self._sleep(entry["latency_s"])
        message = {"role": "assistant", "content": text, "refusal": None, "reasoning": None}
        return self._envelope(price.id, profile, rng, message=message, finish_reason="stop", usage=usage)

    def _failed_mid_generation(self, doc: dict, price, rng: random.Random) -> dict:
        """HTTP 200, a top-level ``error`` (code int or string), finish_reason "error"; what ran is billed."""
        code, message = MID_GENERATION_ERRORS[rng.randrange(len(MID_GENERATION_ERRORS))]
        choice = doc["choices"][0]
        content = choice["message"].get("content") or ""
        partial = content[: len(content) // 2]
        prompt_tokens = doc["usage"]["prompt_tokens"]
        doc["usage"] = self._usage(price, prompt_tokens=prompt_tokens, completion_tokens=estimate_tokens(partial))
        choice["message"] = {"role": "assistant", "content": partial, "refusal": None, "reasoning": None}
        choice["finish_reason"], choice["native_finish_reason"] = "error", "ERROR"
        doc["error"] = {"code": code, "message": message, "metadata": {"provider_name": doc.get("provider")}}
        return doc

    def _remember_generation(self, doc: dict, profile: _Profile, entry: dict) -> None:
        usage = doc["usage"]
        details = usage["completion_tokens_details"]
        latency_ms = round(entry["latency_s"] * 1000)
        data = {"id": doc["id"], "upstream_id": None, "total_cost": usage["cost"], "cache_discount": None,
                "upstream_inference_cost": None, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "model": doc["model"], "app_id": None, "streamed": False, "cancelled": False,
                "provider_name": profile.provider, "latency": latency_ms, "moderation_latency": None,
                "generation_time": latency_ms, "finish_reason": doc["choices"][0]["finish_reason"],
                "native_finish_reason": doc["choices"][0]["native_finish_reason"],
                "tokens_prompt": usage["prompt_tokens"], "tokens_completion": usage["completion_tokens"],
                "native_tokens_prompt": usage["prompt_tokens"], "native_tokens_completion": usage["completion_tokens"],
                "native_tokens_reasoning": details["reasoning_tokens"], "native_tokens_cached": 0,
                "num_media_prompt": None, "num_media_completion": 1 if details["image_tokens"] else None,
                "num_search_results": None, "origin": "assetgen-standin", "usage": usage["cost"], "is_byok": False,
                "provider_responses": [{"provider": profile.provider, "status": 200, "latency": latency_ms}]}
        ready_at = time.monotonic() + self.generation_delay_s * self.latency_scale
        self._generations[doc["id"]] = (ready_at, data)
        if len(self._generations) > _REMEMBERED_GENERATIONS:
            self._generations.popitem(last=False)


def _text_of(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _routing_refusal(request: dict, caps: ModelCapabilities) -> str | None:
    """Why no provider could serve this request (OpenRouter answers 404), or None."""
    modalities = request.get("modalities")
    if isinstance(modalities, list) and caps.outputs_images:
        missing = [m for m in modalities if m not in caps.output_modalities]
        if missing:
            return f"support the requested output modalities: {', '.join(map(str, modalities))}"
    routing = request.get("provider") if isinstance(request.get("provider"), dict) else {}
    if routing.get("require_parameters") is True:
        missing = unsupported_parameters(caps, request)
        if missing:
            return "can handle the requested parameters"
    return None


def _wants_judgement(request: dict) -> bool:
    """A request that asks for the judges' schema (engine/quality/rubric.py)."""
    return ((request.get("response_format") or {}).get("json_schema") or {}).get("name") == JUDGE_SCHEMA_NAME


def _image_parts(message: dict) -> int:
    content = message.get("content")
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url") \
        if isinstance(content, list) else 0


class StandInTransport(httpx.AsyncBaseTransport):
    """The stand-in inside httpx: same handler as the server, no sockets.

    A timeout fault waits ``timeout_after_s`` (default: the request's read timeout)
    × ``latency_scale`` and raises ``httpx.ReadTimeout``, as a real stalled call would.
    """

    def __init__(self, *, seed: int = 0, latency_scale: float = 1.0, faults: FaultSpec | str | None = None,
                 price_book: PriceBook | None = None, credits_limit: float | None = None,
                 api_key_required: bool = False, image_size_px: int | None = None,
                 timeout_after_s: float | None = None, natural_malformed_rate: float = 0.02,
                 log_limit: int | None = None, standin: OpenRouterStandIn | None = None):
        self.standin = standin or OpenRouterStandIn(
            seed=seed, latency_scale=latency_scale, faults=faults, price_book=price_book,
            credits_limit=credits_limit, api_key_required=api_key_required, image_size_px=image_size_px,
            timeout_after_s=timeout_after_s, natural_malformed_rate=natural_malformed_rate, log_limit=log_limit)

    @property
    def log(self) -> list[dict] | deque[dict]:
        return self.standin.log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        standin = self.standin
        wait = standin.timeout_after_s
        if wait is None:
            wait = (request.extensions.get("timeout") or {}).get("read") or 60.0
        reply = await standin.handle(request.method, request.url.path, query=request.url.query.decode(),
                                     headers=dict(request.headers), body=body,
                                     stall_s=wait * standin.latency_scale)
        if reply.stalled:
            raise httpx.ReadTimeout("stand-in: simulated upstream stall", request=request)
        content = reply.stream if reply.stream is not None else reply.body
        return httpx.Response(reply.status, headers=reply.headers, content=content, request=request)
