"""OpenRouter's error taxonomy, as documented (shared/reference/openrouter.md, "Errors").

Two shapes carry an error:

* before generation starts, an HTTP error status whose body is ``{"error": {code, message,
  metadata}}`` with ``code`` equal to the status;
* once generation has started, **HTTP 200** with a top-level ``error`` (``code`` an integer
  *or a string* such as ``"server_error"``) and ``finish_reason: "error"``; its ``usage.cost``
  is billed all the same.

Each becomes one typed exception that says whether another attempt can help and what
the server advised about waiting. ``metadata.error_type`` and ``error.availability``
are not documented: they are read as optional hints, never required for a retry.
"""
from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from engine.providers.openrouter import ChatResult

__all__ = [
    "AuthError", "BadRequest", "CreditsError", "MalformedContent", "ModerationError", "NotFound",
    "OpenRouterError", "RateLimited", "RequestTimeout", "UpstreamError",
    "error_from_response", "parse_retry_after", "retry_advice",
]

# Optional hints (undocumented): metadata.error_type values that never succeed on retry ...
_PERMANENT_ERROR_TYPES = {"context_length_exceeded", "content_policy_violation", "invalid_request",
                          "insufficient_credits", "authentication_error"}
# ... and those worth another attempt whatever the status says.
_TRANSIENT_ERROR_TYPES = {"rate_limit_exceeded", "provider_overloaded", "timeout", "provider_error",
                          "upstream_error", "server_error"}


class OpenRouterError(Exception):
    """An API call that did not produce a usable answer.

    ``status`` is the error's code as a status (``error.code`` when it is an integer);
    ``http_status`` what the HTTP exchange said (200 for an error after generation began).
    ``retryable`` says whether the same request may succeed later; ``retry_after`` is the
    server's wait advice in seconds and ``retry_after_source`` where it was found.
    ``result`` is the billed answer when the failure was paid for all the same.
    """
    default_retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: Any = None,
                 error_type: str | None = None, retryable: bool | None = None,
                 retry_after: float | None = None, metadata: dict | None = None,
                 http_status: int | None = None, retry_after_source: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code if code is not None else status
        self.error_type = error_type
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.retry_after_source = retry_after_source if retry_after is not None else None
        self.metadata = metadata or {}
        self.http_status = http_status if http_status is not None else status
        self.result: "ChatResult | None" = None

    @property
    def mid_generation(self) -> bool:
        """An error delivered with HTTP 200 after generation began (billed when usage says so)."""
        return self.http_status == 200 and not isinstance(self, MalformedContent)

    @property
    def cause(self) -> str:
        """A short, stable name for why the call failed, as recorded in ``api_retry``."""
        if isinstance(self, MalformedContent):
            return self.error_type or "malformed"
        if self.mid_generation:
            return f"error200:{self.code}"
        if self.error_type in ("timeout", "network") and self.status in (None, 408):
            return self.error_type
        return f"http_{self.status}" if self.status is not None else (self.error_type or type(self).__name__)

    def __str__(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        kind = f" [{self.error_type}]" if self.error_type else ""
        return f"{status}{self.message}{kind}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, http_status={self.http_status!r}, "
                f"error_type={self.error_type!r}, retryable={self.retryable!r}, message={self.message!r})")


class BadRequest(OpenRouterError):
    """400: the request itself is wrong (unknown model, bad parameters). Not retried."""


class NotFound(BadRequest):
    """404: e.g. "No endpoints found that can handle the requested parameters" (require_parameters
    left no provider). The same request will not route later: not retried."""


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
    """429: honour the advised wait (header or metadata), else back off exponentially with jitter."""
    default_retryable = True


class UpstreamError(OpenRouterError):
    """5xx (502 model down, 503 no provider, 524 edge timeout, 529 overloaded), a broken connection,
    or a generation that failed after it began (HTTP 200 with ``error``)."""
    default_retryable = True


class MalformedContent(OpenRouterError):
    """The model answered, but not with what was asked (bad JSON, no image, bytes that are no image).

    A model error, not a crash. Each such answer is billed, so it is retried at most once
    (the retry policy's ``paid_malformed_retries``), then the item fails with this reason.
    """
    default_retryable = True


_ERRORS_BY_STATUS = {400: BadRequest, 401: AuthError, 402: CreditsError, 403: ModerationError,
                     404: NotFound, 408: RequestTimeout, 429: RateLimited}
# String codes seen in errors after generation began; anything else is a failed generation (upstream).
_ERRORS_BY_STRING_CODE = {
    "rate_limit_exceeded": RateLimited, "rate_limited": RateLimited, "timeout": RequestTimeout,
    "content_filter": ModerationError, "content_policy_violation": ModerationError, "moderation": ModerationError,
    "invalid_request": BadRequest, "bad_request": BadRequest, "context_length_exceeded": BadRequest,
    "insufficient_credits": CreditsError, "authentication_error": AuthError,
}


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a Retry-After value: a number of seconds or an HTTP date; None when unreadable."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            return max(0.0, parsedate_to_datetime(str(value)).timestamp() - time.time())
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _reset_to_seconds(value: Any) -> float | None:
    """X-RateLimit-Reset: an epoch in ms (OpenRouter) or s, or a plain number of seconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if number > 1e12:
        number = number / 1000.0 - time.time()
    elif number > 1e9:
        number = number - time.time()
    return max(0.0, number)


def _lower_keys(mapping: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, Mapping) else {}


def retry_advice(headers: Mapping | None, error: Mapping | None) -> tuple[float | None, str | None]:
    """(seconds, where) the server advised waiting, or (None, None).

    Looked up in this order: the ``Retry-After`` header; ``metadata.retry_after_seconds``;
    the upstream provider's headers under ``metadata.headers`` (Retry-After, retry-after-ms,
    X-RateLimit-Reset); the undocumented ``availability.retry_after`` hint; our own
    ``X-RateLimit-Reset`` header.
    """
    head = _lower_keys(headers or {})
    err = error if isinstance(error, Mapping) else {}
    metadata = err.get("metadata") if isinstance(err.get("metadata"), Mapping) else {}
    seconds = parse_retry_after(head.get("retry-after"))
    if seconds is not None:
        return seconds, "header"
    seconds = parse_retry_after(metadata.get("retry_after_seconds"))
    if seconds is not None:
        return seconds, "metadata.retry_after_seconds"
    upstream = _lower_keys(metadata.get("headers"))
    candidates = ((upstream.get("retry-after"), parse_retry_after),
                  (upstream.get("retry-after-ms"), lambda v: None if parse_retry_after(v) is None
                   else parse_retry_after(v) / 1000.0),
                  (upstream.get("x-ratelimit-reset"), _reset_to_seconds))
    for value, parse in candidates:
        seconds = parse(value) if value is not None else None
        if seconds is not None:
            return seconds, "metadata.headers"
    availability = err.get("availability") if isinstance(err.get("availability"), Mapping) else {}
    seconds = parse_retry_after(availability.get("retry_after"))
    if seconds is not None:
        return seconds, "availability"
    seconds = _reset_to_seconds(head.get("x-ratelimit-reset")) if head.get("x-ratelimit-reset") else None
    if seconds is not None:
        return seconds, "x-ratelimit-reset"
    return None, None


def _class_for(status: int | None, code: Any) -> type[OpenRouterError]:
    if isinstance(code, str) and not code.strip().isdigit():
        return _ERRORS_BY_STRING_CODE.get(code.strip().lower(), UpstreamError)
    if status is None:
        return UpstreamError
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = UpstreamError if status >= 500 else BadRequest
    return cls


def error_from_response(http_status: int, body: Any, headers: Mapping | None = None,
                    *, scrub: Callable[[str], str] = lambda s: s) -> OpenRouterError:
    """Map one error answer (any status, including a 200 whose body has ``error``) to its exception."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {"message": body if isinstance(body, str) else None}
    code = err.get("code")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    status: int | None = http_status
    if http_status == 200:  # after generation began the status says nothing: the code does
        status = code if isinstance(code, int) else None
    metadata = dict(err["metadata"]) if isinstance(err.get("metadata"), dict) else {}
    availability = err.get("availability") if isinstance(err.get("availability"), dict) else {}
    error_type = metadata.get("error_type") or err.get("type") or (code if isinstance(code, str) else None)
    message = scrub(str(err.get("message") or f"HTTP {http_status}"))[:500]
    retry_after, source = retry_advice(headers, err)

    cls = _class_for(status, code)
    retryable = None
    if availability.get("retryable") is False:  # an optional hint: believed when it says "don't"
        retryable = False
    if error_type in _PERMANENT_ERROR_TYPES:
        retryable = False
    elif error_type in _TRANSIENT_ERROR_TYPES and cls not in (AuthError, CreditsError, BadRequest, NotFound):
        retryable = True
    if availability:
        metadata["availability"] = availability
    return cls(message, status=status, code=code, error_type=error_type, retryable=retryable,
               retry_after=retry_after, retry_after_source=source, metadata=metadata, http_status=http_status)

