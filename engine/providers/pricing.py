"""Model prices from a dated snapshot of OpenRouter's GET /models, for estimates only.

Money is reserved before it is spent, so the engine needs an estimate before each
call; the bill itself always comes from ``usage.cost``. The snapshot keeps the
exact shape of ``/models`` ``data[]`` entries (prices are strings, USD per token),
so the offline stand-in can serve it verbatim and a fresh download can replace it.

Router entries such as ``openrouter/auto`` carry ``"-1"``: any negative, missing
or unparseable price is *unknown* (``None``), never a negative or a silent zero.

``assetgen models --refresh`` writes a new dated snapshot
(``openrouter-snapshot-YYYY-MM-DD.json`` beside the bundled one) from ``GET /models``;
the newest dated snapshot is the default from then on, for estimates, capabilities and
the stand-in's prices alike.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from engine.config import BUNDLED_DATA

from engine.providers.capabilities import Modalities

__all__ = [
    "DEFAULT_SNAPSHOT_PATH",
    "IMAGE_OUTPUT_TOKENS",
    "ModelPrice",
    "PriceBook",
    "UnknownModel",
    "estimate_tokens",
    "image_output_tokens",
    "IMAGE_INPUT_TOKENS",
    "list_models",
    "load_snapshot",
    "model_rows",
    "newest_snapshot_path",
    "refresh_snapshot",
]

DEFAULT_SNAPSHOT_PATH = BUNDLED_DATA / "pricing" / "openrouter-snapshot.json"

# Image tokens billed per generated image, by OpenRouter's image_config.image_size.
# 1290 for a 1024² image is what Gemini 2.5 Flash Image reports; larger sizes are
# estimated in proportion to area (the snapshot has no better source).
IMAGE_OUTPUT_TOKENS = {"1K": 1290, "2K": 1290 * 4, "4K": 1290 * 16}


class UnknownModel(KeyError):
    """The model id is not in the price book."""

    def __str__(self) -> str:  # KeyError would repr-quote the message
        return str(self.args[0]) if self.args else "unknown model"


# A 1024² image sent to a vision model as input (a judge's), in prompt tokens: Gemini's count; others are close.
IMAGE_INPUT_TOKENS = 1290


def estimate_tokens(text: str | None) -> int:
    """Rough token count (≈ 4 characters a token), enough to reserve money before a call."""
    if not text:
        return 0
    return max(1, math.ceil(len(text) / 4))


def image_output_tokens(image_size: str | None = "1K") -> int:
    return IMAGE_OUTPUT_TOKENS.get((image_size or "1K").upper(), IMAGE_OUTPUT_TOKENS["1K"])


def _price(value) -> float | None:
    """A price string from /models as USD per unit; None when unknown (missing, negative, garbage)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or number < 0:
        return None
    return number


@dataclass(frozen=True, slots=True)
class ModelPrice(Modalities):
    """One model's prices in USD per token (``request`` per request, ``image`` per input image).

    ``None`` means unknown. ``raw`` is the snapshot entry exactly as /models returns it.
    """
    id: str
    name: str
    prompt: float | None
    completion: float | None
    request: float | None
    image: float | None
    image_output: float | None
    internal_reasoning: float | None
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    context_length: int | None
    max_completion_tokens: int | None
    raw: dict

    @property
    def provider_prefix(self) -> str:
        return self.id.split("/", 1)[0]

    @classmethod
    def from_entry(cls, entry: dict) -> "ModelPrice":
        pricing = entry.get("pricing") or {}
        arch = entry.get("architecture") or {}
        top = entry.get("top_provider") or {}
        return cls(
            id=entry["id"],
            name=entry.get("name") or entry["id"],
            prompt=_price(pricing.get("prompt")),
            completion=_price(pricing.get("completion")),
            request=_price(pricing.get("request")),
            image=_price(pricing.get("image")),
            image_output=_price(pricing.get("image_output")),
            internal_reasoning=_price(pricing.get("internal_reasoning")),
            input_modalities=tuple(arch.get("input_modalities") or ()),
            output_modalities=tuple(arch.get("output_modalities") or ()),
            context_length=entry.get("context_length"),
            max_completion_tokens=top.get("max_completion_tokens"),
            raw=entry,
        )


class PriceBook:
    """Prices by model id, from one dated snapshot."""

    def __init__(self, entries: list[dict], *, as_of: str | None = None, source: str | None = None):
        self.as_of = as_of
        self.source = source
        self.entries = list(entries)
        self._models = {e["id"]: ModelPrice.from_entry(e) for e in self.entries}

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"PriceBook(as_of={self.as_of!r}, models={len(self)})"

    def ids(self) -> list[str]:
        return list(self._models)

    def model(self, model_id: str) -> ModelPrice:
        try:
            return self._models[model_id]
        except KeyError:
            raise UnknownModel(f"{model_id!r} is not in the price snapshot of {self.as_of}") from None

    def get(self, model_id: str) -> ModelPrice | None:
        return self._models.get(model_id)

    def text_models(self) -> list[str]:
        """Models that answer in text only and have known prices (routers excluded)."""
        return [m.id for m in self._models.values()
                if m.outputs_text and not m.outputs_images and m.prompt is not None and m.completion is not None]

    def image_models(self) -> list[str]:
        return [m.id for m in self._models.values() if m.outputs_images]

    def estimate_text(self, model_id: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for a text call; None when the model's token prices are unknown."""
        price = self.model(model_id)
        if price.prompt is None or price.completion is None:
            return None
        return prompt_tokens * price.prompt + completion_tokens * price.completion + (price.request or 0.0)

    def estimate_image(self, model_id: str, image_size: str = "1K", *, prompt_tokens: int = 0,
                       text_tokens: int = 0, images: int = 1) -> float | None:
        """USD for generating ``images`` images of ``image_size``.

        Image tokens are priced at ``image_output``; when the snapshot lacks it (the
        list sometimes does even though image tokens are billed) the completion price
        stands in. None when neither is known.
        """
        price = self.model(model_id)
        per_image_token = price.image_output if price.image_output is not None else price.completion
        if per_image_token is None:
            return None
        cost = images * image_output_tokens(image_size) * per_image_token
        cost += prompt_tokens * (price.prompt or 0.0) + text_tokens * (price.completion or 0.0)
        return cost + (price.request or 0.0)

    def cost_of_usage(self, model_id: str, *, prompt_tokens: int, completion_tokens: int,
                      image_tokens: int = 0) -> float | None:
        """What OpenRouter bills for a usage block: image tokens (part of completion_tokens) at the
        image-output rate, the rest of the completion (reasoning included) at the output rate."""
        price = self.model(model_id)
        if price.prompt is None or price.completion is None:
            return None
        image_rate = price.image_output if price.image_output is not None else price.completion
        text_completion = max(0, completion_tokens - image_tokens)
        return (prompt_tokens * price.prompt + text_completion * price.completion
                + image_tokens * image_rate + (price.request or 0.0))


_DATED_GLOB = "openrouter-snapshot-????-??-??.json"


def newest_snapshot_path(directory: str | os.PathLike | None = None) -> Path:
    """The newest dated snapshot in ``directory`` (default: the bundled one's), else the bundled snapshot."""
    folder = Path(directory) if directory else DEFAULT_SNAPSHOT_PATH.parent
    dated = sorted(folder.glob(_DATED_GLOB))
    return dated[-1] if dated else DEFAULT_SNAPSHOT_PATH


def load_snapshot(path: str | os.PathLike | None = None) -> PriceBook:
    """The price book from ``path`` (default: ASSETGEN_PRICING_SNAPSHOT, then the newest dated
    snapshot written by ``models --refresh``, then the bundled snapshot)."""
    resolved = Path(path or os.environ.get("ASSETGEN_PRICING_SNAPSHOT") or newest_snapshot_path())
    return _load_cached(str(resolved.resolve()), resolved.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime_ns: int) -> PriceBook:
    # The file is re-read only when it changes; PriceBook is read-only, so sharing it is safe.
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    entries = doc["data"] if isinstance(doc, dict) else doc
    return PriceBook(entries, as_of=doc.get("as_of") if isinstance(doc, dict) else None,
                     source=doc.get("source") if isinstance(doc, dict) else None)


def model_rows(entries: list[dict], *, image_only: bool = False) -> list[dict]:
    """/models entries as display rows with prices in USD per million tokens (None = unknown)."""
    rows = []
    for entry in entries:
        price = ModelPrice.from_entry(entry)
        if image_only and not price.outputs_images:
            continue
        per_m = {k: None if v is None else round(v * 1e6, 4)
                 for k, v in (("prompt_per_m", price.prompt), ("completion_per_m", price.completion),
                              ("image_output_per_m", price.image_output))}
        rows.append({"id": price.id, "name": price.name, **per_m, "context_length": price.context_length,
                     "output_modalities": list(price.output_modalities)})
    return rows


async def refresh_snapshot(client, *, directory: str | os.PathLike | None = None, today: str | None = None) -> Path:
    """GET /models with the key and write it as ``openrouter-snapshot-<today>.json``; returns the path.

    Refuses (ValueError) without a key or when the answer lists no usable model, so a
    bad answer never replaces a good snapshot.
    """
    import datetime  # noqa: PLC0415

    if not client.has_key:
        raise ValueError("OPENROUTER_API_KEY is not set: `assetgen models --refresh` asks OpenRouter's "
                         "/models with your key; export it first")
    entries = await client.models()
    usable = [e for e in entries if isinstance(e, dict) and e.get("id") and isinstance(e.get("pricing"), dict)]
    if not usable:
        raise ValueError(f"GET {client.base_url}/models listed no model with prices; the snapshot is unchanged")
    date = today or datetime.date.today().isoformat()
    folder = Path(directory) if directory else DEFAULT_SNAPSHOT_PATH.parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"openrouter-snapshot-{date}.json"
    doc = {"as_of": date, "source": f"GET {client.base_url}/models ({len(usable)} models). Estimates only: "
                                   "bill from usage.cost.", "data": usable}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # whole or not at all: a reader never sees half a snapshot
    return path


def list_models(*, image_only: bool = False, online: bool = False) -> tuple[list[dict], str]:
    """(rows, where they came from): the bundled snapshot, or GET /models at OPENROUTER_BASE_URL."""
    if not online:
        book = load_snapshot()
        return model_rows(book.entries, image_only=image_only), f"price snapshot as of {book.as_of}"
    import asyncio  # noqa: PLC0415 (only the online path needs the client)

    from engine.providers.openrouter import OpenRouterClient  # noqa: PLC0415

    async def fetch() -> tuple[list[dict], str]:
        async with OpenRouterClient(timeout=20.0) as client:
            entries = await client.models(output_modalities="image" if image_only else None)
            return entries, f"GET {client.base_url}/models"

    entries, source = asyncio.run(fetch())
    return model_rows(entries, image_only=image_only), source
