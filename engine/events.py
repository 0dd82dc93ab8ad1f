"""Event types: small dataclasses with a name.

Every event the engine emits is one of these. ``session_id`` and ``item_id``
are the envelope; every other field is the payload. docs/events.md documents
each type once, and tests/test_events_doc.py keeps the two in step.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

__all__ = ["Event", "EVENT_TYPES", "ITEMS_PER_EVENT", "event_class", "payload_fields"]

EVENT_TYPES: dict[str, type["Event"]] = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    name: ClassVar[str] = ""
    group: ClassVar[str] = ""
    session_id: str | None = None
    item_id: str | None = None

    def payload(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in payload_fields(type(self))}


_PAYLOAD_CACHE: dict[type, tuple[str, ...]] = {}


def payload_fields(cls: type[Event]) -> tuple[str, ...]:
    cached = _PAYLOAD_CACHE.get(cls)
    if cached is None:
        cached = tuple(f.name for f in fields(cls) if f.name not in ("session_id", "item_id"))
        _PAYLOAD_CACHE[cls] = cached
    return cached


def event_class(name: str) -> type[Event]:
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown event type {name!r}; known: {', '.join(sorted(EVENT_TYPES))}") from None


def _event(name: str, group: str):
    def wrap(cls):
        cls.name = name
        cls.group = group
        cls = dataclass(frozen=True, kw_only=True, slots=True)(cls)
        EVENT_TYPES[name] = cls
        return cls
    return wrap


# --- core generation ---------------------------------------------------------------------------
@_event("generation_start", "core")
class GenerationStart(Event):
    total: int
    provider: str
    speed: str
    concurrency: int
    budget_usd: float | None
    catalog: str
    simulated: bool
    resumed: bool = False
    items: list = None  # [{item_id, asset_id, asset_type, tier, title}]: the first ITEMS_PER_EVENT; items_planned has the rest
    params: dict = None


# generation_start and items_planned list at most this many items each: no event grows with the session.
ITEMS_PER_EVENT = 500


@_event("items_planned", "core")
class ItemsPlanned(Event):
    items: list  # [{item_id, asset_id, asset_type, tier, title}], at most ITEMS_PER_EVENT


@_event("generation_complete", "core")
class GenerationComplete(Event):
    outcome: str  # completed | completed_with_failures | failed | aborted (SESSION_OUTCOMES)
    counts: dict  # outcome -> number of items
    cost_usd: float
    duration_s: float
    message: str = ""


@_event("pipeline_stage_update", "core")
class PipelineStageUpdate(Event):
    stage: str  # discovery | prompt | model | approval | image | save
    previous: str | None = None


@_event("progress_update", "core")
class ProgressUpdate(Event):
    done: int
    total: int
    in_flight: int
    eta_s: float | None
    elapsed_s: float
    counts: dict = None


@_event("cost_update", "core")
class CostUpdate(Event):
    total_usd: float
    delta_usd: float
    by_model: dict
    budget_usd: float | None
    reserved_usd: float
    simulated: bool


@_event("control_flag_change", "core")
class ControlFlagChange(Event):
    command: str  # pause | resume | skip | abort | speed
    previous: str | None
    new: str | None
    reason: str  # operator | budget | credits | approval | config | resume
    control_id: int | None = None
    source: str = "engine"  # console | cli | ws | sql | engine
    requested_by: str | None = None
    result: str = ""


# --- model competition -------------------------------------------------------------------------
@_event("model_competition_start", "competition")
class ModelCompetitionStart(Event):
    models: list
    template_version: int | None


@_event("openrouter_api_call", "competition")
class OpenrouterApiCall(Event):
    call_id: str
    purpose: str  # prompt | image
    model: str
    attempt: int
    estimated_cost_usd: float


@_event("prompt_generated", "competition")
class PromptGenerated(Event):
    model: str
    prompt: str
    confidence: float
    rationale: str
    call_id: str
    latency_ms: float
    cost_usd: float


@_event("openrouter_cost", "competition")
class OpenrouterCost(Event):
    call_id: str
    model: str
    purpose: str
    cost_usd: float
    model_total_usd: float
    session_total_usd: float


@_event("model_decision", "competition")
class ModelDecision(Event):
    winner: str
    reasoning: str
    rule: str
    scores: list  # [{model, confidence, coverage, cost_usd, score}]


@_event("model_winner_selected", "competition")
class ModelWinnerSelected(Event):
    model: str
    prompt: str
    score: float
    confidence: float


# --- prompt templates --------------------------------------------------------------------------
@_event("prompt_template_start", "template")
class PromptTemplateStart(Event):
    asset_id: str
    asset_type: str
    template_version: int


@_event("prompt_tier_selected", "template")
class PromptTierSelected(Event):
    tier: str
    rule: str


@_event("adding_emotional_layer", "template")
class AddingEmotionalLayer(Event):
    theme: str
    elements: list


@_event("template_building", "template")
class TemplateBuilding(Event):
    sections: list


@_event("style_elements_applied", "template")
class StyleElementsApplied(Event):
    elements: list


@_event("luxury_indicators_applied", "template")
class LuxuryIndicatorsApplied(Event):
    applied: bool
    indicators: list


@_event("prompt_template_complete", "template")
class PromptTemplateComplete(Event):
    template_version: int
    length: int
    elements_used: int
    required_elements: list
    brief: str


# --- approval gate -----------------------------------------------------------------------------
@_event("approval_request", "approval")
class ApprovalRequest(Event):
    batch_id: str
    items: list  # [{item_id, asset_id, prompt, model}]
    estimated_cost_usd: float
    expires_at: str
    timeout_policy: str  # approve | hold


@_event("threshold_approval_request", "approval")
class ThresholdApprovalRequest(Event):
    batch_id: str
    items: list
    estimated_cost_usd: float
    expires_at: str
    timeout_policy: str
    threshold_usd: float
    forecast: dict | None = None  # the session-level request (<sid>:forecast): prompts + images, before any call
    budget_usd: float | None = None  # the session's budget when asked


@_event("approve_batch", "approval")
class ApproveBatch(Event):
    batch_id: str
    decision_id: int | None
    decided_by: str | None
    comment: str | None
    item_ids: list


@_event("reject_batch", "approval")
class RejectBatch(Event):
    batch_id: str
    decision_id: int | None
    decided_by: str | None
    comment: str | None
    item_ids: list


@_event("modify_batch", "approval")
class ModifyBatch(Event):
    batch_id: str
    decision_id: int | None
    decided_by: str | None
    comment: str | None
    modifications: dict  # item_id -> edited prompt
    item_ids: list


@_event("approve_items", "approval")
class ApproveItems(Event):
    batch_id: str
    decision_id: int | None
    decided_by: str | None
    comment: str | None
    item_ids: list  # approved
    rejected_item_ids: list
    modifications: dict  # approved item_id -> edited prompt (may be empty)


@_event("approval_timeout", "approval")
class ApprovalTimeout(Event):
    batch_id: str
    action: str  # auto_approved | held
    estimated_cost_usd: float


@_event("approval_closed", "approval")
class ApprovalClosed(Event):
    batch_id: str
    reason: str


@_event("batch_progress", "approval")
class BatchProgress(Event):
    batch_id: str
    done: int
    total: int


# --- item lifecycle and API health -------------------------------------------------------------
@_event("item_started", "lifecycle")
class ItemStarted(Event):
    asset_id: str
    asset_type: str
    tier: str
    title: str


@_event("item_finished", "lifecycle")
class ItemFinished(Event):
    outcome: str  # saved | skipped | rejected | failed | aborted
    reason: str
    cost_usd: float
    image_path: str | None = None
    planned: dict | None = None  # an item that ends before it began: its listing {asset_id, asset_type, tier, title}


@_event("image_saved", "lifecycle")
class ImageSaved(Event):
    path: str
    width: int
    height: int
    bytes: int
    model: str
    seed: int
    sha256: str
    credentials: str = "off"  # signed | signing_failed | off (engine/credentials/studio.py)


@_event("api_call_finished", "lifecycle")
class ApiCallFinished(Event):
    call_id: str
    model: str
    status: str  # ok | error | cancelled
    http_status: int | None
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float
    generation_id: str | None = None
    error: str | None = None
    cost_estimated: bool = False  # usage had no cost: cost_usd is the held estimate until api_cost_settled


@_event("api_cost_settled", "lifecycle")
class ApiCostSettled(Event):
    call_id: str
    model: str
    cost_usd: float
    estimated: bool  # True: /generation never told, the estimate stays as the cost
    source: str  # generation | estimate | provenance (an adopted image, on resume)


@_event("api_retry", "lifecycle")
class ApiRetry(Event):
    call_id: str
    model: str
    attempt: int
    http_status: int | None
    error_type: str
    delay_s: float
    cause: str = ""  # http_429 | error200:server_error | no_image | timeout | network ...
    advised_s: float | None = None  # the server's advice, when it gave one
    advice_source: str | None = None  # header | metadata.retry_after_seconds | metadata.headers | ...


@_event("api_error", "lifecycle")
class ApiError(Event):
    call_id: str | None
    model: str
    http_status: int | None
    error_type: str
    message: str
    action: str  # retry | drop_competitor | drop_judge | fail_item | pause | stop


@_event("competitor_dropped", "lifecycle")
class CompetitorDropped(Event):
    model: str
    reason: str


@_event("session_status", "lifecycle")
class SessionStatus(Event):
    status: str
    previous: str | None
    reason: str


# --- quality scoring (docs/quality.md) ---------------------------------------------------------
@_event("quality_scored", "quality")
class QualityScored(Event):
    attempt: int  # 1 = the first image of the item; 2.. = regenerations
    image_path: str
    asset_id: str
    asset_type: str
    verdict: str  # passed | failed
    failing: list  # names of failing checks (and "judges" when the judges' vote fails)
    checks: list  # [{name, value, threshold, op, passed, version, note, detail}]
    judges: list  # [{model, scores: {criterion: {score, reason}}, mean, passed, simulated, call_id, error}]
    phash: str
    template_version: int | None = None
    elapsed_ms: float = 0.0
    simulated: bool = False


@_event("quality_gate_failed", "quality")
class QualityGateFailed(Event):
    attempt: int
    failing: list
    reasons: list  # one line per failing check or judge criterion, fed back into the next prompt
    action: str  # review | regenerate
    attempts_left: int


@_event("regeneration_started", "quality")
class RegenerationStarted(Event):
    attempt: int  # the attempt about to be made
    max_attempts: int
    feedback: str
    prompt: str
