"""The websockets protocol: message shapes, close codes and origin rules.

Shared by the server (engine/ws.py) and its clients (engine/watch.py, the
benchmark), so both ends agree on one definition. docs/protocol.md describes
every message with examples.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable

from engine.live.bus import json_default, Record, encode_frame

__all__ = [
    "MAX_MESSAGE_BYTES", "CLOSE_UNAUTHORIZED", "CLOSE_HELLO_TIMEOUT", "CLOSE_TOO_SLOW",
    "CLOSE_FELL_BEHIND", "CLOSE_BACKFILL_UNAVAILABLE", "RECONNECT_CODES",
    "BadRequest", "Hello", "parse_message", "parse_hello", "default_allowed_origins", "origins_from_env",
    "hello_message", "error_message", "ack_message", "snapshot_message", "engine_info",
    "frame_from_row", "to_json", "control_request", "decision_request",
]

# Frames over 1 MiB are refused by the websockets library itself (close code 1009).
MAX_MESSAGE_BYTES = 2**20

# Application close codes (4000-4999 are ours by RFC 6455). The 44xx numbers echo HTTP on purpose.
CLOSE_UNAUTHORIZED = 4401          # wrong or missing token: do not retry with the same token
CLOSE_HELLO_TIMEOUT = 4408         # no valid hello within hello_timeout
CLOSE_TOO_SLOW = 4429              # the client's queue overflowed: reconnect with since_seq
CLOSE_FELL_BEHIND = 4409           # the server could not keep the live stream gap-free: reconnect
CLOSE_BACKFILL_UNAVAILABLE = 4503  # missed events were neither in memory nor in the database yet
# Closes after which a client should reconnect with since_seq=<last seq it received>.
RECONNECT_CODES = frozenset({1001, 1006, 1011, 1012, 1013, CLOSE_TOO_SLOW, CLOSE_FELL_BEHIND,
                             CLOSE_BACKFILL_UNAVAILABLE})

_PROCESS_STARTED_AT = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class BadRequest(ValueError):
    """A client message the server cannot act on; answered with an error, the connection stays."""

    def __init__(self, message: str, *, code: str = "bad_request", request_id: Any = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Hello:
    token: str
    since_seq: int | None


def to_json(value: Any) -> str:
    return json.dumps(value, default=json_default, separators=(",", ":"))


def parse_message(text: str | bytes) -> dict:
    """Decode one client frame into a dict with a string ``type``, or raise BadRequest."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadRequest("a message must be a JSON object with a \"type\"")
    if not isinstance(message.get("type"), str):
        raise BadRequest("a message needs a string \"type\"", request_id=message.get("id"))
    return message


def parse_hello(message: dict) -> Hello:
    token = message.get("token")
    if not isinstance(token, str):
        raise BadRequest("hello needs the token from <data-dir>/.ws-token", code="unauthorized")
    since = message.get("since_seq")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise BadRequest("since_seq must be a non-negative integer (the last seq you received)")
    return Hello(token=token, since_seq=since)


def default_allowed_origins(console_port: int) -> frozenset[str]:
    """The console's own pages; any other web page must not drive the engine."""
    return frozenset({f"http://localhost:{console_port}", f"http://127.0.0.1:{console_port}"})


def origins_from_env(console_port: int) -> frozenset[str]:
    """ASSETGEN_WS_ORIGINS (comma-separated) replaces the console defaults when set."""
    raw = os.environ.get("ASSETGEN_WS_ORIGINS", "").strip()
    if not raw:
        return default_allowed_origins(console_port)
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def hello_message(token: str, since_seq: int | None = None) -> str:
    message: dict[str, Any] = {"type": "hello", "token": token}
    if since_seq is not None:
        message["since_seq"] = since_seq
    return to_json(message)


def error_message(code: str, message: str, request_id: Any = None) -> str:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        body["id"] = request_id
    return to_json(body)


def ack_message(request_id: Any, **ids: int) -> str:
    return to_json({"type": "ack", "id": request_id, **ids})


def engine_info() -> dict:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        ver = version("assetgen")
    except Exception:  # an uninstalled checkout still serves
        ver = "unknown"
    return {"pid": os.getpid(), "started_at": _PROCESS_STARTED_AT, "version": ver}


def snapshot_message(*, last_seq: int, since_seq: int, sessions: Iterable[dict], engine: dict) -> str:
    return to_json({"type": "snapshot", "last_seq": last_seq, "since_seq": since_seq,
                    "sessions": list(sessions), "engine": engine})


def frame_from_row(seq: int, ts_us: int, session_id: str | None, item_id: str | None,
                   type_: str, payload_json: str | None) -> Record:
    """Rebuild, from an ``events`` row, the very frame the bus sent live."""
    payload_json = payload_json or "null"
    record = Record(seq, ts_us, session_id, item_id, type_, payload_json, "")
    record.frame = encode_frame(seq, record.ts_iso, session_id, item_id, type_, payload_json)
    return record


def control_request(message: dict) -> dict:
    """The keyword arguments of engine.intents.requests.request_control from a ``command`` message."""
    arg = message.get("arg")
    return {
        "command": _text(message, "command", required=True),
        "session_id": _text(message, "session_id"), "item_id": _text(message, "item_id"),
        "arg": None if arg is None else str(arg),
        "requested_by": _text(message, "requested_by") or "ws",
    }


def decision_request(message: dict) -> dict:
    """The keyword arguments of engine.intents.requests.request_decision from a ``decision`` message."""
    item_ids = message.get("item_ids")
    if item_ids is not None and not (isinstance(item_ids, list) and all(isinstance(i, str) for i in item_ids)):
        raise BadRequest("item_ids must be a list of item id strings")
    modifications = message.get("modifications")
    if modifications is not None and not isinstance(modifications, dict):
        raise BadRequest("modifications must be an object {item_id: edited prompt}")
    budget_usd = message.get("budget_usd")
    if budget_usd is not None and (isinstance(budget_usd, bool) or not isinstance(budget_usd, (int, float))):
        raise BadRequest("budget_usd must be a number (USD), e.g. 12.5")
    return {
        "action": _text(message, "action", required=True), "batch_id": _text(message, "batch_id"),
        "item_ids": item_ids, "modifications": modifications, "comment": _text(message, "comment"),
        "decided_by": _text(message, "decided_by") or "ws", "budget_usd": budget_usd,
    }


def _text(message: dict, key: str, *, required: bool = False) -> str | None:
    value = message.get(key)
    if value is None:
        if required:
            raise BadRequest(f"missing {key!r}")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be a string")
    return value
