"""The OpenRouter client: the only code that speaks the API (reference/openrouter.md).

Online it talks to https://openrouter.ai/api/v1; offline the very same code runs
over the built-in stand-in (``StandInTransport`` in-process, or ``assetgen standin``
over HTTP), so what is rehearsed is what runs.

Errors become typed exceptions that say whether a retry can help. ``chat_once``
makes exactly one HTTP attempt (the pipeline counts attempts and emits events for
each); ``chat`` adds bounded retries driven by ``retry_delay``.

The API key goes into one header and nowhere else: not into messages, reprs or
results. Server-supplied messages are scrubbed of it too, in case a proxy echoes it.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import httpx

__all__ = [
    "DEFAULT_BASE_URL",
    "AuthError",
    "BadRequest",
    "ChatResult",
    "CreditsError",
    "MalformedContent",
    "ModerationError",
    "OpenRouterClient",
    "OpenRouterError",
    "RateLimited",
    "RequestTimeout",
    "UpstreamError",
    "error_from_response",
    "sniff_image_format",
]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

# metadata.error_type is more precise than the status: these never succeed on retry ...
_PERMANENT_ERROR_TYPES = {"context_length_exceeded", "content_policy_violation", "invalid_request",
                          "insufficient_credits", "authentication_error"}
# ... and these are worth another attempt whatever the status says.
_TRANSIENT_ERROR_TYPES = {"rate_limit_exceeded", "provider_overloaded", "timeout", "provider_error",
                          "upstream_error", "server_error"}


# --- errors ------------------------------------------------------------------------------------
class OpenRouterError(Exception):
    """An API call that did not produce a usable answer.

    ``retryable`` says whether the same request may succeed later; ``retry_after``
    is the server's advice in seconds (Retry-After header or error.availability).
    """
    default_retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: Any = None,
                 error_type: str | None = None, retryable: bool | None = None,
                 retry_after: float | None = None, metadata: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code if code is not None else status
        self.error_type = error_type
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.metadata = metadata or {}
        # the answer that was billed despite the failure (e.g. an undecodable image), if any
        self.result: "ChatResult | None" = None

    def __str__(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        kind = f" [{self.error_type}]" if self.error_type else ""
        return f"{status}{self.message}{kind}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, error_type={self.error_type!r}, "
                f"retryable={self.retryable!r}, message={self.message!r})")


class BadRequest(OpenRouterError):
    """400: the request itself is wrong (unknown model, bad parameters). Not retried."""


class AuthError(OpenRouterError):
    """401: missing, bad or disabled key. A configuration error: stop."""


class CreditsError(OpenRouterError):
    """402: out of credits or the key's limit is reached. Stop spending; do not retry blindly."""


class ModerationError(OpenRouterError):
    """403: a moderation or guardrail block; ``reasons`` and ``flagged_input`` say why."""

    @property
    def reasons(self) -> list[str]:
        return list(self.metadata.get("reasons") or [])

    @property
    def flagged_input(self) -> str | None:
        return self.metadata.get("flagged_input")


class RequestTimeout(OpenRouterError):
    """408, or no answer before the client's timeout. Retried with backoff."""
    default_retryable = True


class RateLimited(OpenRouterError):
    """429: honour Retry-After, else back off exponentially with jitter."""
    default_retryable = True


class UpstreamError(OpenRouterError):
    """5xx (502 model down, 503 no provider, 524 edge timeout, 529 overloaded) or a broken connection."""
    default_retryable = True


class MalformedContent(OpenRouterError):
    """The model answered, but not with what was asked (bad JSON, no image, bytes that are no image).

    A model error, not a crash: retry, or drop that competitor.
    """
    default_retryable = True


_ERRORS_BY_STATUS = {400: BadRequest, 401: AuthError, 402: CreditsError, 403: ModerationError,
                     408: RequestTimeout, 429: RateLimited}


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        from email.utils import parsedate_to_datetime  # noqa: PLC0415
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def error_from_response(status: int, body: Any, headers: httpx.Headers | dict | None = None,
                        *, scrub: Callable[[str], str] = lambda s: s) -> OpenRouterError:
    """Map an OpenRouter error answer (status + ``{"error":{code,message,metadata}}``) to its exception."""
    headers = headers or {}
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {"message": body if isinstance(body, str) else None}
    code = err.get("code")
    if status == 200 and isinstance(code, int):  # an error delivered with HTTP 200 (mid-generation)
        status = code
    metadata = err.get("metadata") if isinstance(err.get("metadata"), dict) else {}
    availability = err.get("availability") if isinstance(err.get("availability"), dict) else {}
    error_type = metadata.get("error_type") or err.get("type")
    message = scrub(str(err.get("message") or f"HTTP {status}"))[:500]

    retry_after = _parse_retry_after(headers.get("retry-after") if headers else None)
    if retry_after is None and availability.get("retry_after") is not None:
        retry_after = _parse_retry_after(str(availability["retry_after"]))

    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = UpstreamError if status >= 500 else BadRequest
    retryable = None
    if status == 503:  # no provider meets the routing requirements: only retry when told it may help
        retryable = bool(availability.get("retryable", False))
    elif "retryable" in availability:
        retryable = bool(availability["retryable"])
    if error_type in _PERMANENT_ERROR_TYPES:
        retryable = False
    elif error_type in _TRANSIENT_ERROR_TYPES and cls not in (AuthError, CreditsError, BadRequest):
        retryable = True
    if availability:
        metadata = {**metadata, "availability": availability}
    return cls(message, status=status, code=code, error_type=error_type, retryable=retryable,
               retry_after=retry_after, metadata=metadata)


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
            raise self._malformed(f"{self.model} returned content that is not valid JSON: {exc.msg} "
                                  f"at char {exc.pos}", "invalid_json") from None
        if not isinstance(value, dict):
            raise self._malformed(f"{self.model} returned JSON {type(value).__name__}, expected an object",
                                  "invalid_json")
        return value

    def _malformed(self, message: str, error_type: str) -> "MalformedContent":
        error = MalformedContent(message, error_type=error_type, metadata={"finish_reason": self.finish_reason})
        error.result = self  # the call was still billed: callers settle its cost
        return error


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
    """Async OpenRouter client over httpx; ``transport`` swaps in the offline stand-in."""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 60.0,
                 app_url: str = "https://github.com/assetgen", app_title: str = "assetgen",
                 max_retries: int = 4, backoff_base: float = 0.5, backoff_cap: float = 20.0,
                 retry_after_cap: float = 120.0, rng: random.Random | None = None):
        self.base_url = (base_url or os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.__key = api_key if api_key is not None else os.environ.get("OPENROUTER_API_KEY", "")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._rng = rng or random.Random()
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
                       params: dict | None = None) -> tuple[Any, float]:
        """Send one request; return (parsed JSON, latency ms) or raise the matching OpenRouterError."""
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
        if response.status_code >= 400 or (isinstance(body, dict) and "error" in body and "choices" not in body):
            if body is None:
                body = self._scrub(response.text[:300]) or f"HTTP {response.status_code}"
            raise error_from_response(response.status_code, body, response.headers, scrub=self._scrub)
        if body is None:
            raise UpstreamError(f"answer is not JSON (HTTP {response.status_code})", status=response.status_code,
                                error_type="invalid_response")
        return body, latency_ms

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
        routing = dict(provider or {})
        if response_format and response_format.get("type") == "json_schema":
            # without it a provider that ignores the schema could be chosen silently
            routing.setdefault("require_parameters", True)
        if routing:
            body["provider"] = routing
        data, latency_ms = await self._request("POST", "chat/completions", json_body=body)
        result = self._chat_result(data, latency_ms, requested_model=model)
        if modalities and "image" in modalities and not result.images:
            error = MalformedContent(f"{model} answered without an image (finish_reason={result.finish_reason})",
                                     error_type="no_image")
            error.result = result
            raise error
        return result

    async def chat(self, *, on_retry: Callable[[OpenRouterError, int, float], Awaitable[None] | None] | None = None,
                   **kwargs) -> ChatResult:
        """``chat_once`` with bounded retries: at most ``1 + max_retries`` attempts.

        ``on_retry(error, attempt, delay_s)`` is called before each wait, so callers can log or emit.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.chat_once(**kwargs)
            except OpenRouterError as error:
                delay = self.retry_delay(error, attempt)
                if delay is None:
                    raise
                if on_retry is not None:
                    maybe = on_retry(error, attempt, delay)
                    if asyncio.iscoroutine(maybe):
                        await maybe
                if delay > 0:
                    await asyncio.sleep(delay)

    def retry_delay(self, error: OpenRouterError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt after ``attempt`` attempts failed; None = give up.

        The server's advice (Retry-After, error.availability.retry_after) wins, capped by
        ``retry_after_cap``; otherwise exponential backoff with jitter, capped by ``backoff_cap``.
        """
        if not error.retryable or attempt > self.max_retries:
            return None
        if error.retry_after is not None:
            return min(error.retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        # "equal jitter": never less than half the step, so a burst of clients spreads out but still waits
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _chat_result(self, data: dict, latency_ms: float, *, requested_model: str) -> ChatResult:
        choices = data.get("choices") or []
        if not choices:
            raise MalformedContent(f"{requested_model} answered without choices", error_type="no_choices")
        choice = choices[0]
        message = choice.get("message") or {}
        finish_reason = choice.get("finish_reason")
        if finish_reason == "error":
            raise error_from_response(200, {"error": choice.get("error") or {"code": 502, "message":
                                      "generation failed"}}, scrub=self._scrub)
        usage = data.get("usage") or {}
        details = usage.get("completion_tokens_details") or {}
        cost = usage.get("cost")
        result = ChatResult(
            id=data.get("id"),
            model=data.get("model") or requested_model,
            provider=data.get("provider"),
            content=message.get("content"),
            images=[],
            finish_reason=finish_reason,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            reasoning_tokens=int(details.get("reasoning_tokens") or 0),
            image_tokens=int(details.get("image_tokens") or 0),
            cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
            latency_ms=latency_ms,
            raw=data,
        )
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
                                         f"({len(raw)} bytes)", error_type="invalid_image")
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
        data, _ = await self._request("GET", "models", params=params)
        return list(data.get("data") or [])

    async def key_info(self) -> dict:
        """GET /key: limit, limit_remaining, usage… — check it before a costly batch."""
        data, _ = await self._request("GET", "key")
        return dict(data.get("data") or {})

    async def generation(self, generation_id: str) -> dict:
        """GET /generation?id=…: audit stats (404 for a second or more after the call)."""
        data, _ = await self._request("GET", "generation", params={"id": generation_id})
        return dict(data.get("data") or {})
