"""One measured check: its value against its threshold, and which scorer said so."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "CHECK_NAMES", "AT_LEAST", "AT_MOST", "measured", "not_applicable"]

# every deterministic check, in the order a scorecard lists them
CHECK_NAMES = ("palette", "contrast", "copy", "size", "aspect", "alpha", "sharpness", "near_duplicate")
AT_LEAST, AT_MOST = ">=", "<="


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float | None
    op: str  # ">=": value must reach the threshold; "<=": must not exceed it
    passed: bool | None  # None: does not apply to this image, or the scorer is unavailable
    version: str  # the scorer's version, so a score can be traced to the code that gave it
    note: str = ""  # one human line: what was measured and what it means
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # field by field, not dataclasses.asdict: its recursive deep copy was a measurable share of the
        # event loop's time per scored image (bench/pipeline.py); ``detail`` holds plain JSON values
        return {"name": self.name, "value": self.value, "threshold": self.threshold, "op": self.op,
                "passed": self.passed, "version": self.version, "note": self.note, "detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Check":
        return cls(**{k: data.get(k) for k in ("name", "value", "threshold", "op", "passed", "version", "note")},
                   detail=dict(data.get("detail") or {}))


def measured(name: str, value: float, threshold: float, op: str, *, version: str, note: str = "",
             detail: dict | None = None) -> Check:
    passed = value >= threshold if op == AT_LEAST else value <= threshold
    return Check(name=name, value=round(float(value), 6), threshold=float(threshold), op=op, passed=bool(passed),
                 version=version, note=note, detail=detail or {})


def not_applicable(name: str, why: str, *, version: str, threshold: float | None = None, op: str = AT_LEAST,
                   detail: dict | None = None) -> Check:
    return Check(name=name, value=None, threshold=threshold, op=op, passed=None, version=version, note=why,
                 detail=detail or {})
