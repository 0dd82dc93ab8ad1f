"""What each model takes and gives, from ``GET /models``: parameters, input and output modalities.

The session learns these at start (the live API with a key, the dated snapshot offline)
and uses them three ways:

* refuse a choice that cannot work before anything is paid for: an image model that only
  writes text, a competitor that cannot write text, a judge that cannot see images;
* send a model only the parameters it lists in ``supported_parameters``: with
  ``provider.require_parameters: true`` one unsupported parameter (say ``temperature`` to a
  reasoning model that keeps its default) leaves no provider and every call fails with 404;
* ask for ``modalities: ["image"]`` from image-only models and ``["image", "text"]`` from
  models that also write text.

An unknown model, or one whose entry lists no parameters, is sent what the caller asked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["CapabilityBook", "Modalities", "ModelCapabilities", "UnsuitableModel", "check_session_models",
           "unsupported_parameters"]

# Request fields that /models names in supported_parameters (under these names). Others
# (messages, modalities, image_config, provider, user, session_id...) are not filtered.
_PARAMETER_NAMES = {
    "temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "top_a": "top_a",
    "seed": "seed", "stop": "stop", "max_completion_tokens": "max_tokens", "max_tokens": "max_tokens",
    "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
    "repetition_penalty": "repetition_penalty", "logit_bias": "logit_bias", "logprobs": "logprobs",
    "top_logprobs": "top_logprobs", "tools": "tools", "tool_choice": "tool_choice",
    "parallel_tool_calls": "parallel_tool_calls", "reasoning": "reasoning",
    "include_reasoning": "include_reasoning", "verbosity": "verbosity",
}


class UnsuitableModel(ValueError):
    """A chosen model cannot do its job in the session; the message names it and says what to pick."""


class Modalities:
    """What a /models entry takes in and gives out; mixed into every class that reads one."""
    __slots__ = ()
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]

    @property
    def outputs_images(self) -> bool:
        return "image" in self.output_modalities

    @property
    def outputs_text(self) -> bool:
        return "text" in self.output_modalities

    @property
    def sees_images(self) -> bool:
        return "image" in self.input_modalities


@dataclass(frozen=True)
class ModelCapabilities(Modalities):
    id: str
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    supported_parameters: frozenset[str] | None  # None: the entry does not say

    @classmethod
    def from_entry(cls, entry: dict) -> "ModelCapabilities":
        arch = entry.get("architecture") or {}
        params = entry.get("supported_parameters")
        return cls(id=entry["id"], input_modalities=tuple(arch.get("input_modalities") or ()),
                   output_modalities=tuple(arch.get("output_modalities") or ()),
                   supported_parameters=frozenset(params) if isinstance(params, list) and params else None)

    def supports(self, parameter: str) -> bool:
        """Whether the model takes ``parameter`` (a /models name); True when the entry does not say."""
        return self.supported_parameters is None or parameter in self.supported_parameters

    def image_modalities(self) -> list[str]:
        """What to put in ``modalities`` to get an image from this model."""
        return ["image", "text"] if self.outputs_text else ["image"]


def unsupported_parameters(caps: ModelCapabilities, body: dict) -> list[str]:
    """The request fields in ``body`` the model does not list (as /models names them)."""
    if caps.supported_parameters is None:
        return []
    missing = [field for field, name in _PARAMETER_NAMES.items() if field in body and not caps.supports(name)]
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        wants_schema = response_format.get("type") == "json_schema"
        if wants_schema and not caps.supports("structured_outputs"):
            missing.append("response_format")
        elif not wants_schema and not caps.supports("response_format"):
            missing.append("response_format")
    return missing


class CapabilityBook:
    """Capabilities by model id, from /models ``data[]`` entries; ``source`` says where they came from."""

    def __init__(self, entries: Iterable[dict], *, source: str = "snapshot"):
        self.source = source
        self._models = {e["id"]: ModelCapabilities.from_entry(e) for e in entries if e.get("id")}

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"CapabilityBook(source={self.source!r}, models={len(self)})"

    def get(self, model_id: str) -> ModelCapabilities | None:
        return self._models.get(model_id)

    def matching(self, want, *, limit: int = 4) -> list[str]:
        """Up to ``limit`` model ids whose capabilities satisfy ``want`` (for suggestions)."""
        return [m.id for m in self._models.values() if want(m)][:limit]

    def fit(self, model_id: str, body: dict) -> tuple[dict, list[str]]:
        """``body`` with only what the model takes, and the names of the fields dropped or changed.

        A json_schema ``response_format`` falls back to ``json_object`` when the model takes
        response_format but not structured outputs (the answer is parsed and checked either way);
        an image request gets the model's own ``modalities``.
        """
        caps = self.get(model_id)
        if caps is None:
            return body, []
        fitted = dict(body)
        changed = []
        for field in unsupported_parameters(caps, body):
            if field == "response_format" and caps.supports("response_format") \
                    and body["response_format"].get("type") == "json_schema":
                fitted["response_format"] = {"type": "json_object"}
            else:
                fitted.pop(field, None)
            changed.append(field)
        modalities = body.get("modalities")
        if isinstance(modalities, list) and "image" in modalities and caps.outputs_images:
            wanted = caps.image_modalities()
            if modalities != wanted:
                fitted["modalities"] = wanted
                changed.append("modalities")
        return fitted, changed


def _pick(book: CapabilityBook, want) -> str:
    names = book.matching(want)
    return ", ".join(names) if names else "none listed"


def check_session_models(book: CapabilityBook, *, image_model: str, competitors: Iterable[str],
                         judge_model: str | None = None) -> None:
    """Refuse, before anything is paid for, models that cannot do their part; UnsuitableModel says why."""
    where = f"({book.source})"
    image = book.get(image_model)
    if image is None:
        raise UnsuitableModel(f"image model {image_model!r} is not listed by /models {where}: pick one from "
                              f"`assetgen models --image`, e.g. {_pick(book, lambda m: m.outputs_images)}")
    if not image.outputs_images:
        raise UnsuitableModel(
            f"image model {image_model!r} only outputs {', '.join(image.output_modalities) or 'nothing'}: it "
            f"cannot make images and each call would be paid for nothing. Pick an image model "
            f"(`assetgen models --image`), e.g. {_pick(book, lambda m: m.outputs_images)}")
    for model in competitors:
        caps = book.get(model)
        if caps is None:
            raise UnsuitableModel(f"competitor {model!r} is not listed by /models {where}: pick text models "
                                  f"from `assetgen models`")
        if not caps.outputs_text:
            raise UnsuitableModel(f"competitor {model!r} does not output text, so it cannot write a prompt: "
                                  f"pick text models, e.g. {_pick(book, lambda m: m.outputs_text and not m.outputs_images)}")
    if judge_model is not None:
        judge = book.get(judge_model)
        if judge is None or not judge.sees_images:
            seen = "is not listed by /models" if judge is None else \
                f"takes only {', '.join(judge.input_modalities) or 'nothing'} as input"
            raise UnsuitableModel(f"judge model {judge_model!r} {seen} {where}: a judge must see the images; "
                                  f"pick a vision model, e.g. {_pick(book, lambda m: m.sees_images and m.outputs_text)}")
