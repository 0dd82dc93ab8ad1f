"""Injectable faults for the offline stand-in: "429=0.1,502=0.05,timeout=0.02,error200=0.03,no_image=0.03".

Each request draws at most one fault from its own seeded RNG, so the same seed and
the same requests give the same faults, whatever order concurrent calls finish in.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "FaultSpec", "parse_faults"]

# Statuses the stand-in can answer with (429 with its wait advice in the header, metadata or the
# provider's headers; 503 with Retry-After), plus faults that are not a status:
#   timeout      - no answer; the transport raises httpx.ReadTimeout (the server stalls past the client)
#   malformed    - a 200 whose content is not what was asked (bad JSON, bytes that are no image)
#   error200     - a failure after generation began: HTTP 200, top-level error (code int or string),
#                  finish_reason "error", the partial usage billed
#   no_image     - an image model answers in text only (billed); text requests are unaffected
#   no_endpoints - 404 "No endpoints found that can handle the requested parameters"
#   no_cost      - a normal, billed answer whose usage lacks the cost (GET /generation has it)
FAULT_KINDS = ("400", "401", "402", "403", "408", "429", "500", "502", "503", "524", "529",
               "timeout", "malformed", "error200", "no_image", "no_endpoints", "no_cost")


@dataclass(frozen=True)
class FaultSpec:
    """Probability per fault kind; their sum must not exceed 1."""
    rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for kind, rate in self.rates.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate for {kind} must be within 0..1, got {rate}")
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {sum(self.rates.values()):.3f} > 1")

    @classmethod
    def parse(cls, spec: "FaultSpec | str | dict | None") -> "FaultSpec":
        if spec is None:
            return cls()
        if isinstance(spec, FaultSpec):
            return spec
        if isinstance(spec, dict):
            return cls({str(k): float(v) for k, v in spec.items()})
        rates: dict[str, float] = {}
        for part in spec.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            kind, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} needs a rate, e.g. '429=0.1'")
            try:
                rates[kind.strip().lower()] = float(value)
            except ValueError:
                raise ValueError(f"fault rate {value!r} for {kind.strip()} is not a number") from None
        return cls(rates)

    def __bool__(self) -> bool:
        return any(rate > 0 for rate in self.rates.values())

    def __str__(self) -> str:
        return ",".join(f"{kind}={rate:g}" for kind, rate in self.rates.items()) or "none"

    def draw(self, rng: random.Random, *, exclude: tuple[str, ...] = ()) -> str | None:
        """One fault kind or None, from a single uniform draw (so the RNG advances the same either way)."""
        roll = rng.random()
        edge = 0.0
        for kind, rate in self.rates.items():
            edge += rate
            if roll < edge:
                return None if kind in exclude else kind
        return None


def parse_faults(spec: "FaultSpec | str | dict | None") -> FaultSpec:
    return FaultSpec.parse(spec)
