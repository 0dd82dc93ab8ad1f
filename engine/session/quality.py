"""Quality in a session: score each image off the event loop, gate it, and regenerate when asked.

``QualityStep.save_and_gate`` replaces a plain save in the pipeline: it scores the
image (deterministic checks in a worker process, engine/session/scoring_pool.py; AI judges as paid calls when the
run asked for them), saves it with its scorecard in the PNG provenance, emits
``quality_scored``, and on a failing gate either marks the item for review or —
with ``--regenerate N`` and budget left — remakes it with the failing checks and
judge reasons appended to the prompt. Every attempt is kept: attempt 1 is
``<asset>.png``, attempt k is ``<asset>-attempt<k>.png``.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine import events as ev
from engine.session.save import asset_path
from engine.quality.rubric import judge_messages, vote
from engine.session.judges import judge_image
from engine.session.steps import buy_image
from engine.quality.store import library_entries
from engine.session.scoring_pool import score_in_pool, warm_pool
from engine.quality.thresholds import Thresholds, judges_of, palette_of, thresholds_for

if TYPE_CHECKING:
    from engine.session.run import ItemState, SessionRun
    from engine.quality.neardup import LibraryIndex
    from engine.quality.scorecard import Scorecard



def _intended_text(asset, thresholds: Thresholds) -> str | None:
    from engine.quality.scorecard import intended_text  # noqa: PLC0415

    return intended_text(asset, thresholds)

__all__ = ["QualityStep", "Assessment", "attempt_path", "feedback_for"]


def attempt_path(assets_dir: Path, session_id: str, asset_id: str, attempt: int) -> Path:
    path = asset_path(assets_dir, session_id, asset_id)
    return path if attempt <= 1 else path.with_name(f"{path.stem}-attempt{attempt}.png")


@dataclass
class Assessment:
    card: "Scorecard"
    judges: list[dict] = field(default_factory=list)
    judges_passed: bool | None = None
    spread: dict[str, int] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        return [c.name for c in self.card.failing] + (["judges"] if self.judges_passed is False else [])

    @property
    def passed(self) -> bool:
        return not self.failing

    def reasons(self) -> list[str]:
        lines = [f"{c.name}: {c.note}" for c in self.card.failing]
        if self.judges_passed is False:
            for judge in self.judges:
                for criterion, entry in (judge.get("scores") or {}).items():
                    if entry["score"] <= 2:
                        lines.append(f"judge {judge['model']} on {criterion}: {entry['score']}/5, {entry['reason']}")
        return lines

    def provenance(self) -> dict:
        return {"verdict": "passed" if self.passed else "failed", "failing": self.failing,
                "checks": [c.to_dict() for c in self.card.checks], "phash": self.card.phash,
                "judges": [{k: j[k] for k in ("model", "scores", "mean", "passed", "simulated", "error")}
                           for j in self.judges], "judge_spread": self.spread}


_FIXES = {
    "palette": "keep strictly to the brand palette {palette}; no other hues",
    "contrast": "give the subject clear contrast against its background",
    "copy": "render the headline text exactly: \"{text}\"",
    "size": "compose for the {aspect} format",
    "aspect": "compose for the {aspect} format",
    "alpha": "use a transparent background",
    "sharpness": "crisp, sharp edges and fine detail; no blur",
    "near_duplicate": "make it clearly different from other assets of the library",
    "judges": "follow the brief closely: its subject, required elements and brand feel",
}


def feedback_for(assessment: Assessment, *, attempt: int, palette: list[str], text: str | None, aspect: str) -> str:
    fixes = [_FIXES[name].format(palette=", ".join(palette), text=text or "", aspect=aspect)
             for name in dict.fromkeys(assessment.failing) if name in _FIXES]
    return (f"Revision {attempt}: the previous image failed the brand quality check ("
            + "; ".join(assessment.reasons()) + "). Fix it: " + "; ".join(fixes) + ".")

log = logging.getLogger(__name__)


class QualityStep:
    def __init__(self, run: "SessionRun"):
        self.run = run
        spec = run.spec
        self.enabled = bool(getattr(spec, "scoring", False))
        self.max_attempts = 1 + int(getattr(spec, "regenerate", 0) or 0)
        self.body = run.template.body if run.template is not None else {}
        self.palette = palette_of(self.body)
        self.judges = judges_of(self.body) if getattr(spec, "judge", False) else []
        self._library: "LibraryIndex | None" = None
        self._library_lock = asyncio.Lock()
        self._warm: asyncio.Future | None = None
        if self.enabled:
            try:
                # numpy and imagehash (the near-duplicate index) take a second to import: in a thread, not
                # on the loop at the first image, where every item in flight would wait for it
                self._warm = asyncio.gather(warm_pool(), asyncio.to_thread(importlib.import_module,
                                                                           "engine.quality.neardup"))
            except (RuntimeError, OSError):  # no loop yet (a run built by hand), or no processes here
                self._warm = None

    async def library(self) -> "LibraryIndex":
        async with self._library_lock:
            if self._warm is not None:
                try:
                    await self._warm
                except (RuntimeError, OSError) as exc:  # a broken pool: score_in_pool starts another or uses a thread
                    log.warning("scoring workers did not start: %s", exc)
                self._warm = None
            if self._library is None:
                from engine.quality.neardup import LibraryEntry, LibraryIndex  # noqa: PLC0415

                rows = await asyncio.to_thread(library_entries, self.run.engine.store)
                self._library = LibraryIndex([LibraryEntry(*row) for row in rows])
        return self._library

    def _brief(self, asset) -> str:
        must = f" Must include: {'; '.join(asset.must_include)}." if asset.must_include else ""
        return f"{asset.type_label} \"{asset.title}\": {asset.description}{must}"

    async def assess(self, item: "ItemState", image: bytes, *, path: str, thresholds: Thresholds) -> Assessment:
        library = await self.library()
        card = await score_in_pool(image, item.asset, self.body, path=path, library=library,
                                   duplicate_max_distance=thresholds.duplicate_max_distance)
        assessment = Assessment(card=card)
        if self.judges:
            messages = judge_messages(brief=self._brief(item.asset), palette=self.palette,
                                      intended_text=_intended_text(item.asset, thresholds), image_png=image)
            assessment.judges = await judge_image(self.run, item, models=self.judges, messages=messages,
                                                  judge_min=thresholds.judge_min)
            assessment.judges_passed, assessment.spread = vote(assessment.judges)
        return assessment

    def _room_for_another(self, item: "ItemState") -> bool:
        budget = self.run.budget
        if budget.limit_usd is None:
            return True
        need = self.run.estimate_image(item.asset)
        return budget.limit_usd - budget.spent_usd - budget.reserved_usd >= need

    async def save_and_gate(self, item: "ItemState", image: bytes, image_cost: float, call_id: str | None = None) -> str:
        """Save the image (and any regenerations); returns the item's closing note ('' when all is well)."""
        run = self.run
        if not self.enabled:
            await run.saver.save(item, image, image_cost, call_id)
            return ""
        asset = item.asset
        thresholds = thresholds_for(self.body, asset.type)
        prompt, attempt = item.prompt, 1
        while True:
            path = attempt_path(run.engine.settings.assets_dir, run.session_id, asset.id, attempt)
            assessment = await self.assess(item, image, path=str(path), thresholds=thresholds)
            await run.saver.save(item, image, image_cost, call_id, attempt=attempt, prompt=prompt,
                            quality=assessment.provenance())
            self._scored(item, assessment, attempt)
            if assessment.passed:
                return "" if attempt == 1 else f"passed the quality gate on attempt {attempt}"
            left = self.max_attempts - attempt
            regenerate = left > 0 and item.item_id not in run.closing_items and self._room_for_another(item)
            reasons = assessment.reasons()
            run.bus.emit(ev.QualityGateFailed(session_id=run.session_id, item_id=item.item_id, attempt=attempt,
                                              failing=assessment.failing, reasons=reasons,
                                              action="regenerate" if regenerate else "review", attempts_left=left))
            if not regenerate:
                why = "" if left <= 0 else " (no budget left for another attempt)"
                return f"quality gate failed on attempt {attempt} ({', '.join(assessment.failing)}): review{why}"
            attempt += 1
            feedback = feedback_for(assessment, attempt=attempt, palette=self.palette,
                                    text=_intended_text(asset, thresholds), aspect=asset.aspect_ratio)
            prompt = f"{item.prompt}\n\n{feedback}"
            run.bus.emit(ev.RegenerationStarted(session_id=run.session_id, item_id=item.item_id, attempt=attempt,
                                                max_attempts=self.max_attempts, feedback=feedback, prompt=prompt))
            async with run.limiter:
                image, image_cost, call_id = await buy_image(run, item, prompt=prompt)

    def _scored(self, item: "ItemState", assessment: Assessment, attempt: int) -> None:
        run = self.run
        card = assessment.card
        run.bus.emit(ev.QualityScored(
            session_id=run.session_id, item_id=item.item_id, attempt=attempt, image_path=item.image_path or "",
            asset_id=item.asset.id, asset_type=item.asset.type, verdict="passed" if assessment.passed else "failed",
            failing=assessment.failing, checks=[c.to_dict() for c in card.checks], judges=assessment.judges,
            phash=card.phash, template_version=item.template_version, elapsed_ms=card.elapsed_ms,
            simulated=run.simulated))
        if self._library is not None and item.image_path:
            from engine.quality.neardup import LibraryEntry  # noqa: PLC0415

            self._library.add(LibraryEntry(item.asset.id, item.item_id, item.image_path, card.phash))
