"""AI judges: vision models score an image against its brief with the rubric of engine.quality.rubric.

Each judgement is one paid call (``purpose = 'judge'``) through ``engine.session.calls.paid_call``: budgeted,
retried and recorded like every other call. Offline the stand-in answers the same schema from what it can
measure in the image (engine/quality/standin_judge.py), marked SIMULATED.
"""
from __future__ import annotations

import asyncio
import statistics
from typing import TYPE_CHECKING, Any

from engine.providers.openrouter import MalformedContent
from engine.providers.pricing import IMAGE_INPUT_TOKENS, estimate_tokens
from engine.quality.rubric import JUDGE_SCHEMA, MAX_COMPLETION_TOKENS, VERSION, parse_judgement

if TYPE_CHECKING:
    from engine.session.run import SessionRun

__all__ = ["judge_image"]


def _estimate(run: "SessionRun", model: str, messages: list[dict]) -> float:
    text = sum(estimate_tokens(p.get("text", "")) for m in messages
               for p in (m["content"] if isinstance(m["content"], list) else [{"text": m["content"]}]))
    return run.price_book.estimate_text(model, text + IMAGE_INPUT_TOKENS + 16, MAX_COMPLETION_TOKENS) or 0.0


async def judge_image(run: "SessionRun", item, *, models: list[str], messages: list[dict], judge_min: float
                      ) -> list[dict]:
    """Ask every judge in parallel; one entry per judge, with ``error`` when it gave no usable judgement."""
    from engine.session.calls import CallFailed, paid_call  # noqa: PLC0415 (calls imports the pipeline's types)

    async def ask(model: str) -> dict:
        entry: dict[str, Any] = {"model": model, "scores": {}, "mean": None, "passed": None, "threshold": judge_min,
                                 "simulated": run.simulated, "call_id": None, "error": None, "version": VERSION}
        try:
            call_id, result = await paid_call(
                run, item_id=item.item_id, purpose="judge", model=model, estimate_usd=_estimate(run, model, messages),
                failure_action="drop_judge",
                answer_leaves_journal=False,  # a prompt (a judgement) only feeds later events
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
