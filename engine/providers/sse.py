"""Server-sent events as OpenRouter streams a chat completion (``stream: true``).

The documented shape: ``: OPENROUTER PROCESSING`` comment lines while the model works
(clients skip lines starting with ``:``), then ``data: {chat.completion.chunk}`` events,
the usage once in the last chunk before ``data: [DONE]`` with empty ``choices``. An error
after tokens have streamed is a chunk with a top-level ``error`` and
``finish_reason: "error"``, the HTTP status still 200.

``completion_chunks`` turns a whole (non-streamed) completion into those chunks, so the
stand-in streams exactly what it would have answered; ``parse_sse`` reads them back.
"""
from __future__ import annotations

import json
from typing import Iterable, Iterator

__all__ = ["PROCESSING_COMMENT", "DONE", "completion_chunks", "encode_event", "parse_sse"]

PROCESSING_COMMENT = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"
_PIECE_CHARS = 48  # characters of content per chunk


def encode_event(doc: dict) -> bytes:
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def completion_chunks(doc: dict) -> Iterator[dict]:
    """The ``chat.completion.chunk`` documents a client receives for completion ``doc``."""
    base = {k: doc[k] for k in ("id", "provider", "model", "created", "system_fingerprint") if k in doc}
    base["object"] = "chat.completion.chunk"
    choice = (doc.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = message.get("content") or ""
    pieces = [content[i:i + _PIECE_CHARS] for i in range(0, len(content), _PIECE_CHARS)] or [""]

    def chunk(delta: dict, finish_reason=None, native=None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                                     "native_finish_reason": native, "logprobs": None}]}

    for n, piece in enumerate(pieces):
        yield chunk({"role": "assistant", "content": piece} if n == 0 else {"content": piece})
    if message.get("images"):
        yield chunk({"images": message["images"]})
    finish = choice.get("finish_reason")
    last = chunk({}, finish, choice.get("native_finish_reason"))
    if doc.get("error") is not None:  # failed after generation began: the error travels in the stream
        last["error"] = doc["error"]
    yield last
    if doc.get("usage") is not None:
        yield {**base, "choices": [], "usage": doc["usage"]}


def parse_sse(lines: Iterable[str]) -> Iterator[dict | str]:
    """Data events from SSE lines: each JSON chunk as a dict, ``"[DONE]"`` as that string; comments skipped."""
    for line in lines:
        line = line.rstrip("\r\n")
        if not line or line.startswith(":") or not line.startswith("data:"):
            continue
        data = line[5:].strip()
        yield data if data == "[DONE]" else json.loads(data)
