"""The C2PA manifests the studio signs: one for a generated image, one for each delivery rendition.

A generated image gets the ``c2pa.created`` action with the IPTC digital source type
``trainedAlgorithmicMedia`` and the image model as software agent, plus the studio's
own assertion (``STUDIO_ASSERTION``): session, item and asset ids, template version, the
winning prompt's SHA-256 (the prompt itself is in the ``parameters`` chunk), the
decision that released the image and who made it, the competitors' scores, cost.
A rendition names its original as ``parentOf`` ingredient with ``c2pa.opened`` and
``c2pa.resized`` / ``c2pa.transcoded``, so the chain survives delivery.
"""
from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["DIGITAL_SOURCE_TYPE", "STUDIO_ASSERTION", "CLAIM_GENERATOR", "ORIGINAL_INGREDIENT",
           "studio_record", "creation_manifest", "rendition_manifest", "released_by"]

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
STUDIO_ASSERTION = "com.assetgen.studio"
ORIGINAL_INGREDIENT = "original"
CLAIM_GENERATOR = {"name": "assetgen", "version": "0.1.0"}
# No approval gate held the item (its batch was within the approval threshold): the policy released it.
RELEASED_BY_POLICY = {"action": "released_by_policy", "decided_by": "policy",
                      "comment": "batch within the approval threshold: no approval was asked"}


def prompt_sha256(prompt: str | None) -> str | None:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest() if prompt is not None else None


def released_by(decisions: list[dict] | None) -> dict:
    """The decision that released the image: the last one recorded, else the approval policy."""
    if not decisions:
        return dict(RELEASED_BY_POLICY)
    last = decisions[-1]
    return {key: last.get(key) for key in ("decision_id", "action", "decided_by", "comment", "edited") if key in last}


def studio_record(provenance: dict[str, Any]) -> dict[str, Any]:
    """What the studio asserts about an image, from the provenance it writes into the PNG."""
    costs = provenance.get("costs") or {}
    record = {
        "session_id": provenance.get("session_id"),
        "item_id": provenance.get("item_id"),
        "asset_id": provenance.get("asset_id"),
        "asset_type": provenance.get("asset_type"),
        "template_version": provenance.get("template_version"),
        "prompt_sha256": prompt_sha256(provenance.get("prompt")),
        "winner_model": provenance.get("winner_model"),
        "image_model": provenance.get("image_model"),
        "seed": provenance.get("seed"),
        "cost_usd": costs.get("total_usd"),
        "decision": released_by(provenance.get("decisions")),
        "provider": provenance.get("provider"),
        "simulated": bool(provenance.get("simulated")),
    }
    scores = [{key: c.get(key) for key in ("model", "score", "confidence") if c.get(key) is not None}
              for c in provenance.get("candidates") or []]
    if any("score" in s or "confidence" in s for s in scores):
        record["scores"] = scores
    return record


def creation_manifest(provenance: dict[str, Any], *, title: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [CLAIM_GENERATOR],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": DIGITAL_SOURCE_TYPE,
                "softwareAgent": {"name": str(provenance.get("image_model") or "unknown image model")},
            }]}},
            {"label": STUDIO_ASSERTION, "data": studio_record(provenance)},
        ],
    }


def rendition_manifest(*, title: str, width: int, height: int, mime: str, resized: bool,
                       transcoded: bool) -> dict[str, Any]:
    actions: list[dict] = [{"action": "c2pa.opened", "parameters": {"ingredientIds": [ORIGINAL_INGREDIENT]}}]
    if resized:
        actions.append({"action": "c2pa.resized", "parameters": {"width": width, "height": height}})
    if transcoded:
        actions.append({"action": "c2pa.transcoded", "parameters": {"format": mime}})
    return {
        "claim_generator_info": [CLAIM_GENERATOR],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }
