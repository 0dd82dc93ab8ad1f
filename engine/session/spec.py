"""What a run asks for: the options of `assetgen run`, a job row's spec, the console's new-run form.

``RUN_OPTIONS`` is the one table of run options: each one's flag, default, limits and help. The CLI's flags
(engine.cli.run.run_options), the console's form (engine.intents.console.build_job_spec and console/history.py)
and the validation messages all come from it, so the CLI and the console build equal specs from equal inputs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence
from engine.vocabulary import (
    DEFAULT_COMPETITORS, DEFAULT_IMAGE_MODEL, DEFAULT_PROVIDER, DEFAULT_SPEED, PROVIDERS, SPEED_CONCURRENCY,
)

__all__ = ["RunSpec", "ApprovalSettings", "SpecError", "RunOption", "RUN_OPTIONS", "run_option", "concurrency_for"]

SLOW_STAGE_PAUSE_S = 1.5


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
    provider: str = DEFAULT_PROVIDER
    speed: str = DEFAULT_SPEED
    concurrency: int | None = None
    budget_usd: float | None = None
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    latency_scale: float = 1.0
    faults: str | None = None
    models: list[str] = field(default_factory=lambda: list(DEFAULT_COMPETITORS))
    image_model: str = DEFAULT_IMAGE_MODEL
    seed: int = 0
    scoring: bool = True  # score every image (docs/quality.md); the deterministic checks cost nothing
    judge: bool = False  # also ask the template's AI judges: paid vision calls, so the operator opts in
    regenerate: int = 0  # remake an image that fails the quality gate up to this many times

    def validate(self) -> "RunSpec":
        for option in RUN_OPTIONS:
            option.check(option.get(self))
        if not self.models:
            raise SpecError("models: at least one competitor model is needed")
        if self.regenerate and not self.scoring:
            raise SpecError("regenerate needs scoring: a failing image is only known once it is scored")
        if self.faults:
            from engine.providers.standin.faults import FaultSpec  # noqa: PLC0415 (only runs that inject faults)

            try:
                FaultSpec.parse(self.faults)
            except ValueError as exc:
                raise SpecError(f"faults: {exc}; write e.g. 429=0.1,502=0.05,timeout=0.02") from None
        return self

    @classmethod
    def from_options(cls, values: dict[str, Any]) -> "RunSpec":
        """A spec from option values keyed by ``RunOption.name`` (the CLI's parsed flags, the console's form);
        a missing or None value takes the option's default."""
        spec = cls()
        for option in RUN_OPTIONS:
            value = values.get(option.name)
            if value is not None:
                option.set(spec, option.coerce(value))
        return spec.validate()

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


@dataclass(frozen=True)
class RunOption:
    """One run option: where it lives in the spec, how a person gives it, and what it may be."""
    name: str                      # the key in a form or parsed CLI options
    path: str                      # where it lives in RunSpec ("approval.threshold")
    flag: str                      # the CLI flag
    kind: type                     # int, float, str, bool or list
    help: str
    label: str
    minimum: float | None = None   # inclusive unless minimum_open
    minimum_open: bool = False
    maximum: float | None = None
    choices: Sequence[str] | None = None
    negate: bool = False           # a `--no-x` flag for a setting that is on by default

    @property
    def default(self) -> Any:
        return self.get(RunSpec())

    def get(self, spec: "RunSpec") -> Any:
        target = spec
        for part in self.path.split("."):
            target = getattr(target, part)
        return target

    def set(self, spec: "RunSpec", value: Any) -> None:
        *parents, leaf = self.path.split(".")
        target = spec
        for part in parents:
            target = getattr(target, part)
        setattr(target, leaf, value)

    def coerce(self, value: Any) -> Any:
        if self.kind is list:
            items = value.split(",") if isinstance(value, str) else list(value)
            return [str(i).strip() for i in items if str(i).strip()] or None
        if self.kind is str:
            return str(value).strip() or None
        if self.kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    def check(self, value: Any) -> None:
        if value is None:
            return
        if self.choices is not None and value not in self.choices:
            raise SpecError(f"{self.label} must be one of {', '.join(self.choices)}, got {value!r}")
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.kind is int and not isinstance(value, int)):
                raise SpecError(f"{self.label} must be {'a whole number' if self.kind is int else 'a number'}, got {value!r}")
            if self.minimum is not None and (value <= self.minimum if self.minimum_open else value < self.minimum):
                raise SpecError(f"{self.label} must be {'>' if self.minimum_open else '≥'} {self.minimum:g}, got {value!r}")
            if self.maximum is not None and value > self.maximum:
                raise SpecError(f"{self.label} must be ≤ {self.maximum:g}, got {value!r}")
        if self.kind is str and self.maximum is not None and len(value) > self.maximum:
            raise SpecError(f"{self.label} must be at most {self.maximum:g} characters long")


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("catalog", "catalog", "--catalog", str, "Catalog TOML. Default: the built-in estate-planning v4 catalog.",
              "Catalog", maximum=4096),
    RunOption("types", "types", "--type", list, "Asset type to make (repeatable): icons, illustrations, heroes, "
              "backgrounds, social_cards.", "Asset types"),
    RunOption("limit", "limit", "--limit", int, "Make at most N assets.", "Limit", minimum=1, maximum=100_000),
    RunOption("test", "test", "--test", bool, "Test mode: 3 assets of --test-type (default icons), as in the seed.",
              "Test mode"),
    RunOption("test_type", "test_type", "--test-type", str, "Type for --test (plural, as the catalog names it).",
              "Test type", maximum=80),
    RunOption("provider", "provider", "--provider", str, "standin: the built-in offline OpenRouter stand-in "
              "(simulated costs); openrouter: real API, needs OPENROUTER_API_KEY.", "Provider", choices=PROVIDERS),
    RunOption("speed", "speed", "--speed", str, "slow: 1 item in flight with pauses to follow along; normal: 4; "
              "fast: 16.", "Speed", choices=tuple(SPEED_CONCURRENCY)),
    RunOption("concurrency", "concurrency", "--concurrency", int, "Items in flight (overrides --speed's number).",
              "Concurrency", minimum=1, maximum=64),
    RunOption("budget_usd", "budget_usd", "--budget", float, "Budget in USD: the session pauses (reason budget) "
              "rather than overshoot.", "Budget (USD)", minimum=0, minimum_open=True, maximum=10_000),
    RunOption("approval", "approval.enabled", "--no-approval", bool, "Turn the approval gate off.", "Approval gate",
              negate=True),
    RunOption("batch_size", "approval.batch_size", "--batch-size", int, "Split the session into approval batches of "
              "N items.", "Batch size", minimum=1, maximum=100_000),
    RunOption("approval_threshold", "approval.threshold", "--approval-threshold", int, "Batches with more items "
              "than this wait for approval.", "Approval threshold (items)", minimum=0, maximum=100_000),
    RunOption("approval_timeout_s", "approval.timeout_s", "--approval-timeout", float, "Seconds before an approval "
              "request times out.", "Approval timeout (s)", minimum=0, minimum_open=True, maximum=86_400),
    RunOption("approval_cost_threshold_usd", "approval.cost_threshold_usd", "--approval-cost-threshold", float,
              "USD: above this estimate a timeout never approves; the session pauses.", "Cost threshold (USD)",
              minimum=0, maximum=10_000),
    RunOption("latency_scale", "latency_scale", "--latency-scale", float, "Stand-in latency multiplier (0 = instant).",
              "Stand-in latency scale", minimum=0, maximum=10),
    RunOption("faults", "faults", "--faults", str, "Stand-in fault injection, e.g. 429=0.1,502=0.05,timeout=0.02.",
              "Stand-in faults", maximum=500),
    RunOption("models", "models", "--models", list, "Competitor models, comma-separated OpenRouter ids.",
              "Competitor models"),
    RunOption("image_model", "image_model", "--image-model", str, "Image model id (OpenRouter, with an image output).",
              "Image model", maximum=200),
    RunOption("seed", "seed", "--seed", int, "Seed for the stand-in and image seeds.", "Seed", minimum=0),
    RunOption("regenerate", "regenerate", "--regenerate", int, "Remake an image that fails the quality gate up to N "
              "times, with the failing checks fed into its prompt (within budget; every attempt kept). 0: a failing "
              "image goes to review.", "Regenerate (attempts)", minimum=0, maximum=5),
    RunOption("judge", "judge", "--judge", bool, "Also score each image with the template's AI judges (paid vision "
              "calls).", "AI judges"),
    RunOption("scoring", "scoring", "--no-scoring", bool, "Do not score images (no quality checks, no gate).",
              "Quality scoring", negate=True),
)


def run_option(name: str) -> RunOption:
    for option in RUN_OPTIONS:
        if option.name == name:
            return option
    raise KeyError(f"no run option {name!r}")
