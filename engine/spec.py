"""What a run asks for: the options of `assetgen run`, a job row's spec, the console's new-run form."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["RunSpec", "ApprovalSettings", "SpecError", "SPEED_CONCURRENCY", "DEFAULT_IMAGE_MODEL", "concurrency_for"]

SPEED_CONCURRENCY = {"slow": 1, "normal": 4, "fast": 16}
SLOW_STAGE_PAUSE_S = 1.5
DEFAULT_IMAGE_MODEL = "google/gemini-2.5-flash-image"
DEFAULT_MODELS = ("anthropic/claude-sonnet-4.5", "openai/gpt-5-mini", "google/gemini-2.5-flash")


class SpecError(ValueError):
    """A run specification that cannot run; the message names the field."""


def concurrency_for(speed: str, override: int | None = None) -> int:
    return override if override else SPEED_CONCURRENCY[speed]


def _refuse_unknown(data: dict, cls: type, what: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"unknown {what}(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")


@dataclass
class ApprovalSettings:
    enabled: bool = True
    threshold: int = 10  # batches with more items than this wait for a human
    timeout_s: float = 300.0
    cost_threshold_usd: float = 1.00  # above this estimate, a timeout never approves
    batch_size: int | None = None  # split a large session into batches of this many items


@dataclass
class RunSpec:
    catalog: str | None = None
    types: list[str] | None = None
    limit: int | None = None
    test: bool = False
    test_type: str | None = None
    provider: str = "standin"
    speed: str = "normal"
    concurrency: int | None = None
    budget_usd: float | None = None
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    latency_scale: float = 1.0
    faults: str | None = None
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    image_model: str = DEFAULT_IMAGE_MODEL
    seed: int = 0
    scoring: bool = True  # score every image (docs/quality.md); the deterministic checks cost nothing
    judge: bool = False  # also ask the template's AI judges: paid vision calls, so the operator opts in
    regenerate: int = 0  # remake an image that fails the quality gate up to this many times

    def validate(self) -> "RunSpec":
        if self.provider not in ("standin", "openrouter"):
            raise SpecError(f"provider must be 'standin' or 'openrouter', got {self.provider!r}")
        if self.speed not in SPEED_CONCURRENCY:
            raise SpecError(f"speed must be one of {', '.join(SPEED_CONCURRENCY)}, got {self.speed!r}")
        for name in ("concurrency", "limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise SpecError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if self.budget_usd is not None and self.budget_usd <= 0:
            raise SpecError(f"budget_usd must be positive, got {self.budget_usd!r}")
        if not self.models:
            raise SpecError("models: at least one competitor model is needed")
        if isinstance(self.regenerate, bool) or not isinstance(self.regenerate, int) or not 0 <= self.regenerate <= 5:
            raise SpecError(f"regenerate must be a whole number from 0 to 5, got {self.regenerate!r}")
        if self.regenerate and not self.scoring:
            raise SpecError("regenerate needs scoring: a failing image is only known once it is scored")
        if self.latency_scale < 0:
            raise SpecError("latency_scale must be ≥ 0")
        a = self.approval
        if a.threshold < 0 or a.timeout_s <= 0 or a.cost_threshold_usd < 0:
            raise SpecError("approval: threshold ≥ 0, timeout_s > 0 and cost_threshold_usd ≥ 0 are required")
        if a.batch_size is not None and a.batch_size < 1:
            raise SpecError("approval.batch_size must be ≥ 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        if not isinstance(data, dict):
            raise SpecError("a run spec must be a JSON object")
        _refuse_unknown(data, cls, "run option")
        values = {k: v for k, v in data.items() if v is not None or k in ("budget_usd", "limit", "concurrency")}
        approval = values.pop("approval", None) or {}
        if not isinstance(approval, dict):
            raise SpecError("approval must be an object")
        _refuse_unknown(approval, ApprovalSettings, "approval option")
        try:
            spec = cls(**values, approval=ApprovalSettings(**{k: v for k, v in approval.items() if v is not None}))
        except TypeError as exc:
            raise SpecError(str(exc)) from None
        if isinstance(spec.types, str):
            spec.types = [spec.types]
        return spec.validate()
