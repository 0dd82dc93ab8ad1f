"""AI judges: vision models score an image against its brief with a rubric, as structured output.

Each judgement is one paid call (``purpose = 'judge'``) through ``engine.calls.paid_call``:
budgeted, retried and recorded like every other call. Several judges vote: the
image passes the judges when most judges that answered give it a mean of at
least ``judge_min``; the spread between judges per criterion is kept so the
console can show disagreement. Offline the stand-in answers the same schema from
what it can measure in the image (engine/quality/standin_judge.py), marked SIMULATED.
"""
from __future__ import annotations

import asyncio
import base64
import statistics
from typing import TYPE_CHECKING, Any

from ..pricing import IMAGE_INPUT_TOKENS, estimate_tokens
from ..providers.openrouter import MalformedContent

if TYPE_CHECKING:
    from ..pipeline import SessionRun

__all__ = ["RUBRIC", "JUDGE_SCHEMA", "JUDGE_SCHEMA_NAME", "judge_messages", "parse_judgement",
           "judge_image", "vote", "VERSION"]

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


def _estimate(run: "SessionRun", model: str, messages: list[dict]) -> float:
    text = sum(estimate_tokens(p.get("text", "")) for m in messages
               for p in (m["content"] if isinstance(m["content"], list) else [{"text": m["content"]}]))
    return run.price_book.estimate_text(model, text + IMAGE_INPUT_TOKENS + 16, MAX_COMPLETION_TOKENS) or 0.0


async def judge_image(run: "SessionRun", item, *, models: list[str], messages: list[dict], judge_min: float
                      ) -> list[dict]:
    """Ask every judge in parallel; one entry per judge, with ``error`` when it gave no usable judgement."""
    from ..calls import CallFailed, paid_call  # noqa: PLC0415 (calls imports the pipeline's types)

    async def ask(model: str) -> dict:
        entry: dict[str, Any] = {"model": model, "scores": {}, "mean": None, "passed": None, "threshold": judge_min,
                                 "simulated": run.simulated, "call_id": None, "error": None, "version": VERSION}
        try:
            call_id, result = await paid_call(
                run, item_id=item.item_id, purpose="judge", model=model, estimate_usd=_estimate(run, model, messages),
                failure_action="drop_judge",
                request={"messages": messages, "response_format": JUDGE_SCHEMA, "temperature": 0.0,
                         "max_completion_tokens": MAX_COMPLETION_TOKENS, "provider": {"require_parameters": True}})
            entry["call_id"] = call_id
            scores = parse_judgement(result.json_content())
        except (MalformedContent, ValueError) as exc:
            entry["error"] = f"unusable judgement: {exc}"
            return entry
        except CallFailed as exc:
            entry["error"] = str(exc)
            return entry
        mean = statistics.fmean(s["score"] for s in scores.values())
        entry.update(scores=scores, mean=round(mean, 3), passed=mean >= judge_min)
        return entry

    return list(await asyncio.gather(*(ask(m) for m in models)))


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
