"""What a judgement is: the rubric, the structured-output schema a vision model answers, how an answer is read
and how several judges vote. Pure: the paid call that asks a judge lives in engine.session.judges.

The image passes the judges when most judges that answered give it a mean of at least ``judge_min``; the spread
between judges per criterion is kept so the console can show disagreement.
"""
from __future__ import annotations

import base64
import statistics
from typing import Any

__all__ = ["RUBRIC", "JUDGE_SCHEMA", "JUDGE_SCHEMA_NAME", "MAX_COMPLETION_TOKENS", "judge_messages", "parse_judgement",
           "vote", "VERSION"]

VERSION = "judge/1 (rubric subject, elements, brand, craft, legibility; 1-5)"
JUDGE_SCHEMA_NAME = "image_judgement"
MAX_COMPLETION_TOKENS = 2000  # reasoning models spend hidden tokens from the same limit
RUBRIC = {
    "subject": "the image shows what the brief asks for",
    "elements": "every required element of the brief is present",
    "brand": "it feels like the brand: its palette, mood and restraint",
    "craft": "clean execution: sharp, coherent, no artefacts",
    "legibility": "reads at a glance; any text is correct and legible",
}
_CRITERION = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                               "reason": {"type": "string"}},
              "required": ["score", "reason"], "additionalProperties": False}
JUDGE_SCHEMA = {"type": "json_schema", "json_schema": {
    "name": JUDGE_SCHEMA_NAME, "strict": True,
    "schema": {"type": "object", "properties": {c: _CRITERION for c in RUBRIC}, "required": list(RUBRIC),
               "additionalProperties": False}}}


def judge_messages(*, brief: str, palette: list[str], intended_text: str | None, image_png: bytes) -> list[dict]:
    rubric = "\n".join(f"- {name}: {what}" for name, what in RUBRIC.items())
    lines = [f"Brief: {brief}", f"Brand palette: {', '.join(palette)}"]
    if intended_text:
        lines.append(f"Headline text: {intended_text}")
    text = ("Judge this brand image against its brief. Score each criterion from 1 (fails) to 5 (excellent) "
            f"with a one-line reason.\n{rubric}\n\n" + "\n".join(lines))
    url = "data:image/png;base64," + base64.b64encode(image_png).decode("ascii")
    return [{"role": "system", "content": "You are a strict brand art director. Answer only with the JSON asked for."},
            {"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


def parse_judgement(content: dict[str, Any]) -> dict[str, dict]:
    """{criterion: {score, reason}}; ValueError naming what is wrong."""
    if not isinstance(content, dict):
        raise ValueError("the judgement is not a JSON object")
    out = {}
    for criterion in RUBRIC:
        entry = content.get(criterion)
        if not isinstance(entry, dict):
            raise ValueError(f"'{criterion}' missing")
        score = entry.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 1 <= score <= 5:
            raise ValueError(f"'{criterion}.score' must be 1..5, got {score!r}")
        out[criterion] = {"score": int(round(score)), "reason": str(entry.get("reason") or "")[:300]}
    return out


def vote(judges: list[dict]) -> tuple[bool | None, dict[str, int]]:
    """(majority verdict of the judges that answered — None when none did, spread per criterion)."""
    answered = [j for j in judges if j.get("passed") is not None]
    spread = {}
    for criterion in RUBRIC:
        values = [j["scores"][criterion]["score"] for j in answered if criterion in j["scores"]]
        if len(values) > 1:
            spread[criterion] = max(values) - min(values)
    if not answered:
        return None, spread
    ayes = sum(1 for j in answered if j["passed"])
    return ayes * 2 > len(answered) or (ayes * 2 == len(answered) and ayes > 0 and _tie_mean(answered)), spread


def _tie_mean(answered: list[dict]) -> bool:
    """A tie goes to the judges' mean over the threshold."""
    return statistics.fmean(j["mean"] for j in answered) >= answered[0]["threshold"]
