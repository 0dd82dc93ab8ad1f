"""The built-in OpenRouter stand-in: rehearse a whole catalog offline, in OpenRouter's exact shapes.

Not a test double: users run it to try a catalog, a budget or a fault drill without
spending money. One handler (``OpenRouterStandIn``) serves two ways:

* ``StandInTransport`` plugs into httpx in-process (``OpenRouterClient(transport=...)``);
* ``assetgen standin --port 4510`` serves it over HTTP (standin_server.py), so any
  OpenRouter client can point ``OPENROUTER_BASE_URL`` at it.

Real model ids and prices come from the dated snapshot, so ``usage.cost`` is exactly
tokens × snapshot price. Latency is lognormal per model (scaled by ``latency_scale``;
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
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx

from ..pricing import IMAGE_INPUT_TOKENS, PriceBook, estimate_tokens, image_output_tokens, load_snapshot
from ..render import render_image
from .faults import FaultSpec
from .standin_voices import parse_brief, voice_for, write_prompt

__all__ = ["OpenRouterStandIn", "StandInReply", "StandInTransport", "ASPECT_SIZES", "image_dimensions"]

# Output pixels per aspect ratio at image_size 1K (what Gemini image models return); 2K/4K scale up.
ASPECT_SIZES = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
                "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
                "16:9": (1344, 768), "21:9": (1536, 672)}
_SIZE_FACTOR = {"1K": 1, "2K": 2, "4K": 4}


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


def image_dimensions(image_config: dict | None, *, override_px: int | None = None) -> tuple[int, int]:
    """Pixels for an image_config; ``override_px`` sets the longest side (smaller = faster)."""
    config = image_config or {}
    width, height = ASPECT_SIZES.get(str(config.get("aspect_ratio") or "1:1"), ASPECT_SIZES["1:1"])
    factor = _SIZE_FACTOR.get(str(config.get("image_size") or "1K").upper(), 1)
    width, height = width * factor, height * factor
    if override_px:
        scale = override_px / max(width, height)
        width, height = max(8, round(width * scale)), max(8, round(height * scale))
    return width, height


@dataclass
class StandInReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    stalled: bool = False  # timeout fault: no answer was given at all


def _error_body(status: int, message: str, *, error_type: str | None = None, metadata: dict | None = None,
                availability: dict | None = None) -> dict:
    meta = dict(metadata or {})
    if error_type:
        meta["error_type"] = error_type
    error: dict = {"code": status, "message": message, "metadata": meta}
    if availability:
        error["availability"] = availability
    return {"error": error}


class OpenRouterStandIn:
    """The stand-in's handler: request in, OpenRouter-shaped reply out."""

    def __init__(self, *, seed: int = 0, latency_scale: float = 1.0, faults: FaultSpec | str | None = None,
                 price_book: PriceBook | None = None, credits_limit: float | None = None,
                 api_key_required: bool = False, image_size_px: int | None = None,
                 timeout_after_s: float | None = None, natural_malformed_rate: float = 0.02,
                 retry_after_s: float = 2.0, generation_delay_s: float = 1.0):
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
        self.log: list[dict] = []
        self._seen: dict[str, int] = {}
        self._generations: dict[str, tuple[float, dict]] = {}

    # -- routing ------------------------------------------------------------------------------
    async def handle(self, method: str, path: str, *, query: str = "", headers: dict[str, str] | None = None,
                     body: bytes = b"", stall_s: float = 0.0) -> StandInReply:
        """Answer one request. ``stall_s``: how long a timeout fault holds before giving up."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        route = path.split("/api/v1", 1)[-1].rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if self.api_key_required and not headers.get("authorization", "").removeprefix("Bearer ").strip():
            return self._json(401, _error_body(401, "No auth credentials found", error_type="authentication_error"))
        if method == "POST" and route == "/chat/completions":
            return await self._chat(body, stall_s)
        if method == "GET" and route == "/models":
            return self._json(200, {"data": self._models(params.get("output_modalities"))})
        if method == "GET" and route == "/key":
            return self._json(200, {"data": self.key_data()})
        if method == "GET" and route == "/generation":
            return self._generation(params.get("id", ""))
        return self._json(404, _error_body(404, f"Not Found: {method} {path}"))

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
            return self._json(404, _error_body(404, f"Generation {gen_id} not found"))
        return self._json(200, {"data": data})

    # -- chat ---------------------------------------------------------------------------------
    def _request_rng(self, model: str, body: bytes) -> tuple[random.Random, int]:
        digest = hashlib.sha256(body).hexdigest()
        key = f"{model}|{digest}"
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
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
            return self._json(400, _error_body(400, f"Invalid JSON body: {exc}", error_type="invalid_request"))
        model_id = request.get("model")
        messages = request.get("messages")
        entry["model"] = model_id
        if not isinstance(model_id, str) or model_id not in self.price_book:
            return self._json(400, _error_body(400, f"{model_id} is not a valid model ID",
                                               error_type="invalid_request"))
        if not isinstance(messages, list) or not messages:
            return self._json(400, _error_body(400, "messages must be a non-empty array",
                                               error_type="invalid_request"))
        price = self.price_book.model(model_id)
        if price.prompt is None or price.completion is None:  # a router entry like openrouter/auto
            return self._json(400, _error_body(400, f"{model_id} routes to other models; the stand-in "
                                               "needs a concrete model id", error_type="invalid_request"))
        if self.credits_limit is not None and self.usage_usd >= self.credits_limit:
            return self._json(402, _error_body(402, "Insufficient credits: this key's limit of "
                                               f"${self.credits_limit:.2f} is reached",
                                               error_type="insufficient_credits"))
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
        if fault and fault != "malformed":
            entry["latency_s"] = rng.lognormvariate(math.log(0.25), 0.5)
            await self._sleep(entry["latency_s"])
            return self._fault_reply(int(fault), model_id, profile, messages)
        malformed = fault == "malformed"
        if image_route:
            doc = await self._image_completion(request, price, profile, rng, entry, malformed)
        else:
            doc = await self._text_completion(request, price, profile, rng, entry, malformed)
        cost = doc["usage"]["cost"]
        entry["cost"] = cost
        self.usage_usd += cost
        self._remember_generation(doc, profile, entry)
        return self._json(200, doc)

    def _fault_reply(self, status: int, model_id: str, profile: _Profile, messages: list) -> StandInReply:
        meta = {"provider_name": profile.provider, "model_slug": model_id}
        headers: dict[str, str] = {}
        if status == 429:
            wait = self.retry_after_s * self.latency_scale
            headers = {"retry-after": f"{wait:g}", "x-ratelimit-limit": "60", "x-ratelimit-remaining": "0",
                       "x-ratelimit-reset": str(int((time.time() + wait) * 1000))}
            body = _error_body(429, f"{model_id} is temporarily rate-limited upstream. Please retry shortly.",
                               error_type="rate_limit_exceeded", metadata={**meta, "headers": headers})
        elif status == 403:
            flagged = next((str(m.get("content"))[:120] for m in messages if m.get("role") == "user"), "")
            body = _error_body(403, f"{model_id} requires moderation on {profile.provider}. "
                               "Your input was flagged for \"violence\"", error_type="content_policy_violation",
                               metadata={**meta, "reasons": ["violence"], "flagged_input": flagged})
        elif status == 503:
            wait = self.retry_after_s * self.latency_scale
            body = _error_body(503, "No endpoints found that can handle the requested parameters.",
                               error_type="no_provider_available", metadata=meta,
                               availability={"code": "no_provider_available", "retryable": True,
                                             "retry_after": wait})
        else:
            message, error_type = {
                400: ("Provider returned error: invalid parameter", "invalid_request"),
                401: ("User not found.", "authentication_error"),
                402: ("Insufficient credits. Add more credits to continue.", "insufficient_credits"),
                408: ("Request timed out", "timeout"),
                500: ("Internal Server Error", "server_error"),
                502: ("Provider returned error", "provider_error"),
                524: ("Provider timed out (edge timeout)", "timeout"),
                529: (f"{profile.provider} is overloaded", "provider_overloaded"),
            }[status]
            body = _error_body(status, message, error_type=error_type, metadata=meta)
        return self._json(status, body, headers)

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
            from ..quality.standin_judge import simulated_judgement  # noqa: PLC0415 (loads colour science)
            content = await asyncio.to_thread(simulated_judgement, messages, price.id, rng)
        elif wants_json:
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            content = json.dumps(_fill_schema(schema, prompt=prompt, confidence=confidence, rationale=rationale,
                                              elements=list(_covered)))
            if malformed or rng.random() < self.natural_malformed_rate:
                content = _malform(content, rng)
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
        text = _pick_text(rng)
        text_tokens = estimate_tokens(text)
        image_tokens = image_output_tokens(image_config.get("image_size"))
        prompt_tokens = sum(estimate_tokens(_text_of(m)) for m in messages) + 3 * len(messages)
        usage = self._usage(price, prompt_tokens=prompt_tokens, completion_tokens=text_tokens + image_tokens,
                            image_tokens=image_tokens)
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        message = {"role": "assistant", "content": text, "refusal": None, "reasoning": None,
                   "images": [{"type": "image_url", "image_url": {"url": url}, "index": 0}]}
        return self._envelope(price.id, profile, rng, message=message, finish_reason="stop", usage=usage)

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


def _text_of(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _wants_judgement(request: dict) -> bool:
    """The judge schema of engine/quality/judges.py (named here, not imported: it pulls in colour science)."""
    return ((request.get("response_format") or {}).get("json_schema") or {}).get("name") == "image_judgement"


def _image_parts(message: dict) -> int:
    content = message.get("content")
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url") \
        if isinstance(content, list) else 0


def _pick_text(rng: random.Random) -> str:
    return rng.choice(["Here is the image you asked for. ", "Here is your image. ",
                       "I've created the image based on your description. "])


def _fill_schema(schema: dict, *, prompt: str, confidence: float, rationale: str, elements: list[str]) -> dict:
    """The competition's answer, shaped to the requested schema when one is given."""
    answer = {"prompt": prompt, "confidence": confidence, "rationale": rationale}
    for name, spec in (schema.get("properties") or {}).items():
        if name in answer:
            continue
        kind = (spec or {}).get("type")
        answer[name] = {"number": confidence, "integer": len(elements), "boolean": True,
                        "array": elements, "object": {}}.get(kind, "")
    return answer


def _malform(content: str, rng: random.Random) -> str:
    """Content a careless model might send when JSON was asked for."""
    variant = rng.randrange(3)
    if variant == 0:
        return content[: max(1, len(content) // 2)]  # cut off mid-object
    if variant == 1:
        return "Sure! Here is the JSON you asked for:\n" + content
    return content.replace('"', "'")  # Python-dict style quoting


class StandInTransport(httpx.AsyncBaseTransport):
    """The stand-in inside httpx: same handler as the server, no sockets.

    A timeout fault waits ``timeout_after_s`` (default: the request's read timeout)
    × ``latency_scale`` and raises ``httpx.ReadTimeout``, as a real stalled call would.
    """

    def __init__(self, *, seed: int = 0, latency_scale: float = 1.0, faults: FaultSpec | str | None = None,
                 price_book: PriceBook | None = None, credits_limit: float | None = None,
                 api_key_required: bool = False, image_size_px: int | None = None,
                 timeout_after_s: float | None = None, natural_malformed_rate: float = 0.02,
                 standin: OpenRouterStandIn | None = None):
        self.standin = standin or OpenRouterStandIn(
            seed=seed, latency_scale=latency_scale, faults=faults, price_book=price_book,
            credits_limit=credits_limit, api_key_required=api_key_required, image_size_px=image_size_px,
            timeout_after_s=timeout_after_s, natural_malformed_rate=natural_malformed_rate)

    @property
    def log(self) -> list[dict]:
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
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=request)
