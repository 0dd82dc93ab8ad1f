"""The forecast gate: before the first paid call, the whole session's cost asks a person first.

A gated batch is asked about once its prompts are written, and prompts cost money too: a
10,000-item session once spent $16.43 on prompts before any request appeared. So, before any
paid call, the session forecasts its open items (engine/session/estimate.py: prompts + images,
from the dated price snapshot). Over the cost threshold, a ``threshold_approval_request`` for the
whole session (batch ``<session>:forecast``) comes first, with the forecast broken down, the
budget and the threshold, and nothing starts until it is decided:

- approve (``approve_batch``, or ``approve_items`` for some items; edits are refused: there is no
  prompt yet) → the run goes on; a later batch whose image estimate fits in what this approval
  covered is asked as an ordinary ``approval_request`` (its prompts are still shown, the money is
  not asked about twice);
- reject → every item ends ``rejected`` and nothing is spent;
- timeout → held, as any threshold request: the session pauses until a decision.

Approving more than the budget has left needs the decision's ``budget_usd`` (engine/session/gate.py).
A resumed session asks again only when its forecast was never decided.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.session.estimate import Estimate, forecast_items
from engine.session.gate import BatchGate, Ticket, forecast_batch_id
from engine.vocabulary import APPROVAL_RELEASED

if TYPE_CHECKING:
    from engine.session.run import SessionRun

__all__ = ["ForecastGate", "forecast_first"]

log = logging.getLogger(__name__)


class ForecastGate(BatchGate):
    """The session-level request: every open item is a member; one decision settles them all."""

    def __init__(self, run: "SessionRun", forecast: Estimate, item_ids: list[str], *, existing: dict | None = None,
                 covered: bool = False):
        super().__init__(run, forecast_batch_id(run.session_id), item_ids, existing=existing)
        self.forecast = forecast
        self.settled = asyncio.get_running_loop().create_future()
        self.cover_usd = 0.0  # image money an approval covered, spent by later batches' requests
        if covered:  # decided in an earlier run of this session: nothing to ask, the money is approved
            self.decided = True
            self.cover_usd = forecast.image_usd

    # -- what the money covers ----------------------------------------------------------------
    def covers(self, estimate: float) -> bool:
        """Whether an approved forecast already covers a batch estimated at ``estimate`` (it is then used up)."""
        if estimate > self.cover_usd + 1e-9:
            return False
        self.cover_usd -= estimate
        return True

    def estimate_of(self, item_ids: list[str]) -> float:
        return round(sum(self.forecast.by_item.get(i, 0.0) for i in item_ids), 6)

    def estimate_detail(self, item_ids: list[str]) -> str:
        f = self.forecast
        if len(item_ids) == len(f.by_item):
            return (f" (the forecast of {len(item_ids)} items: prompts ${f.prompt_usd:.4f} + "
                    f"images ${f.image_usd:.4f})")
        return f" (the forecast of {len(item_ids)} of {len(f.by_item)} items)"

    # -- the request ----------------------------------------------------------------------------
    def ask(self) -> None:
        if not self.requested:
            self._emit_request()
        elif not self.run.paused:  # resumed while still waiting: same id and expiry
            self.run.set_status("awaiting_approval", "approval")
        if self._timer is None and self.expires_at is not None:
            self._timer = asyncio.get_running_loop().create_task(self._expire())

    def _maybe_request(self) -> None:
        """Asked once, up front (``ask``), not when items arrive."""

    def _emit_request(self) -> None:
        run, settings, f = self.run, self.run.spec.approval, self.forecast
        self.estimate = round(f.total_usd, 6)
        self.expires_at = datetime.now(timezone.utc) + timedelta(seconds=settings.timeout_s)
        listing = []
        for item_id in f.by_item:  # the first page is enough to show; the decision covers every member
            item = run.items.get(item_id)
            if item is not None:
                listing.append({"item_id": item_id, "asset_id": item.asset.id, "title": item.asset.title,
                                "prompt": None, "model": None})
            if len(listing) >= ev.ITEMS_PER_EVENT:
                break
        self.kind = "threshold_approval_request"
        run.bus.emit(ev.ThresholdApprovalRequest(
            session_id=run.session_id, batch_id=self.batch_id, items=listing, estimated_cost_usd=self.estimate,
            expires_at=self.expires_at.isoformat(), timeout_policy="hold", threshold_usd=settings.cost_threshold_usd,
            forecast=f.breakdown(), budget_usd=run.budget.limit_usd))
        self.requested = True
        if not run.paused:
            run.set_status("awaiting_approval", "approval")

    # -- decisions ------------------------------------------------------------------------------
    def apply_decision(self, row: dict[str, Any]) -> str:
        if not self.decided:
            if row["action"] == "modify_batch" or (row["action"] == "approve_items"
                                                    and row.get("modifications") not in (None, "null", "{}", {})):
                return (f"refused: {self.batch_id} asks about the session's forecast before any prompt is written: "
                        "there is no prompt to edit yet; approve it (all or some items) and edit prompts at the "
                        "batch's own request")
        return super().apply_decision(row)

    def _resolve(self, tickets: dict[str, Ticket]) -> None:
        super()._resolve(tickets)
        self.cover_usd = sum(self.run.estimate_image(self.run.items[i].asset)
                             for i, t in tickets.items() if t.approved and i in self.run.items)
        if not self.settled.done():
            self.settled.set_result(None)

    def item_left(self, item_id: str) -> None:
        self.expected.discard(item_id)
        if not self.decided and not self.expected and not self.settled.done():
            self.settled.set_result(None)  # every item ended (skipped, aborted): nothing left to ask about


async def forecast_first(run: "SessionRun") -> None:
    """Before the first paid call: forecast the open items and, over the cost threshold, wait for a decision.

    Items a decision rejects end ``rejected`` here, before they begin; approved ones keep the decision for
    their provenance. Returns at once when the gate is off or the forecast is within the threshold."""
    settings = run.spec.approval
    if not settings.enabled or not run.items:
        return
    fid = forecast_batch_id(run.session_id)
    work = [(item.item_id, item.asset, item.prompt is None) for item in run.items.values()]
    forecast = await asyncio.to_thread(  # ~80 µs an item: a large session must not stall the loop
        forecast_items, work, models=list(run.spec.models), image_model=run.spec.image_model,
        template=run.template, book=run.price_book)
    del work
    existing = run.pending_batches.get(fid)
    covered = existing is None and run.resumed and await _approved_before(run, fid)
    if existing is None and not covered and forecast.total_usd <= settings.cost_threshold_usd:
        return
    gate = ForecastGate(run, forecast, list(forecast.by_item), existing=existing, covered=covered)
    run.gates[fid] = gate
    run.forecast = gate
    if gate.decided:
        return
    log.info("session %s: forecast $%.4f (prompts $%.4f + images $%.4f) is over the $%.2f threshold; asking first",
             run.session_id, forecast.total_usd, forecast.prompt_usd, forecast.image_usd, settings.cost_threshold_usd)
    gate.ask()
    await gate.settled
    for item_id, ticket in list(gate.results.items()):
        if not ticket.approved:
            run.end_unbegun(item_id, "rejected", ticket.reason)
        else:
            item = run.items.get(item_id)
            if item is not None and ticket.decision:
                item.decisions.append(ticket.decision)
    gate.results.clear()  # the items carry what they need; a large session's tickets leave memory
    gate.expected.clear()


async def _approved_before(run: "SessionRun", batch_id: str) -> bool:
    rows = await asyncio.to_thread(run.engine.store.query, "SELECT status FROM approvals WHERE batch_id = ?",
                                   [batch_id])
    return bool(rows) and rows[0][0] in APPROVAL_RELEASED
