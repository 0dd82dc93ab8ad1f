"""Every event fits one websockets frame: oversized payloads are cut, with a marker.

Clients obey a frame limit (1 MiB by the protocol; the engine's own cap is 256 KiB), so one
huge event would make every client reconnect forever at that seq. The bus asks here only
when an encoded payload is over the cap (the common path pays one length check). The longest
text fields are cut and marked ``…[cut N characters; the full text is in its table]``; long
lists keep their first entries. ``_cut`` in the payload names what was cut. The full values
stay in their own tables (items, decisions, template_versions, the catalog file).
"""
from __future__ import annotations

import json
from typing import Any, Callable

__all__ = ["MAX_EVENT_BYTES", "ENVELOPE_RESERVE", "bound_payload", "CUT_MARKER"]

MAX_EVENT_BYTES = 256 * 1024  # one websockets frame, envelope included
ENVELOPE_RESERVE = 2_048      # type, seq, ts, session and item ids around the payload
CUT_MARKER = "…[cut {n} characters; the full text is in its table]"
_MIN_TEXT = 200


def _largest(payload: dict) -> tuple[int, tuple]:
    """(encoded size, path) of the largest string, or list of two or more entries, in ``payload``."""
    best = (0, ())

    def walk(value: Any, path: tuple) -> None:
        nonlocal best
        if path and (isinstance(value, str) or (isinstance(value, list) and len(value) > 1)):
            size = len(json.dumps(value, default=str))
            if size > best[0]:  # a parent is visited first: an equal-sized child never replaces it
                best = (size, path)
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*path, key))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, (*path, index))

    walk(payload, ())
    return best


def _get(root: Any, path: tuple) -> Any:
    for key in path:
        root = root[key]
    return root


def _set(root: Any, path: tuple, value: Any) -> None:
    _get(root, path[:-1])[path[-1]] = value


def bound_payload(payload: dict, encode: Callable[[dict], str], *, cap: int = MAX_EVENT_BYTES) -> tuple[dict, str]:
    """``payload`` and its JSON, cut until the JSON fits ``cap`` minus the envelope."""
    budget = cap - ENVELOPE_RESERVE
    payload = json.loads(encode(payload))  # a deep copy made of plain JSON values, safe to cut
    cut: dict[str, str] = {}
    text = encode(payload)
    for _ in range(64):
        if len(text) <= budget:
            break
        _, path = _largest(payload)
        if not path:
            break
        value, name = _get(payload, path), ".".join(map(str, path))
        if isinstance(value, str):
            keep = max(_MIN_TEXT, len(value) - (len(text) - budget) - 200)
            if keep >= len(value):
                break
            _set(payload, path, value[:keep] + CUT_MARKER.format(n=len(value) - keep))
            cut[name] = "text cut"
        else:
            total = int(cut.get(name, f"of {len(value)}").split("of ")[-1].split()[0])
            keep = max(1, len(value) // 2)
            _set(payload, path, value[:keep])
            cut[name] = f"kept {keep} of {total} entries; the rest are in their table"
        text = encode(payload)
    if cut:
        payload["_cut"] = cut
        text = encode(payload)
    return payload, text
