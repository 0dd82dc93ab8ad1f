"""The OpenRouter client: the only code that speaks the API (reference/openrouter.md).

Online it talks to https://openrouter.ai/api/v1; offline the very same code runs
over the built-in stand-in (``StandInTransport`` in-process, or ``assetgen standin``
over HTTP), so what is rehearsed is what runs.

Errors become typed exceptions (errors.py) that say whether a retry can help, including
the documented failure delivered with HTTP 200 (a top-level ``error`` and
``finish_reason: "error"``), whose billed ``usage.cost`` travels with the exception.
``chat_once`` makes exactly one HTTP attempt (the pipeline counts attempts and emits
events for each); ``chat`` adds bounded retries decided by the RetryPolicy (retry.py).
With a ``CapabilityBook`` (capabilities.py) each request carries only the parameters
its model takes. ``generation_cost`` finds the bill when an answer's usage lacks it.

The API key goes into one header and nowhere else: not into messages, reprs or
results. Server-supplied messages are scrubbed of it too, in case a proxy echoes it.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import logging
import math
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import httpx

from engine.providers.capabilities import CapabilityBook
from engine.providers.errors import (AuthError, BadRequest, CreditsError, MalformedContent, ModerationError, NotFound,
                     OpenRouterError, RateLimited, RequestTimeout, UpstreamError, error_from_response)
from engine.providers.retry import RetryDecision, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "AuthError",
    "BadRequest",
    "ChatResult",
    "CreditsError",
    "MalformedContent",
    "ModerationError",
    "NotFound",
    "OpenRouterClient",
    "OpenRouterError",
    "RateLimited",
    "RequestTimeout",
    "UpstreamError",
    "error_from_response",
    "sniff_image_format",
]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
log = logging.getLogger(__name__)


# --- results -----------------------------------------------------------------------------------
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))


def sniff_image_format(data: bytes) -> str | None:
    """'png' | 'jpeg' | 'webp' | 'gif' from the leading bytes, else Pillow's verdict, else None."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    try:
        from PIL import Image  # noqa: PLC0415 (rare path)
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            return (img.format or "").lower() or None
    except Exception:  # anything Pillow cannot read is not an image for us
        return None


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


@dataclass
class ChatResult:
    """One successful chat completion, with usage as billed.

    ``cost_usd`` is ``usage.cost``: None when the server did not say (an
    OpenAI-compatible server without billing) — unknown, never a silent zero.
    """
    id: str | None
    model: str | None
    provider: str | None
    content: str | None
    images: list[bytes] = field(repr=False)  # megabytes: keep reprs and logs readable
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    image_tokens: int
    cost_usd: float | None
    latency_ms: float
    raw: dict = field(repr=False)
    image_formats: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        return self.cost_usd is not None

    def json_content(self) -> dict:
        """The structured answer as a dict; MalformedContent when it is not a JSON object."""
        text = self.content
        if not text or not text.strip():
            raise self._malformed(f"{self.model} returned no content (finish_reason={self.finish_reason})",
                                  "empty_content")
        fenced = _FENCE.match(text)  # some models wrap JSON in a code fence despite response_format
        if fenced:
            text = fenced.group(1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self._malformed(f"{self.model} returned content that is not valid JSON: {_json_error_text(exc)}",
                                  "invalid_json") from None
        if not isinstance(value, dict):
            raise self._malformed(f"{self.model} returned JSON {type(value).__name__}, expected an object",
                                  "invalid_json")
        return value

    def _malformed(self, message: str, error_type: str) -> "MalformedContent":
        error = MalformedContent(message, error_type=error_type, metadata={"finish_reason": self.finish_reason},
                                 http_status=200)
        error.result = self  # the call was still billed: callers settle its cost
        return error


def _json_error_text(exc: json.JSONDecodeError) -> str:
    """The decoder's message and where it stopped. Some of its messages end in "at" already ("Unterminated string
    starting at"), and a competitor's drop reason once read "... starting at at char 11"."""
    return f"{exc.msg}{'' if exc.msg.endswith(' at') else ' at'} char {exc.pos}"


def _decode_data_url(url: str) -> bytes:
    if url.startswith("data:"):
        _, _, payload = url.partition(",")
    else:
        payload = url
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise MalformedContent(f"image payload is not base64: {exc}", error_type="invalid_image") from None


# --- client ------------------------------------------------------------------------------------
class OpenRouterClient:
    """Async OpenRouter client over httpx; ``transport`` swaps in the offline stand-in.

    ``capabilities`` (or ``load_capabilities()``) lets each request carry only what its model
    takes; ``retry_policy`` (else one built from the backoff settings) decides retries.
    """

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 60.0,
                 app_url: str = "https://github.com/assetgen", app_title: str = "assetgen",
                 max_retries: int = 4, backoff_base: float = 0.5, backoff_cap: float = 20.0,
                 retry_after_cap: float = 120.0, rng: random.Random | None = None,
                 retry_policy: RetryPolicy | None = None, capabilities: CapabilityBook | None = None,
                 cost_lookup_delay: float = 0.5, cost_lookup_timeout: float = 30.0):
        self.base_url = (base_url or os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.__key = api_key if api_key is not None else os.environ.get("OPENROUTER_API_KEY", "")
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy(
            max_retries=max_retries, backoff_base=backoff_base, backoff_cap=backoff_cap,
            retry_after_cap=retry_after_cap, rng=rng)
        self.capabilities = capabilities
        self.cost_lookup_delay = cost_lookup_delay
        self.cost_lookup_timeout = cost_lookup_timeout
        headers = {"HTTP-Referer": app_url, "X-OpenRouter-Title": app_title, "X-Title": app_title,
                   "Content-Type": "application/json"}
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        self._http = httpx.AsyncClient(base_url=self.base_url + "/", headers=headers,
                                       timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
                                       transport=transport)

    def __repr__(self) -> str:
        return f"OpenRouterClient(base_url={self.base_url!r}, key={'set' if self.__key else 'unset'})"

    @property
    def has_key(self) -> bool:
        return bool(self.__key)

    @property
    def max_retries(self) -> int:
        return self.retry_policy.max_retries

    async def __aenter__(self) -> "OpenRouterClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key and text else text

    # -- one HTTP exchange ----------------------------------------------------------------------
    async def _request(self, method: str, path: str, *, json_body: dict | None = None,
                       params: dict | None = None) -> tuple[Any, float, httpx.Headers]:
        """Send one request; return (parsed JSON, latency ms, headers) or raise the matching error.

        A 200 whose body has ``error`` is returned as it is: only the caller knows whether
        it was billed (chat) or simply failed (the other endpoints).
        """
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path.lstrip("/"), json=json_body, params=params)
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"no answer within the timeout ({type(exc).__name__})", status=408,
                                 error_type="timeout") from None
        except httpx.TransportError as exc:  # refused, reset, closed mid-answer
            raise UpstreamError(self._scrub(f"connection failed: {type(exc).__name__}: {exc}"),
                                error_type="network") from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.status_code >= 400:
            if body is None:
                body = self._scrub(response.text[:300]) or f"HTTP {response.status_code}"
            raise error_from_response(response.status_code, body, response.headers, scrub=self._scrub)
        if body is None:
            raise UpstreamError(f"answer is not JSON (HTTP {response.status_code})", status=response.status_code,
                                error_type="invalid_response")
        return body, latency_ms, response.headers

    async def _get(self, path: str, params: dict | None = None) -> dict:
        data, _, headers = await self._request("GET", path, params=params)
        if isinstance(data, dict) and data.get("error") is not None:
            raise error_from_response(200, data, headers, scrub=self._scrub)
        return data

    # -- capabilities -----------------------------------------------------------------------------
    async def load_capabilities(self, *, fallback: list[dict] | None = None,
                                fallback_source: str = "price snapshot") -> CapabilityBook:
        """What each model takes and gives, from GET /models; ``fallback`` entries when that fails."""
        try:
            entries = await self.models()
            book = CapabilityBook(entries, source=f"GET {self.base_url}/models")
        except OpenRouterError as error:
            if fallback is None:
                raise
            log.warning("GET /models failed (%s): using the %s", error, fallback_source)
            book = CapabilityBook(fallback, source=fallback_source)
        self.capabilities = book
        return book

    # -- chat -------------------------------------------------------------------------------------
    async def chat_once(self, *, model: str, messages: list[dict], response_format: dict | None = None,
                        max_completion_tokens: int | None = None, temperature: float | None = None,
                        seed: int | None = None, modalities: list[str] | None = None,
                        image_config: dict | None = None, provider: dict | None = None,
                        user: str | None = None, session_id: str | None = None) -> ChatResult:
        """Exactly one POST /chat/completions; typed error on failure."""
        body: dict[str, Any] = {"model": model, "messages": messages}
        optional = {"response_format": response_format, "max_completion_tokens": max_completion_tokens,
                    "temperature": temperature, "seed": seed, "modalities": modalities,
                    "image_config": image_config, "user": user, "session_id": session_id}
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.capabilities is not None:
            body, changed = self.capabilities.fit(model, body)
            if changed:
                log.debug("%s: fitted %s to what the model takes", model, ", ".join(changed))
        routing = dict(provider or {})
        schema_format = body.get("response_format") or {}
        if schema_format.get("type") == "json_schema":
            # without it a provider that ignores the schema could be chosen silently
            routing.setdefault("require_parameters", True)
        if routing:
            body["provider"] = routing
        data, latency_ms, headers = await self._request("POST", "chat/completions", json_body=body)
        generation_id = headers.get("x-generation-id")
        if not isinstance(data, dict):
            raise UpstreamError(f"{model}: the answer is not a JSON object", status=502, http_status=200,
                                error_type="invalid_response")
        choices = data.get("choices") or []
        failed_choice = next((c for c in choices if (c or {}).get("finish_reason") == "error"), None)
        if data.get("error") is not None or failed_choice is not None:
            raise self._mid_generation_error(data, latency_ms, headers, model, failed_choice)
        result = self._chat_result(data, latency_ms, requested_model=model, generation_id=generation_id)
        wanted_image = "image" in (body.get("modalities") or [])
        if wanted_image and not result.images:
            error = MalformedContent(f"{model} answered without an image (finish_reason={result.finish_reason}"
                                     f"{', text: ' + repr(result.content[:80]) if result.content else ''})",
                                     error_type="no_image", http_status=200)
            error.result = result
            raise error
        return result

    def _mid_generation_error(self, data: dict, latency_ms: float, headers: httpx.Headers, model: str,
                              failed_choice: dict | None) -> OpenRouterError:
        """The documented failure after generation began: HTTP 200, ``error``, ``finish_reason: "error"``."""
        doc = data.get("error")
        if not isinstance(doc, dict):
            doc = (failed_choice or {}).get("error")
        if not isinstance(doc, dict):
            doc = {"code": "server_error", "message": f"{model}: generation failed (finish_reason error)"}
        error = error_from_response(200, {"error": doc}, headers, scrub=self._scrub)
        error.result = self._chat_result(data, latency_ms, requested_model=model,
                                         generation_id=headers.get("x-generation-id"), decode_images=False)
        return error

    async def chat(self, *, on_retry: Callable[[OpenRouterError, int, float], Awaitable[None] | None] | None = None,
                   **kwargs) -> ChatResult:
        """``chat_once`` with bounded retries: at most ``1 + max_retries`` attempts.

        ``on_retry(error, attempt, delay_s)`` is called before each wait, so callers can log or emit.
        """
        attempt = 0
        seen: Counter[str] = Counter()
        while True:
            attempt += 1
            try:
                return await self.chat_once(**kwargs)
            except OpenRouterError as error:
                seen[error.cause] += 1
                decision = self.retry_policy.decide(error, attempt, seen=seen)
                if decision is None:
                    raise
                if on_retry is not None:
                    maybe = on_retry(error, attempt, decision.delay_s)
                    if asyncio.iscoroutine(maybe):
                        await maybe
                if decision.delay_s > 0:
                    await asyncio.sleep(decision.delay_s)

    def retry_decision(self, error: OpenRouterError, attempt: int, *, seen=None) -> RetryDecision | None:
        """Whether and how to retry after ``attempt`` attempts failed, the last with ``error``."""
        return self.retry_policy.decide(error, attempt, seen=seen)

    def retry_delay(self, error: OpenRouterError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt; None = give up (see ``retry_decision``)."""
        decision = self.retry_policy.decide(error, attempt)
        return None if decision is None else decision.delay_s

    def _chat_result(self, data: dict, latency_ms: float, *, requested_model: str,
                     generation_id: str | None = None, decode_images: bool = True) -> ChatResult:
        choices = data.get("choices") or []
        if not choices and decode_images:
            error = MalformedContent(f"{requested_model} answered without choices", error_type="no_choices",
                                     http_status=200)
            error.result = self._chat_result(data, latency_ms, requested_model=requested_model,
                                             generation_id=generation_id, decode_images=False)
            raise error
        choice = choices[0] if choices else {}
        message = choice.get("message") or {}
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        details = usage.get("completion_tokens_details") or {}
        result = ChatResult(
            id=data.get("id") or generation_id,
            model=data.get("model") or requested_model,
            provider=data.get("provider"),
            content=message.get("content"),
            images=[],
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            reasoning_tokens=int(details.get("reasoning_tokens") or 0),
            image_tokens=int(details.get("image_tokens") or 0),
            cost_usd=_billed(usage.get("cost")),
            latency_ms=latency_ms,
            raw=data,
        )
        if not decode_images:
            return result
        for item in message.get("images") or []:
            url = ((item or {}).get("image_url") or {}).get("url") or ""
            try:
                raw = _decode_data_url(url)
            except MalformedContent as error:
                error.result = result
                raise
            fmt = sniff_image_format(raw)
            if fmt is None:
                error = MalformedContent(f"{requested_model} returned an image that does not decode "
                                         f"({len(raw)} bytes)", error_type="invalid_image", http_status=200)
                error.result = result  # billed all the same
                raise error
            result.images.append(raw)
            result.image_formats.append(fmt)
        return result

    # -- other endpoints --------------------------------------------------------------------------
    async def models(self, *, output_modalities: str | list[str] | None = None) -> list[dict]:
        """GET /models entries (``output_modalities="image"`` lists image models)."""
        params = None
        if output_modalities:
            value = output_modalities if isinstance(output_modalities, str) else ",".join(output_modalities)
            params = {"output_modalities": value}
        data = await self._get("models", params=params)
        return list(data.get("data") or [])

    async def key_info(self) -> dict:
        """GET /key: limit, limit_remaining, usage… — check it before a costly batch."""
        data = await self._get("key")
        return dict(data.get("data") or {})

    async def generation(self, generation_id: str) -> dict:
        """GET /generation?id=…: audit stats (404 for a second or more after the call)."""
        data = await self._get("generation", params={"id": generation_id})
        return dict(data.get("data") or {})

    async def generation_cost(self, generation_id: str, *, timeout_s: float | None = None,
                              first_delay_s: float | None = None) -> float | None:
        """The billed ``total_cost`` of a generation, asked until it is ready; None when it never is.

        /generation answers 404 for a few seconds after the call: ask at once, then back off
        (``first_delay_s`` doubling, at most 8 s apart) until ``timeout_s`` has passed.
        """
        timeout_s = self.cost_lookup_timeout if timeout_s is None else timeout_s
        delay = self.cost_lookup_delay if first_delay_s is None else first_delay_s
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                cost = _billed((await self.generation(generation_id)).get("total_cost"))
                if cost is not None:
                    return cost
            except (NotFound, RateLimited, RequestTimeout, UpstreamError):
                pass  # not there yet, or a passing fault: ask again
            except OpenRouterError as error:
                log.warning("cost of generation %s cannot be looked up: %s", generation_id, error)
                return None
            if time.monotonic() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(max(delay, 0.05) * 2, 8.0)


def _billed(value: Any) -> float | None:
    """A usage.cost / total_cost as USD; None when it is not a number (unknown, never a silent 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None
