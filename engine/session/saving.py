"""Saving a paid image for good: its provenance, A1111 text, XMP and Content Credentials, written
off the loop and retried while the disk refuses it; and, on resume, adopting an image that a crash
left saved but unrecorded (its bill counted from the file's own provenance).

Between the bill and the final file lie scoring and signing (up to seconds on a busy machine). So the
image is first kept as it arrived, with a small provenance, in the session's ``.paid/`` folder (one
write, a few ms); a crash after that loses nothing: the resumed item takes the kept image on to its
save instead of buying it again. The kept copy is deleted once the final file is written."""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from engine import events as ev
from engine.credentials.sign import png_has_manifest
from engine.credentials.studio import SIGNED, SIGNING_OFF
from engine.live.storage import is_storage_error
from engine.session.budget import Reservation
from engine.session.quality import attempt_path
from engine.session.save import asset_path, parameters_text, png_size, read_provenance, save_png

PAID_FOLDER = ".paid"  # in the session's image folder: images paid for and not yet saved for good

if TYPE_CHECKING:
    from engine.session.run import ItemState, SessionRun

__all__ = ["ImageSaver", "PAID_FOLDER"]

log = logging.getLogger(__name__)

# The saver's own threads: signing (engine/credentials) and the write's fsync run here, so they never queue the
# ticker's flushes (or a stand-in's renders) behind them on the loop's default executor.
_SAVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="saver")


class ImageSaver:
    """One per session run: every image of the run is saved (or adopted) through it."""

    def __init__(self, run: SessionRun):
        self.run = run

    def _kept_path(self, item: ItemState) -> Path:
        run = self.run
        final = asset_path(run.engine.settings.assets_dir, run.session_id, item.asset.id)
        return final.parent / PAID_FOLDER / final.name

    async def keep_paid(self, item: ItemState, image: bytes, image_cost: float, call_id: str | None) -> None:
        """Keep the image as it arrived (durably) until it is saved for good; a full disk only loses this copy."""
        run = self.run
        provenance = {"item_id": item.item_id, "prompt": item.prompt, "image_model": run.spec.image_model,
                      "costs": {"image_usd": image_cost, "image_call_id": call_id}}
        write = functools.partial(save_png, self._kept_path(item), image, parameters="", provenance=provenance)
        try:
            await asyncio.get_running_loop().run_in_executor(_SAVER, write)
        except OSError as exc:  # the final save reports storage faults and retries; this copy is a bonus
            log.warning("could not keep the paid image of %s before saving it: %s", item.item_id, exc)

    def kept_paid(self, item: ItemState) -> tuple[bytes, float, str | None] | None:
        """On resume: the image a crash left paid for and unsaved (image, its cost, its call id), or None."""
        path = self._kept_path(item)
        provenance = self._left_by_a_crash(item, path)
        if provenance is None:
            return None
        image = path.read_bytes()  # the final save replaces this copy's text chunks with its own
        costs = provenance.get("costs") or {}
        return image, float(costs.get("image_usd") or 0.0), costs.get("image_call_id")

    def _left_by_a_crash(self, item: ItemState, path: Path) -> dict | None:
        """On resume, the provenance of an image at ``path`` that a crash left for this item, or None.

        Adopting it takes its prompt and counts its image cost if that bill never reached the log. An image
        drawn from another prompt (edited since) is not this item's any more."""
        if not self.run.resumed or not path.exists():
            return None
        provenance = read_provenance(path)
        if not provenance or provenance.get("item_id") != item.item_id:
            return None
        if item.prompt is not None and provenance.get("prompt") != item.prompt:
            return None
        item.prompt = provenance.get("prompt")
        self._adopt_image_cost(item, provenance)
        return provenance

    def _write_then_forget_kept(self, item: ItemState, path, image: bytes, **metadata):
        """In the saver's thread. The kept paid copy goes once the saved file carries the image: its unlink
        waits on the filesystem journal behind the event journal's synchronous writes (6.6 % of the
        loop's time in bench/pipeline.py, py-spy), so not on the loop."""
        saved = save_png(path, image, **metadata)
        try:
            self._kept_path(item).unlink(missing_ok=True)
        except OSError as exc:  # harmless: a resume finds the saved file first and never reads the copy
            log.warning("could not delete the kept copy of %s: %s", item.item_id, exc)
        return saved

    def provenance(self, item: ItemState, image_cost: float, call_id: str | None = None) -> dict:
        run = self.run
        return {
            "session_id": run.session_id, "item_id": item.item_id, "asset_id": item.asset.id,
            "asset_type": item.asset.type, "tier": item.asset.tier, "title": item.asset.title,
            "prompt": item.prompt, "winner_model": item.model, "image_model": run.spec.image_model,
            "seed": run.image_seed(item), "template_version": item.template_version,
            "candidates": [{"model": p.model, "prompt": p.prompt, "confidence": p.confidence, "score": p.score,
                            "coverage": round(p.coverage, 4), "cost_usd": p.cost_usd} for p in item.proposals],
            # the item's every call, across resumes; the image call is named so a resume can adopt its cost
            "costs": {"prompt_usd": round(item.cost_usd - image_cost, 8), "image_usd": image_cost,
                      "total_usd": round(item.cost_usd, 8), "image_call_id": call_id},
            "decisions": item.decisions, "provider": run.spec.provider, "simulated": run.simulated,
            "catalog": run.catalog_path,
        }

    async def save(self, item: ItemState, image: bytes, image_cost: float, call_id: str | None = None, *,
                    attempt: int = 1, prompt: str | None = None, quality: dict | None = None) -> None:
        run = self.run
        path = attempt_path(run.engine.settings.assets_dir, run.session_id, item.asset.id, attempt)
        width, height = png_size(image)
        provenance = self.provenance(item, image_cost, call_id)
        if quality is not None:  # the scorecard travels with the file (docs/quality.md), and in its credentials
            provenance.update(prompt=prompt or item.prompt, attempt=attempt, quality=quality)
        parameters = parameters_text(prompt or item.prompt, model=run.spec.image_model, seed=run.image_seed(item),
                                     width=width, height=height, cost_usd=item.cost_usd)
        credentials = getattr(run.engine, "credentials", None)
        seal = credentials.seal(provenance, title=path.name) if credentials else None
        write = functools.partial(self._write_then_forget_kept, item, path, image, parameters=parameters,
                                  provenance=provenance, xmp=credentials.xmp(provenance) if credentials else None,
                                  seal=seal)
        storage = run.bus.storage
        while True:
            try:
                # off the loop: signing (~10-70 ms) and the write's fsync (~10 ms) would stall every other item
                saved = await asyncio.get_running_loop().run_in_executor(_SAVER, write)
                break
            except OSError as exc:
                if not is_storage_error(exc):
                    raise
                # The image is paid for and in memory: keep it, pause new paid work, try again each tick.
                storage.failed("images", path, exc)
                await asyncio.sleep(run.engine.settings.tick_seconds)
        storage.recovered("images")
        item.image_path = str(saved.path)
        run.bus.emit(ev.ImageSaved(session_id=run.session_id, item_id=item.item_id, path=str(saved.path),
                                    width=saved.width, height=saved.height, bytes=saved.bytes,
                                    model=run.spec.image_model, seed=run.image_seed(item), sha256=saved.sha256,
                                    credentials=seal.status if seal else SIGNING_OFF))

    def adopt_existing(self, item: ItemState) -> bool:
        """On resume, an image on disk whose provenance matches this item was saved before a crash."""
        run = self.run
        path = asset_path(run.engine.settings.assets_dir, run.session_id, item.asset.id)
        provenance = self._left_by_a_crash(item, path)
        if provenance is None:
            return False
        item.image_path = str(path)
        data = path.read_bytes()
        width, height = png_size(data)
        run.bus.emit(ev.ImageSaved(session_id=run.session_id, item_id=item.item_id, path=str(path),
                                    width=width, height=height, bytes=len(data),
                                    model=provenance.get("image_model") or "", seed=int(provenance.get("seed") or 0),
                                    sha256=hashlib.sha256(data).hexdigest(),
                                    credentials=SIGNED if png_has_manifest(data) else SIGNING_OFF))
        return True

    def _adopt_image_cost(self, item: ItemState, provenance: dict) -> None:
        """The file records what its image cost; if the call's bill never reached the log, it counts now."""
        run = self.run
        costs = provenance.get("costs") or {}
        call_id, cost = costs.get("image_call_id"), float(costs.get("image_usd") or 0.0)
        if not call_id or not cost:
            return
        if run.recorded_call_costs.get(call_id, 0.0) > 0:
            return  # already counted
        run.settle(Reservation(0, 0.0, run.spec.image_model), cost, model=run.spec.image_model,
                    item_id=item.item_id, call_id=call_id, purpose="image")
        run.bus.emit(ev.ApiCostSettled(session_id=run.session_id, item_id=item.item_id, call_id=call_id,
                                        model=run.spec.image_model, cost_usd=cost, estimated=False,
                                        source="provenance"))
