"""One item's steps: Discovery → Prompt → Model → [approval] → Image → Save, as one task per item.

The session (``run.py``) begins an item when the limiter gives it a slot; the item keeps the slot
from its prompt to its image, lets go while the approval gate holds it (and takes one again ahead of
items not begun), and ends exactly once through ``SessionRun.finish``. Once its image is paid for,
the image is kept and saved whatever comes next: a skip, an abort or a stopping engine waits for the
save instead of throwing away what a resume would buy again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from engine import events as ev
from engine.providers.openrouter import ModerationError
from engine.session.calls import CallFailed, SessionStopped, paid_call
from engine.session.competition import compete
from engine.session.limiter import Slot
from engine.session.spec import SLOW_STAGE_PAUSE_S
from engine.templates.brief import build_brief

if TYPE_CHECKING:
    from engine.session.gate import BatchGate
    from engine.session.run import ItemState, SessionRun

__all__ = ["run_item", "buy_image", "breathe"]

log = logging.getLogger(__name__)


async def breathe(run: "SessionRun") -> None:
    """At slow speed, pause between stages so a person can follow."""
    if run.speed == "slow":
        await asyncio.sleep(SLOW_STAGE_PAUSE_S)


async def run_item(run: "SessionRun", item: "ItemState") -> None:
    """Runs one item; it starts holding the slot the feeder took for it."""
    gate = run.gate_of(item)
    run.flying[item.item_id] = item
    try:
        outcome, reason = await _stages(run, item)
    except asyncio.CancelledError:
        why = run.stop_reason.pop(item.item_id, None)
        if why is None:  # the engine is shutting down: the item stays open for --resume
            if gate:
                gate.item_left(item.item_id)
            run.flying.pop(item.item_id, None)
            run.tasks.pop(item.item_id, None)
            raise
        outcome, reason = why, run.stopped_because(why)
    except SessionStopped as exc:
        if not run.fatal:
            run.fatal = str(exc)
            run.set_status("failed", str(exc))
            run.abort_all("failed")
        outcome, reason = "failed", str(exc)
    except (CallFailed, ModerationError) as exc:
        outcome, reason = "failed", str(exc)
    except Exception as exc:  # a bug must cost one item, not the session
        log.exception("item %s failed", item.item_id)
        outcome, reason = "failed", f"internal error: {exc!r}"
    if gate:
        gate.item_left(item.item_id)
    run.finish(item, outcome, reason)


async def _stages(run: "SessionRun", item: "ItemState") -> tuple[str, str]:
    """The item's steps, holding the slot the feeder took for it except while the gate holds the item."""
    slot = Slot(run.limiter, held=True)
    try:
        return await _stages_in(run, item, slot)
    finally:
        slot.release()


async def _stages_in(run: "SessionRun", item: "ItemState", slot: Slot) -> tuple[str, str]:
    sid, iid, asset = run.session_id, item.item_id, item.asset
    item.status = "in_progress"
    item.started_at = time.monotonic()
    run.bus.emit(ev.ItemStarted(session_id=sid, item_id=iid, asset_id=asset.id, asset_type=asset.type,
                                 tier=asset.tier, title=asset.title))
    run.stage(item, "discovery")
    if run.saver.adopt_existing(item):
        return "saved", "adopted the image already on disk"
    kept = run.saver.kept_paid(item)
    if kept is not None:  # paid for before a crash and not yet saved: save it, do not buy it again
        return await _keep_paid_image(run, item, slot, run.gate_of(item), *kept, already_kept=True)
    if item.prompt is None:
        await breathe(run)
        run.stage(item, "prompt")
        brief = build_brief(asset, run.template, emit=run.bus.emit, session_id=sid, item_id=iid)
        item.template_version = brief.template_version
        await breathe(run)
        run.stage(item, "model")
        verdict = await compete(run, item, brief, recorded=item.proposals)
        if verdict is None:
            return "failed", "no competitor produced a usable prompt"
        item.prompt, item.model = verdict.winner.prompt, verdict.winner.model
        item.proposals = verdict.proposals
    gate = run.gate_of(item)
    if gate is not None:
        run.stage(item, "approval")
        if not gate.has_ticket(iid):
            slot.release()  # waiting for a person must not keep the next items' prompts from starting
        ticket = await gate.wait(item)
        if not ticket.approved:
            return "rejected", ticket.reason
        item.prompt = ticket.prompt
        if ticket.decision:
            item.decisions.append(ticket.decision)
        await slot.take(first=True)  # ahead of items not begun: begun work finishes first
    await breathe(run)
    run.stage(item, "image")
    image, cost, call_id = await buy_image(run, item, wait_for_bill=False)
    bill_seq = run.bus.assigned_seq
    # The image is paid for: it is saved whatever comes now. A skip, an abort or a stopping engine waits
    # for the save (tens of ms; scoring, seconds at worst) instead of throwing the image away, which a
    # resume would then buy again.
    keeping = asyncio.ensure_future(_keep_paid_image(run, item, slot, gate, image, cost, call_id, bill_seq=bill_seq))
    try:
        return await asyncio.shield(keeping)
    except asyncio.CancelledError:
        if keeping.done():
            raise
        run.closing_items.add(iid)  # no regeneration for it: only what is paid gets saved
        try:
            result = await keeping
        finally:
            run.closing_items.discard(iid)
        asyncio.current_task().uncancel()
        run.stop_reason.pop(iid, None)
        return result


async def _keep_paid_image(run: "SessionRun", item: "ItemState", slot: Slot, gate: "BatchGate | None", image: bytes,
                           cost: float, call_id: str | None, *, already_kept: bool = False,
                           bill_seq: int = 0) -> tuple[str, str]:
    if not already_kept:  # a resumed item's kept copy is on disk already: no second write and fsync
        # The bill must be on disk before the image leaves the journal, and the kept copy records that bill
        # in its provenance (a resume adopts it): whichever of the two a crash leaves accounts for the
        # money, so the copy's write and fsync overlap the journal's instead of following it.
        await asyncio.gather(run.bus.durable(bill_seq), run.saver.keep_paid(item, image, cost, call_id))
    await breathe(run)
    run.stage(item, "save")
    if not run.quality.enabled:
        await run.saver.save(item, image, cost, call_id)
        note = ""
    else:
        slot.release()  # scoring holds no slot: the next item's calls start meanwhile (a regeneration takes one)
        note = await run.quality.save_and_gate(item, image, cost, call_id)
    if gate is not None:
        gate.item_done(item.item_id)
    return "saved", note


async def buy_image(run: "SessionRun", item: "ItemState", *, prompt: str | None = None,
                    wait_for_bill: bool = True) -> tuple[bytes, float, str]:
    """One paid image call for the item (its winning or edited prompt, or ``prompt``): the image, its cost, the call id.

    ``wait_for_bill=False``: the caller waits for the bill to be durable itself (``_keep_paid_image``)."""
    asset = item.asset
    call_id, result = await paid_call(
        run, item_id=item.item_id, purpose="image", model=run.spec.image_model,
        estimate_usd=run.estimate_image(asset),
        request={"messages": [{"role": "user", "content": prompt or item.prompt}], "modalities": ["image", "text"],
                 "image_config": {"aspect_ratio": asset.aspect_ratio,
                                  "image_size": getattr(asset, "image_size", None) or "1K"},
                 "seed": run.image_seed(item)},
        answer_leaves_journal=wait_for_bill,
    )
    if not result.images:
        raise CallFailed(f"{run.spec.image_model} returned no image")
    return result.images[0], float(result.cost_usd or 0.0), call_id
