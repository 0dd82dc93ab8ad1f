"""A generation session: its open items, the feeder that begins them, controls, budget and outcome.

Each item's steps (Discovery → Prompt → Model → [approval] → Image → Save) are in
``steps.py``. Items run as asyncio tasks with bounded concurrency (by speed); every step is an
event. Pause stops new paid calls (calls in flight finish), skip cancels one
item, abort cancels them all; each item ends exactly once with
``item_finished``.

Cost per item stays constant at any session size: a task is made only when a
slot is free (items not begun are a queue, not tasks), an item keeps its slot
from prompt to image unless the approval gate holds it (and then comes back
ahead of new items), and a finished item leaves memory: the counts, progress
and ETA are kept as running totals, and only the last few finished items are
remembered (``recent``) for controls and tests.
"""
from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import Counter, OrderedDict, deque
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.session.gate import BatchGate, plan_batches
from engine.session.forecast import forecast_first
from engine.session.budget import Budget, Reservation
from engine.session.competition import Proposal
from engine.session.limiter import Limiter
from engine.providers.pricing import estimate_tokens
from engine.config import safe_name
from engine.session.save import remove_partial_files
from engine.session.spec import RunSpec, concurrency_for
from engine.live.progress import estimate_eta_s
from engine.vocabulary import session_outcome
from engine.session.quality import QualityStep
from engine.session.saving import PAID_FOLDER, ImageSaver
from engine.session.steps import run_item
from engine.vocabulary import PAUSE_STORAGE

if TYPE_CHECKING:
    from engine.session.host import SessionHost

__all__ = ["SessionRun", "ItemState"]

log = logging.getLogger(__name__)
_IMAGE_TOKENS_1K = 1290
_RECENT_FINISHED = 64  # finished items remembered (skip's "already finished", tests); older ones are only in the log
# Pages of items listed (items_planned) ahead of the feeder: more than any concurrency begins at once, so an item's
# pending row is written before it begins (see _announce).
ANNOUNCE_AHEAD_PAGES = 2


@dataclass(slots=True)
class ItemState:
    item_id: str
    asset: Any
    status: str = "pending"
    stage: str | None = None
    started_at: float | None = None
    prompt: str | None = None  # winning (or edited) prompt
    model: str | None = None  # winning model
    proposals: list[Proposal] = field(default_factory=list)
    template_version: int | None = None
    cost_usd: float = 0.0
    batch_id: str | None = None
    decisions: list[dict] = field(default_factory=list)
    image_path: str | None = None
    finished: bool = False


def _listing(item: ItemState) -> dict:
    asset = item.asset
    return {"asset_id": asset.id, "asset_type": asset.type, "tier": asset.tier, "title": asset.title}


def _listings(items: list[ItemState]) -> list[dict]:
    return [{"item_id": i.item_id, **_listing(i)} for i in items]


class SessionRun:
    def __init__(self, engine: SessionHost, *, session_id: str, spec: RunSpec, assets: list, client, price_book,
                 template, catalog_path: str, resumed: dict | None = None):
        self.engine = engine
        self.bus = engine.bus
        self.session_id = session_id
        self.spec = spec
        self.client = client
        self.price_book = price_book
        self.template = template
        self.catalog_path = catalog_path
        self.simulated = spec.provider == "standin"
        resumed = resumed or {}
        self.budget = Budget(spec.budget_usd, spent_usd=resumed.get("spent_usd", 0.0),
                             by_model=resumed.get("by_model"))
        self.speed = spec.speed
        self.limiter = Limiter(concurrency_for(spec.speed, spec.concurrency))
        # Open items only (not begun, or in flight); a finished item moves to ``recent`` and then out of memory.
        self.items: dict[str, ItemState] = {}
        self.recent: OrderedDict[str, ItemState] = OrderedDict()
        self.total = len(assets)
        self.outcomes: Counter[str] = Counter()  # finished items by outcome (resumed ones included)
        self.flying: dict[str, ItemState] = {}  # begun and not finished, in the order they began
        saved_items = resumed.get("items") or {}
        for asset in assets:
            item_id = f"{session_id}:{asset.id}"
            saved = saved_items.get(item_id)
            if saved and saved.get("finished"):
                self.outcomes[saved.get("status") or "saved"] += 1
                continue
            item = self.items[item_id] = ItemState(item_id=item_id, asset=asset)
            for key, value in (saved or {}).items():
                setattr(item, key, value)
        self._queue: OrderedDict[str, ItemState] = OrderedDict()  # open items not begun, in order
        self._unannounced: deque[ItemState] = deque()  # queued items not yet listed by items_planned, in order
        self._announced_upto = 0  # items of the queue's order listed so far (generation_start's page included)
        self._fed = 0  # items the feeder has begun
        self.resumed = bool(resumed)
        self.recorded_call_costs: dict[str, float] = resumed.get("call_costs") or {}
        self.pending_batches: dict[str, dict] = resumed.get("pending_batches") or {}
        self.gates: dict[str, BatchGate] = {}
        self.forecast: BatchGate | None = None  # the session-level request, when the forecast asked (forecast.py)
        self.tasks: dict[str, asyncio.Task] = {}
        self.stop_reason: dict[str, str] = {}
        self.closing_items: set[str] = set()  # paid images being saved while their item was asked to stop
        self.status = "running"
        self.pause_reason: str | None = None
        self._running = asyncio.Event()
        self._running.set()
        self.fatal: str | None = None
        self.aborted = False
        self.outcome: str | None = None  # one of events.SESSION_TERMINAL once run() returns
        self.started = time.monotonic()
        self._finished_here = 0  # items this run finished (resumed ones excluded): the ETA's pace
        self._last_finished_at: float | None = None
        self.quality = QualityStep(self)
        self.saver = ImageSaver(self)

    # -- state the controls act on ----------------------------------------------------------
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def set_status(self, status: str, reason: str) -> None:
        if status == self.status:
            return
        previous, self.status = self.status, status
        self.bus.emit(ev.SessionStatus(session_id=self.session_id, status=status, previous=previous, reason=reason))

    def _storage_changed(self, fault) -> None:
        """On the loop: a storage fault pauses new paid work; when every write works again it goes on."""
        if fault is not None and not self.paused:
            self.hold(PAUSE_STORAGE, source="engine", result=fault.message)
        elif fault is None and self.paused and self.pause_reason == PAUSE_STORAGE:
            self.release(source="engine", reason=PAUSE_STORAGE, result="storage takes writes again")

    def _watch_storage(self):
        loop = asyncio.get_running_loop()

        def changed(fault) -> None:  # any thread (the journal's writer reports from its own)
            try:
                loop.call_soon_threadsafe(self._storage_changed, fault)
            except RuntimeError:
                pass
        self.bus.storage.watch(changed)
        if self.bus.storage.fault is not None:
            self._storage_changed(self.bus.storage.fault)
        return changed

    async def pause(self, reason: str, message: str = "") -> None:
        """Pause on the engine's own account (budget, credits, approval) and wait for resume."""
        if not self.paused:
            self.hold(reason, source="engine", result=message or f"paused: {reason}")
        await self._running.wait()

    def hold(self, reason: str, *, source: str, control_id=None, requested_by=None, result="") -> None:
        self._running.clear()
        self.pause_reason = reason
        self.bus.emit(ev.ControlFlagChange(session_id=self.session_id, command="pause", previous="running",
                                           new="paused", reason=reason, control_id=control_id, source=source,
                                           requested_by=requested_by, result=result))
        self.set_status("paused", reason)

    def release(self, *, source: str, reason: str = "resume", control_id=None, requested_by=None, result="") -> None:
        self._running.set()
        self.pause_reason = None
        self.bus.emit(ev.ControlFlagChange(session_id=self.session_id, command="resume", previous="paused",
                                           new="running", reason=reason, control_id=control_id, source=source,
                                           requested_by=requested_by, result=result))
        self.set_status("awaiting_approval" if self.awaiting_decision() else "running", reason)

    def awaiting_decision(self) -> bool:
        return any(g.requested and not g.decided for g in self.gates.values())

    def abort(self) -> int:
        """Stop the session: cancel every open item (paused work wakes to see it); returns how many."""
        self.aborted = True
        self._running.set()
        count = self.abort_all("aborted")
        self.set_status("aborting", "operator")
        return count

    def knows(self, item_id: str) -> bool:
        """An open item of this run, or one of the last few it finished."""
        return item_id in self.items or item_id in self.recent

    def item(self, item_id: str) -> ItemState | None:
        return self.items.get(item_id) or self.recent.get(item_id)

    def cancel_item(self, item_id: str, reason: str) -> bool:
        task = self.tasks.get(item_id)
        if task is not None:
            if task.done():
                return False
            self.stop_reason[item_id] = reason
            task.cancel()
            return True
        return self.end_unbegun(item_id, reason, self.stopped_because(reason))

    def end_unbegun(self, item_id: str, outcome: str, reason: str) -> bool:
        """End an item that has not begun (skipped, aborted, rejected by the forecast): no task to cancel."""
        item = self._queue.pop(item_id, None)
        if item is None:
            return False
        for gate in (self.gate_of(item), self.forecast):
            if gate:
                gate.item_left(item_id)
        self.finish(item, outcome, reason)
        return True

    def stopped_because(self, why: str) -> str:
        # a fatal error (e.g. a refused key) cancels the other items: they fail for that reason, not by operator
        return self.fatal if why == "failed" and self.fatal else f"{why} by operator"

    def oldest_in_flight(self) -> str | None:
        for item in self.flying.values():  # insertion order: the first is the oldest
            if item.status == "in_progress":
                return item.item_id
        return None

    # -- money ------------------------------------------------------------------------------
    async def reserve(self, amount: float, model: str) -> Reservation:
        while True:
            await self._running.wait()
            fault = self.bus.storage.fault
            if fault is not None:  # the journal or the image folder refuses writes: spend nothing
                await self.pause(PAUSE_STORAGE, fault.message)
                continue
            reservation = self.budget.try_reserve(amount, model)
            if reservation is not None:
                return reservation
            await self.pause("budget", f"budget ${self.budget.limit_usd:.2f} reached: spent "
                                       f"${self.budget.spent_usd:.4f}, next call needs ~${amount:.4f}")

    def settle(self, reservation: Reservation, cost: float, *, model: str, item_id: str, call_id: str,
               purpose: str) -> None:
        self.budget.settle(reservation, cost)
        item = self.items.get(item_id)
        if item is not None:
            item.cost_usd += cost
        if cost:
            self.bus.emit(ev.OpenrouterCost(session_id=self.session_id, item_id=item_id, call_id=call_id, model=model,
                                            purpose=purpose, cost_usd=cost,
                                            model_total_usd=round(self.budget.by_model[model], 8),
                                            session_total_usd=round(self.budget.spent_usd, 8)))
        self.bus.emit(ev.CostUpdate(session_id=self.session_id, total_usd=round(self.budget.spent_usd, 8),
                                    delta_usd=cost, by_model={k: round(v, 8) for k, v in self.budget.by_model.items()},
                                    budget_usd=self.budget.limit_usd, reserved_usd=round(self.budget.reserved_usd, 8),
                                    simulated=self.simulated))

    def estimate_text(self, model: str, messages: list[dict], max_completion_tokens: int) -> float:
        prompt_tokens = sum(estimate_tokens(m.get("content") or "") for m in messages) + 16
        return self.price_book.estimate_text(model, prompt_tokens, max_completion_tokens) or 0.0

    def estimate_image(self, asset) -> float:
        return self.price_book.estimate_image(self.spec.image_model, getattr(asset, "image_size", None) or "1K") or 0.0

    # -- the run ----------------------------------------------------------------------------
    async def run(self) -> str:
        sid = self.session_id
        if self.resumed:  # a write cut by a crash left its temporary file; no writer of this session is alive now
            folder = Path(self.engine.settings.assets_dir) / safe_name(sid)
            remove_partial_files(folder)
            remove_partial_files(folder / PAID_FOLDER)
        todo = list(self.items.values())
        self._announce(todo)
        for batch_id, item_ids, gated in plan_batches(self, todo):
            self.gates[batch_id] = BatchGate(self, batch_id, item_ids, gated=gated,
                                             existing=self.pending_batches.get(batch_id))
        self._queue = OrderedDict((item.item_id, item) for item in todo)
        del todo
        self.engine.register_run(self)
        storage_watch = self._watch_storage()
        try:
            self._progress()
            await forecast_first(self)  # over the cost threshold, the whole session's forecast is decided first
            await self._feed()
        except asyncio.CancelledError:
            # The engine is stopping (Ctrl-C, SIGTERM): say so now rather than leave the session
            # looking "running" until some engine starts again. Items not begun stay open for --resume.
            for task in list(self.tasks.values()):
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            self.set_status("interrupted", f"the engine stopped; continue with `assetgen run --resume {sid}`")
            raise
        finally:
            self.bus.storage.unwatch(storage_watch)
            for gate in self.gates.values():
                gate.close()
            self.engine.unregister_run(self)
        counts = self.counts()
        # finished items have left self.items (constant memory): the running tally of outcomes decides
        ended = [status for status, n in self.outcomes.items() for _ in range(n)]
        ended += [i.status for i in self.flying.values()]
        outcome = self.outcome = session_outcome(ended, fatal=bool(self.fatal), aborted=self.aborted)
        for gate in self.gates.values():
            if gate.requested and not gate.decided:  # its items all ended: nothing waits any more
                self.bus.emit(ev.ApprovalClosed(session_id=sid, batch_id=gate.batch_id,
                                                reason=f"session {outcome} before a decision"))
        self._progress()
        self.bus.emit(ev.GenerationComplete(session_id=sid, outcome=outcome, counts=counts,
                                            cost_usd=round(self.budget.spent_usd, 8),
                                            duration_s=round(time.monotonic() - self.started, 3),
                                            message=self.fatal or ""))
        return outcome

    def _announce(self, todo: list[ItemState]) -> None:
        """generation_start with the first page of items to make; ``_announce_ahead`` lists the rest
        (``items_planned``, ``ITEMS_PER_EVENT`` a page) a few pages ahead of the feeder rather than all at once:
        no single event grows with the session, and neither does what the first ticks hold (at 50,000 items,
        100 pages of listings at once were events, pending rows and one upsert of every item)."""
        page = ev.ITEMS_PER_EVENT
        self.bus.emit(ev.GenerationStart(
            session_id=self.session_id, total=self.total, provider=self.spec.provider, speed=self.speed,
            concurrency=self.limiter.limit, budget_usd=self.spec.budget_usd, catalog=self.catalog_path,
            simulated=self.simulated, resumed=self.resumed, params=self.spec.to_dict(), items=_listings(todo[:page]),
        ))
        self._announced_upto = min(page, len(todo))
        self._unannounced = deque(todo[page:])
        self._announce_ahead()

    def _announce_ahead(self) -> None:
        """List the queue's items in pages until ``ANNOUNCE_AHEAD_PAGES`` pages past the feeder are listed. An item
        that ended (skipped, aborted, rejected) or began before its page is left out: its own events carry its listing."""
        page = ev.ITEMS_PER_EVENT
        while self._unannounced and self._announced_upto < self._fed + ANNOUNCE_AHEAD_PAGES * page:
            chunk = []
            while self._unannounced and len(chunk) < page:
                item = self._unannounced.popleft()
                self._announced_upto += 1
                if not item.finished and item.started_at is None:
                    chunk.append(item)
            if chunk:
                self.bus.emit(ev.ItemsPlanned(session_id=self.session_id, items=_listings(chunk)))

    async def _feed(self) -> None:
        """Begin items as slots free up; then wait until every begun item has ended."""
        while self._queue:
            await self.limiter.acquire()
            if not self._queue:  # the rest were skipped or aborted while we waited
                self.limiter.release()
                break
            await self.engine.wait_for_backlog()
            item_id, item = self._queue.popitem(last=False)
            self._fed += 1
            self._announce_ahead()
            self.tasks[item_id] = asyncio.create_task(run_item(self, item), name=item_id)
        while self.tasks:
            await asyncio.wait(list(self.tasks.values()))

    def counts(self) -> dict[str, int]:
        out = dict(self.outcomes)
        in_flight = sum(1 for i in self.flying.values() if i.status == "in_progress")
        pending = self.total - sum(out.values()) - in_flight
        if in_flight:
            out["in_progress"] = in_flight
        if pending:
            out["pending"] = pending
        return out

    def _progress(self) -> None:
        counts = self.counts()
        total = self.total
        done = total - counts.get("pending", 0) - counts.get("in_progress", 0)
        elapsed = time.monotonic() - self.started
        eta = 0.0 if done == total else None
        if self._finished_here and done < total:  # the pace of the items this run finished, not resumed ones
            eta = round(estimate_eta_s(self._finished_here, self._finished_here + total - done,
                                       max(self._last_finished_at - self.started, 1e-6)), 1)
        self.bus.emit(ev.ProgressUpdate(session_id=self.session_id, done=done, total=total,
                                        in_flight=counts.get("in_progress", 0), eta_s=eta,
                                        elapsed_s=round(elapsed, 2), counts=counts))

    def stage(self, item: ItemState, stage: str) -> None:
        previous, item.stage = item.stage, stage
        self.bus.emit(ev.PipelineStageUpdate(session_id=self.session_id, item_id=item.item_id, stage=stage,
                                             previous=previous))

    def gate_of(self, item: ItemState) -> BatchGate | None:
        return self.gates.get(item.batch_id) if item.batch_id else None

    def abort_all(self, reason: str) -> int:
        why = "aborted" if reason == "aborted" else "failed"
        count = 0
        for item_id in [*self.tasks, *self._queue]:
            if self.cancel_item(item_id, why):
                count += 1
        return count

    def finish(self, item: ItemState, outcome: str, reason: str) -> None:
        """The item's one ending: it leaves memory and ``item_finished`` says how it ended."""
        if item.finished:
            return
        item.finished = True
        item.status = outcome
        iid = item.item_id
        self.items.pop(iid, None)
        self.flying.pop(iid, None)
        self.tasks.pop(iid, None)
        self.stop_reason.pop(iid, None)
        self.outcomes[outcome] += 1
        self._finished_here += 1
        self._last_finished_at = time.monotonic()
        self.recent[iid] = item
        if len(self.recent) > _RECENT_FINISHED:
            self.recent.popitem(last=False)
        planned = None if item.started_at is not None else _listing(item)
        self.bus.emit(ev.ItemFinished(session_id=self.session_id, item_id=iid, outcome=outcome, reason=reason,
                                      cost_usd=round(item.cost_usd, 8), image_path=item.image_path, planned=planned))
        self._progress()

    def image_seed(self, item: ItemState) -> int:
        """The image request's seed: the same asset draws the same image in a rerun of the same spec."""
        return zlib.crc32(f"{self.spec.seed}:{item.asset.id}".encode()) & 0x7FFFFFFF
