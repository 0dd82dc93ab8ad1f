"""How far each AI judge agrees with the operators who rate the same images.

Per judge model and rubric criterion (and ``overall``, the judge's mean), over every
image both a judge scored and an operator rated:

* Spearman's ρ between the operator's 1-5 rating and the judge's 1-5 score (scipy);
* Cohen's κ on pass/fail: the operator passes at rating ≥ ``HUMAN_PASS``, the judge at
  score ≥ its threshold (the template's ``judge_min``);
* ``n``, the number of pairs behind both.

A judge whose overall κ is below ``ADVISORY_BELOW`` — or that has fewer than
``MIN_PAIRS`` pairs to be measured by — is shown as *advisory only*.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["Agreement", "agreement_table", "cohen_kappa", "spearman", "HUMAN_PASS", "ADVISORY_BELOW", "MIN_PAIRS"]

HUMAN_PASS = 3  # an operator's rating of 3 or more means "usable"
ADVISORY_BELOW = 0.4  # κ below this is at best "fair" agreement (Landis & Koch): the judge only advises
MIN_PAIRS = 10


@dataclass(frozen=True)
class Agreement:
    judge_model: str
    criterion: str
    n: int
    spearman_rho: float | None
    cohen_kappa: float | None
    human_pass_rate: float | None
    judge_pass_rate: float | None
    advisory: bool

    def to_dict(self) -> dict:
        return asdict(self)


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's κ for two raters' pass/fail on the same items; None when undefined (no pairs, or both constant alike)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy.stats import spearmanr  # noqa: PLC0415 (heavy; only when there is something to measure)

    rho = spearmanr(x, y).statistic
    return None if rho is None or math.isnan(rho) else float(rho)


def _pairs_sql() -> str:
    return """
        SELECT s.judge_model, s.name AS criterion, s.value AS judge_score, s.threshold, r.rating
        FROM scores s JOIN ratings r ON r.image_path = s.image_path
        WHERE s.kind = 'judge' AND s.value IS NOT NULL"""


def agreement_table(store) -> list[Agreement]:
    with store.read() as con:
        rows = con.execute(_pairs_sql()).fetchall()
    groups: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for model, criterion, score, threshold, rating in rows:
        groups.setdefault((model, criterion), []).append((float(score), float(threshold or 3.0), float(rating)))
    table = []
    for (model, criterion), pairs in sorted(groups.items()):
        human = [p[2] >= HUMAN_PASS for p in pairs]
        judge = [p[0] >= p[1] for p in pairs]
        table.append(Agreement(
            judge_model=model, criterion=criterion, n=len(pairs),
            spearman_rho=_round(spearman([p[2] for p in pairs], [p[0] for p in pairs])),
            cohen_kappa=_round(cohen_kappa(human, judge)),
            human_pass_rate=round(sum(human) / len(pairs), 3), judge_pass_rate=round(sum(judge) / len(pairs), 3),
            advisory=False))
    overall = {a.judge_model: a for a in table if a.criterion == "overall"}
    return [Agreement(**{**a.to_dict(), "advisory": _advisory(overall.get(a.judge_model))}) for a in table]


def _advisory(overall: Agreement | None) -> bool:
    return overall is None or overall.n < MIN_PAIRS or overall.cohen_kappa is None or overall.cohen_kappa < ADVISORY_BELOW


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
