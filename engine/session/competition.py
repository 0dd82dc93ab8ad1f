"""Model competition: several text models write the image prompt; a scoring rule picks one.

Scoring rule (documented in docs/operations.md, recorded with every decision):

    score = 0.35 × confidence + 0.50 × coverage + 0.15 × (1 − cost / most expensive proposal's cost)

``coverage`` is the share of the template's required elements the prompt
contains (engine.templates.brief.coverage). A model's own confidence alone is cheap
to inflate, so what the prompt demonstrably covers weighs most, and among
equals the cheaper proposal wins. Ties go to the lower cost, then the model id.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.session.calls import CallFailed, paid_call
from engine.providers.openrouter import MalformedContent
from engine.templates.brief import competition_messages, coverage

if TYPE_CHECKING:
    from engine.session.run import SessionRun

__all__ = ["Proposal", "Verdict", "compete", "score_proposals", "PROPOSAL_SCHEMA", "SCORING_RULE"]

WEIGHTS = {"confidence": 0.35, "coverage": 0.50, "cost": 0.15}
SCORING_RULE = "score = 0.35*confidence + 0.50*coverage + 0.15*(1 - cost/max_cost)"
# Reasoning models spend hidden tokens from the same limit before any visible output: leave room.
MAX_COMPLETION_TOKENS = 2000
PROPOSAL_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "image_prompt_proposal",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "prompt": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "rationale": {"type": "string"},
            },
            "required": ["prompt", "confidence", "rationale"],
            "additionalProperties": False,
        },
    },
}


@dataclass
class Proposal:
    model: str
    prompt: str
    confidence: float
    rationale: str
    cost_usd: float
    latency_ms: float
    call_id: str | None = None
    coverage: float = 0.0
    score: float = 0.0


@dataclass
class Verdict:
    winner: Proposal
    proposals: list[Proposal]
    reasoning: str


def parse_proposal(content: dict[str, Any]) -> tuple[str, float, str]:
    """Check the structured output is exactly the schema's object; raises ValueError saying what is wrong."""
    if not isinstance(content, dict):
        raise ValueError("content is not a JSON object")
    prompt, confidence, rationale = content.get("prompt"), content.get("confidence"), content.get("rationale")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' missing or empty")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        raise ValueError(f"'confidence' must be a number in 0..1, got {confidence!r}")
    if not isinstance(rationale, str):
        raise ValueError("'rationale' missing")
    return prompt.strip(), float(confidence), rationale.strip()


def score_proposals(proposals: list[Proposal], required_elements: list[str]) -> Verdict:
    max_cost = max((p.cost_usd for p in proposals), default=0.0)
    for p in proposals:
        p.coverage = coverage(p.prompt, required_elements)
        cost_term = 1.0 - (p.cost_usd / max_cost) if max_cost > 0 else 1.0
        p.score = round(WEIGHTS["confidence"] * p.confidence + WEIGHTS["coverage"] * p.coverage
                        + WEIGHTS["cost"] * cost_term, 4)
    ranked = sorted(proposals, key=lambda p: (-p.score, p.cost_usd, p.model))
    winner = ranked[0]
    covered = round(winner.coverage * len(required_elements))
    reasoning = (
        f"{winner.model} wins with score {winner.score:.3f}: covers {covered}/{len(required_elements)} "
        f"required elements ({winner.coverage:.0%}), confidence {winner.confidence:.2f}, "
        f"cost ${winner.cost_usd:.5f}."
    )
    if len(ranked) > 1:
        runner = ranked[1]
        reasoning += (f" Runner-up {runner.model} scored {runner.score:.3f} (coverage {runner.coverage:.0%}, "
                      f"confidence {runner.confidence:.2f}, ${runner.cost_usd:.5f}).")
    return Verdict(winner=winner, proposals=ranked, reasoning=reasoning)


async def compete(run: "SessionRun", item, brief, *, recorded: list[Proposal] = ()) -> Verdict | None:
    """Ask every competitor not already recorded, in parallel; None when no proposal survives."""
    sid, iid = run.session_id, item.item_id
    models = list(run.spec.models)
    run.bus.emit(ev.ModelCompetitionStart(session_id=sid, item_id=iid, models=models,
                                          template_version=brief.template_version))
    done = {p.model for p in recorded}
    messages = competition_messages(brief)
    estimate = {m: run.estimate_text(m, messages, MAX_COMPLETION_TOKENS) for m in models}

    async def ask(model: str) -> Proposal | None:
        result = None
        try:
            call_id, result = await paid_call(
                run, item_id=iid, purpose="prompt", model=model, estimate_usd=estimate[model],
                failure_action="drop_competitor",
                answer_leaves_journal=False,  # a prompt (a judgement) only feeds later events
                request={"messages": messages, "response_format": PROPOSAL_SCHEMA,
                         "max_completion_tokens": MAX_COMPLETION_TOKENS, "temperature": 0.7,
                         "provider": {"require_parameters": True}},
            )
            prompt, confidence, rationale = parse_proposal(result.json_content())
        except (MalformedContent, ValueError) as exc:
            answered = result or getattr(exc, "result", None)
            reason = f"unusable answer: {exc}"
            if answered is not None and answered.finish_reason == "length":
                reason = (f"ran out of tokens (limit {MAX_COMPLETION_TOKENS}, {answered.reasoning_tokens or 0} spent "
                          f"on reasoning) before finishing its answer")
            run.bus.emit(ev.CompetitorDropped(session_id=sid, item_id=iid, model=model, reason=reason))
            return None
        except CallFailed as exc:
            run.bus.emit(ev.CompetitorDropped(session_id=sid, item_id=iid, model=model, reason=str(exc)))
            return None
        proposal = Proposal(model=model, prompt=prompt, confidence=confidence, rationale=rationale,
                            cost_usd=float(result.cost_usd or 0.0), latency_ms=float(result.latency_ms or 0.0),
                            call_id=call_id)
        run.bus.emit(ev.PromptGenerated(session_id=sid, item_id=iid, model=model, prompt=prompt,
                                        confidence=confidence, rationale=rationale, call_id=call_id,
                                        latency_ms=proposal.latency_ms, cost_usd=proposal.cost_usd))
        return proposal

    fresh = await asyncio.gather(*(ask(m) for m in models if m not in done))
    proposals = [*recorded, *(p for p in fresh if p is not None)]
    if not proposals:
        return None
    verdict = score_proposals(proposals, brief.required_elements)
    run.bus.emit(ev.ModelDecision(
        session_id=sid, item_id=iid, winner=verdict.winner.model, reasoning=verdict.reasoning, rule=SCORING_RULE,
        scores=[{"model": p.model, "confidence": p.confidence, "coverage": round(p.coverage, 4),
                 "cost_usd": p.cost_usd, "score": p.score} for p in verdict.proposals],
    ))
    run.bus.emit(ev.ModelWinnerSelected(session_id=sid, item_id=iid, model=verdict.winner.model,
                                        prompt=verdict.winner.prompt, score=verdict.winner.score,
                                        confidence=verdict.winner.confidence))
    return verdict
