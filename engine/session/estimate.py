"""Forecast what a run would cost, from the dated price snapshot, without calling anything.

The console's New run form and ``assetgen estimate`` forecast a spec (``estimate_run``); a session
forecasts its own open items the same way before its first paid call (``forecast_items``), so the
approval gate can ask about the whole session first (engine/session/forecast.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from engine.templates.catalog import load_catalog
from engine.session.competition import MAX_COMPLETION_TOKENS
from engine.providers.pricing import estimate_tokens, load_snapshot
from engine.session.spec import RunSpec
from engine.templates.brief import build_brief, competition_messages, default_template

__all__ = ["Estimate", "estimate_run", "forecast_items"]

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
    by_item: dict[str, float] = field(default_factory=dict)  # key → expected USD (prompts + image), when asked

    @property
    def prompt_usd(self) -> float:
        return sum(self.prompt_usd_by_model.values())

    @property
    def total_usd(self) -> float:
        return self.prompt_usd + self.image_usd

    def breakdown(self) -> dict:
        """The figures an approval request carries (rounded to 1e-6 USD)."""
        return {"items": self.items, "prompts_usd": round(self.prompt_usd, 6), "images_usd": round(self.image_usd, 6),
                "total_usd": round(self.total_usd, 6), "upper_bound_usd": round(self.upper_bound_usd, 6),
                "prompts_usd_by_model": {m: round(v, 6) for m, v in self.prompt_usd_by_model.items()},
                "image_model": self.image_model, "prices_as_of": self.as_of}

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
    return forecast_items(((None, asset, True) for asset in assets), models=spec.models,
                          image_model=spec.image_model, template=default_template(), book=load_snapshot())


def forecast_items(work: Iterable[tuple[str | None, Any, bool]], *, models: list[str], image_model: str, template,
                   book) -> Estimate:
    """The forecast of ``work``: (key, asset, needs_prompts); an asset whose prompt is already chosen (a
    resumed item) costs only its image. ``by_item`` holds each keyed entry's expected share."""
    result = Estimate(items=0, by_type={}, as_of=getattr(book, "as_of", None), image_model=image_model)
    for key, asset, needs_prompts in work:
        result.items += 1
        result.by_type[asset.type] = result.by_type.get(asset.type, 0) + 1
        share = 0.0
        if needs_prompts:
            messages = competition_messages(build_brief(asset, template))
            prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages) + 16
            for model in models:
                typical = book.estimate_text(model, prompt_tokens, TYPICAL_COMPLETION_TOKENS) or 0.0
                result.prompt_usd_by_model[model] = result.prompt_usd_by_model.get(model, 0.0) + typical
                result.upper_bound_usd += book.estimate_text(model, prompt_tokens, MAX_COMPLETION_TOKENS) or 0.0
                share += typical
        image = book.estimate_image(image_model, getattr(asset, "image_size", None) or "1K") or 0.0
        result.image_usd += image
        result.upper_bound_usd += image
        if key is not None:
            result.by_item[key] = share + image
    return result
