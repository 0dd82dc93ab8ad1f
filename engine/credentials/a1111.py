"""The ``parameters`` text chunk in AUTOMATIC1111's format, as image browsers and ``sd-parsers`` read it.

The format is the prompt, an optional ``Negative prompt: …`` line, then one line of
``Key: value`` pairs. Readers find that last line by the sampler keys it must carry
(``sd-parsers`` wants at least three of Steps, Sampler, CFG scale, Seed), so keys that
mean nothing for a hosted model still get written, with neutral values documented in
docs/operations.md: ``Steps: 1`` (one request), ``Sampler: hosted`` (sampling happened at
the provider; no local sampler has that name), ``CFG scale: 1`` (no guidance applied here).
"""
from __future__ import annotations

import json

__all__ = ["parameters_text", "NEUTRAL_STEPS", "NEUTRAL_SAMPLER", "NEUTRAL_CFG_SCALE"]

NEUTRAL_STEPS = 1
NEUTRAL_SAMPLER = "hosted"
NEUTRAL_CFG_SCALE = 1


def _quote(value: str) -> str:
    """A1111 quotes a value holding the line's separators, as JSON, so readers keep it whole."""
    text = str(value)
    return json.dumps(text) if any(c in text for c in ",:\n") else text


def parameters_text(prompt: str, *, model: str, seed: int, width: int, height: int, cost_usd: float,
                    negative_prompt: str | None = None) -> str:
    lines = [prompt.strip()]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt.strip()}")
    lines.append(f"Steps: {NEUTRAL_STEPS}, Sampler: {NEUTRAL_SAMPLER}, CFG scale: {NEUTRAL_CFG_SCALE}, "
                 f"Seed: {int(seed)}, Size: {int(width)}x{int(height)}, Model: {_quote(model)}, "
                 f"Cost: ${cost_usd:.6f}")
    return "\n".join(lines)
