"""What the stand-in says when things go wrong, in OpenRouter's documented shapes.

Errors before generation starts carry the status as ``error.code`` and OpenRouter's
``metadata`` (``provider_name`` and the like). Nothing undocumented is sent: no
``metadata.error_type``, no ``error.availability``, so a client rehearsed here cannot come
to depend on them. Wait advice on 429 comes, by a seeded draw, in any of the places
OpenRouter puts it: the ``Retry-After`` header, ``metadata.retry_after_seconds``, or the
upstream provider's headers under ``metadata.headers``; 503 carries ``Retry-After``.
"""
from __future__ import annotations

import json
import math
import random
import time

__all__ = ["error_body", "fault_reply", "no_endpoints_body", "fill_schema", "malform", "pick_image_text",
           "NO_IMAGE_TEXT", "MID_GENERATION_ERRORS"]

NO_IMAGE_TEXT = ("I can't generate that image right now, but here is a description of what it would show: ",
                 "Sure! Imagine a calm, balanced composition: ")
# What a failure after generation began looks like: the code an integer or a string.
MID_GENERATION_ERRORS = ((502, "Provider returned error"),
                         ("server_error", "Upstream provider stopped mid-generation"))

_MESSAGES = {
    400: "Provider returned error: invalid parameter",
    401: "User not found.",
    402: "Insufficient credits. Add more credits to continue.",
    408: "Request timed out",
    500: "Internal Server Error",
    502: "Provider returned error",
    524: "Provider timed out (edge timeout)",
}


def error_body(code: int | str, message: str, *, metadata: dict | None = None) -> dict:
    doc: dict = {"code": code, "message": message}
    if metadata:
        doc["metadata"] = metadata
    return {"error": doc}


def no_endpoints_body(detail: str = "") -> dict:
    """OpenRouter's 404 when routing requirements (require_parameters, output modalities) leave no provider."""
    message = "No endpoints found that can handle the requested parameters."
    if detail:
        message = f"No endpoints found that {detail}."
    return error_body(404, message)


def _advised_wait(retry_after_s: float, latency_scale: float) -> int:
    # whole seconds, as Retry-After is written, and never 0: a client that ignores it must show
    return max(1, math.ceil(retry_after_s * latency_scale))


def fault_reply(status: int, model_id: str, provider: str, messages: list, rng: random.Random, *,
                retry_after_s: float, latency_scale: float) -> tuple[int, dict, dict[str, str]]:
    """(status, body, headers) for an injected HTTP fault."""
    meta = {"provider_name": provider, "model_slug": model_id}
    headers: dict[str, str] = {}
    if status == 429:
        wait = _advised_wait(retry_after_s, latency_scale)
        where = rng.randrange(3)
        if where == 0:  # OpenRouter's own limiter: Retry-After and X-RateLimit-*
            headers = {"retry-after": str(wait), "x-ratelimit-limit": "60", "x-ratelimit-remaining": "0",
                       "x-ratelimit-reset": str(int((time.time() + wait) * 1000))}
        elif where == 1:
            meta["retry_after_seconds"] = wait
        else:  # the provider's own 429, its headers passed along in metadata
            meta["headers"] = {"Retry-After": str(wait), "X-RateLimit-Remaining-Requests": "0"}
            meta["raw"] = json.dumps({"error": {"message": "Resource has been exhausted", "code": 429}})
        return 429, error_body(429, f"{model_id} is temporarily rate-limited upstream. Please retry shortly.",
                               metadata=meta), headers
    if status == 403:
        flagged = next((str(m.get("content"))[:120] for m in messages if m.get("role") == "user"), "")
        return 403, error_body(403, f"{model_id} requires moderation on {provider}. "
                               "Your input was flagged for \"violence\"",
                               metadata={**meta, "reasons": ["violence"], "flagged_input": flagged}), headers
    if status == 503:
        headers = {"retry-after": str(_advised_wait(retry_after_s, latency_scale))}
        return 503, error_body(503, f"No provider is available for {model_id} right now. Please retry shortly.",
                               metadata=meta), headers
    if status == 529:
        return 529, error_body(529, f"{provider} is overloaded", metadata=meta), headers
    return status, error_body(status, _MESSAGES[status], metadata=meta), headers


def pick_image_text(rng: random.Random) -> str:
    return rng.choice(["Here is the image you asked for. ", "Here is your image. ",
                       "I've created the image based on your description. "])


def fill_schema(schema: dict, *, prompt: str, confidence: float, rationale: str, elements: list[str]) -> dict:
    """The competition's answer, shaped to the requested schema when one is given."""
    answer = {"prompt": prompt, "confidence": confidence, "rationale": rationale}
    for name, spec in (schema.get("properties") or {}).items():
        if name in answer:
            continue
        kind = (spec or {}).get("type")
        answer[name] = {"number": confidence, "integer": len(elements), "boolean": True,
                        "array": elements, "object": {}}.get(kind, "")
    return answer


def malform(content: str, rng: random.Random) -> str:
    """Content a careless model might send when JSON was asked for."""
    variant = rng.randrange(3)
    if variant == 0:
        return content[: max(1, len(content) // 2)]  # cut off mid-object
    if variant == 1:
        return "Sure! Here is the JSON you asked for:\n" + content
    return content.replace('"', "'")  # Python-dict style quoting
