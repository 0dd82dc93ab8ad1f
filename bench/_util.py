"""Small helpers shared by the benchmarks: percentiles and the JSON summary line.

Every benchmark prints human figures first and a JSON summary as its LAST line,
so scripts (CI, comparisons) can read `tail -1`.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Iterable

__all__ = ["REPO", "percentile", "distribution", "print_summary"]

REPO = Path(__file__).resolve().parents[1]


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def distribution(values: Iterable[float], *, scale: float = 1.0, digits: int = 4) -> dict:
    """p50, p99, max and count, each multiplied by ``scale`` (e.g. 1000 for seconds -> ms)."""
    ordered = sorted(values)

    def fmt(v):
        return None if v is None else round(v * scale, digits)

    return {"count": len(ordered), "p50": fmt(percentile(ordered, 50)), "p99": fmt(percentile(ordered, 99)),
            "max": fmt(ordered[-1] if ordered else None)}


def print_summary(summary: dict) -> None:
    """The machine-readable result: one JSON object, always the last line of output."""
    sys.stdout.flush()
    print(json.dumps(summary, sort_keys=True, default=str), flush=True)
