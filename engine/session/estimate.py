"""Forecast what a run would cost, from the dated price snapshot, without calling anything."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.templates.catalog import load_catalog
from engine.session.competition import MAX_COMPLETION_TOKENS
from engine.providers.pricing import estimate_tokens, load_snapshot
from engine.session.spec import RunSpec
from engine.templates.brief import build_brief, competition_messages, default_template

__all__ = ["Estimate", "estimate_run"]

# What a competitor typically writes (measured on the stand-in's answers); the upper bound is the token limit.
TYPICAL_COMPLETION_TOKENS = 260


@dataclass
class Estimate:
    items: int
    by_type: dict[str, int]
    prompt_usd_by_model: dict[str, float] = field(default_factory=dict)
    image_usd: float = 0.0
    upper_bound_usd: float = 0.0
    as_of: str | None = None
    image_model: str = ""

    @property
    def total_usd(self) -> float:
        return sum(self.prompt_usd_by_model.values()) + self.image_usd

    def to_text(self) -> str:
        lines = [f"{self.items} assets: " + ", ".join(f"{n} {t}" for t, n in self.by_type.items())]
        for model, usd in self.prompt_usd_by_model.items():
            lines.append(f"  prompts  {model:<36} ${usd:9.4f}")
        lines.append(f"  images   {self.image_model:<36} ${self.image_usd:9.4f}")
        lines.append(f"  expected total{'':<32}${self.total_usd:9.4f}")
        lines.append(f"  upper bound (every competitor uses its full token limit) ${self.upper_bound_usd:.4f}")
        lines.append(f"Prices from the snapshot dated {self.as_of}; retries and price changes are not included.")
        return "\n".join(lines)


def estimate_run(spec: RunSpec) -> Estimate:
    catalog = load_catalog(spec.catalog)
    assets = catalog.select(types=spec.types, limit=spec.limit, test=spec.test, test_type=spec.test_type)
    book = load_snapshot()
    template = default_template()
    by_type: dict[str, int] = {}
    result = Estimate(items=len(assets), by_type=by_type, as_of=getattr(book, "as_of", None),
                      image_model=spec.image_model)
    for asset in assets:
        by_type[asset.type] = by_type.get(asset.type, 0) + 1
        messages = competition_messages(build_brief(asset, template))
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages) + 16
        for model in spec.models:
            typical = book.estimate_text(model, prompt_tokens, TYPICAL_COMPLETION_TOKENS) or 0.0
            result.prompt_usd_by_model[model] = result.prompt_usd_by_model.get(model, 0.0) + typical
            result.upper_bound_usd += book.estimate_text(model, prompt_tokens, MAX_COMPLETION_TOKENS) or 0.0
        image = book.estimate_image(spec.image_model, asset.image_size or "1K") or 0.0
        result.image_usd += image
        result.upper_bound_usd += image
    return result
