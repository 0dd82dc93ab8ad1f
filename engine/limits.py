"""Size limits on what operators write, checked wherever a row is validated.

The console, the CLI and websockets clients go through engine/commands.py, which raises
CommandError; a row INSERTed by SQL directly is refused by the engine's tick handler
(controls, decisions, jobs) with the same message. docs/operations.md (Limits) lists them.
Every event must also fit one websockets frame: engine/live/event_bounds.py cuts what still
would not (a long brief, a huge catalog's item list).
"""
from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_NAME_CHARS", "MAX_COMMENT_CHARS", "MAX_ARG_CHARS", "MAX_PROMPT_CHARS", "MAX_ITEM_IDS",
           "MAX_SPEC_BYTES", "row_problem"]

MAX_NAME_CHARS = 100       # requested_by, decided_by, author, source
MAX_COMMENT_CHARS = 2_000  # a decision's or template version's comment
MAX_ARG_CHARS = 200        # a control's arg and item_id
MAX_PROMPT_CHARS = 4_000   # an edited prompt in a decision's modifications
MAX_ITEM_IDS = 10_000      # entries of a decision's item_ids / modifications
MAX_SPEC_BYTES = 65_536    # a job's spec, as JSON

_TEXT_LIMITS = {
    "requested_by": MAX_NAME_CHARS, "decided_by": MAX_NAME_CHARS, "author": MAX_NAME_CHARS,
    "source": MAX_NAME_CHARS, "comment": MAX_COMMENT_CHARS, "arg": MAX_ARG_CHARS, "item_id": MAX_ARG_CHARS,
    "batch_id": MAX_ARG_CHARS, "session_id": MAX_ARG_CHARS,
}


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def row_problem(row: dict[str, Any]) -> str | None:
    """The first limit ``row`` breaks, said so an operator knows what to shorten; None when it fits."""
    for key, limit in _TEXT_LIMITS.items():
        value = row.get(key)
        if isinstance(value, str) and len(value) > limit:
            return f"{key} is {len(value):,} characters, over the limit of {limit:,}; shorten it"
    ids = _parsed(row.get("item_ids"))
    if isinstance(ids, list) and len(ids) > MAX_ITEM_IDS:
        return f"item_ids lists {len(ids):,} items, over the limit of {MAX_ITEM_IDS:,}"
    edits = _parsed(row.get("modifications"))
    if isinstance(edits, dict):
        if len(edits) > MAX_ITEM_IDS:
            return f"modifications has {len(edits):,} entries, over the limit of {MAX_ITEM_IDS:,}"
        for key, prompt in edits.items():
            if isinstance(prompt, str) and len(prompt) > MAX_PROMPT_CHARS:
                return (f"the edited prompt for {str(key)[:80]!r} is {len(prompt):,} characters, over the limit "
                        f"of {MAX_PROMPT_CHARS:,}; shorten it")
    spec = row.get("spec")
    if spec is not None:
        size = len(spec.encode() if isinstance(spec, str) else json.dumps(spec).encode())
        if size > MAX_SPEC_BYTES:
            return f"the job spec is {size:,} bytes, over the limit of {MAX_SPEC_BYTES:,}"
    return None
