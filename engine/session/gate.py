"""The approval gate: large or costly batches wait for a human before images are paid for.

A batch is, by default, all the items a session selected (``batch_size`` splits
it). When a batch has more items than the threshold, its prompts are made
first, then ``approval_request`` (or ``threshold_approval_request`` when the
estimated image cost passes the cost threshold) and the images wait for a
decision row. A timeout auto-approves, except above the cost threshold: then the
request is held and the session pauses with reason ``approval``.

Before any of that, the whole session's forecast may ask first (engine/session/forecast.py). Money
a person approved is not asked about twice: a batch whose estimate the approved forecast covers is
an ordinary ``approval_request``. Approving more than the budget has left needs the decision's
``budget_usd``: the budget is raised, then the batch released, in one step on the loop.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any


from engine import events as ev

if TYPE_CHECKING:
    from engine.session.run import ItemState, SessionRun

__all__ = ["BatchGate", "Ticket", "plan_batches", "forecast_batch_id", "budget_refusal", "raise_budget"]

log = logging.getLogger(__name__)


@dataclass
class Ticket:
    approved: bool
    prompt: str | None
    reason: str = ""
    decision: dict | None = None


def forecast_batch_id(session_id: str) -> str:
    """The id of the session-level request that asks about the whole forecast before anything is paid."""
    return f"{session_id}:forecast"


def plan_batches(run: "SessionRun", todo: list["ItemState"]) -> list[tuple[str, list[str], bool]]:
    """Gated batches for the items still to do; resumed items keep their pending batch."""
    settings = run.spec.approval
    batches: dict[str, list[str]] = {}
    fresh = []
    forecast = forecast_batch_id(run.session_id)
    for item in todo:
        if item.batch_id == forecast:  # listed by the forecast's request only: its own batch is still to plan
            item.batch_id = None
        if item.batch_id and item.batch_id in run.pending_batches:
            batches.setdefault(item.batch_id, []).append(item.item_id)
        elif item.batch_id:
            continue  # its batch was decided before a crash: no second gate
        else:
            fresh.append(item)
    size = settings.batch_size or max(len(fresh), 1)
    for start in range(0, len(fresh), size):
        chunk = fresh[start:start + size]
        if settings.enabled and len(chunk) > settings.threshold:
            batch_id = f"{run.session_id}-b{secrets.token_hex(3)}"
            batches[batch_id] = [i.item_id for i in chunk]
            for item in chunk:
                item.batch_id = batch_id
    return [(batch_id, ids, True) for batch_id, ids in batches.items()]


class BatchGate:
    def __init__(self, run: "SessionRun", batch_id: str, item_ids: list[str], *, gated: bool = True,
                 existing: dict | None = None):
        self.run = run
        self.batch_id = batch_id
        self.gated = gated
        self.expected = set(item_ids)
        self.ready: dict[str, "ItemState"] = {}
        self.waiters: dict[str, asyncio.Future] = {}
        self.results: dict[str, Ticket] = {}
        self.requested = existing is not None
        self.announced = False  # this run has said the session awaits this batch's decision
        self.decided = False
        self.kind = (existing or {}).get("kind")
        self.estimate = float((existing or {}).get("estimated_cost_usd") or 0.0)
        self.expires_at: datetime | None = (existing or {}).get("expires_at")
        self.held = False
        self.done = 0
        self.approved = 0
        self._timer: asyncio.Task | None = None

    # -- items arrive, leave and finish -----------------------------------------------------
    def has_ticket(self, item_id: str) -> bool:
        """Decided for this item already: ``wait`` returns at once."""
        return item_id in self.results

    async def wait(self, item: "ItemState") -> Ticket:
        iid = item.item_id
        if iid not in self.results:
            future = asyncio.get_running_loop().create_future()
            self.waiters[iid] = future
            if iid in self.expected:
                self.ready[iid] = item
            self._maybe_request()
            try:
                await future
            finally:
                self.waiters.pop(iid, None)
        # Decided: the batch forgets the item, so a long session's gates hold only undecided items.
        self.ready.pop(iid, None)
        self.expected.discard(iid)
        return self.results.pop(iid)

    def item_left(self, item_id: str) -> None:
        """An item ended before (or instead of) its decision: the batch no longer waits for it."""
        if item_id in self.expected and item_id not in self.results:
            self.expected.discard(item_id)
            self.ready.pop(item_id, None)
            if not self.decided:
                self._maybe_request()

    def item_done(self, item_id: str) -> None:
        self.done += 1
        self.run.bus.emit(ev.BatchProgress(session_id=self.run.session_id, batch_id=self.batch_id,
                                           done=self.done, total=self.approved))

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()

    # -- the request --------------------------------------------------------------------------
    def _maybe_request(self) -> None:
        # ready ⊆ expected, so comparing sizes says whether every item has arrived (no per-arrival set walk)
        if self.decided or not self.expected or len(self.ready) < len(self.expected):
            return
        if not self.requested:
            self._emit_request()
        elif not self.announced:  # asked before a stop: its pending row still stands, only the wait is new
            self._announce()
        if self._timer is None and self.expires_at is not None:
            self._timer = asyncio.get_running_loop().create_task(self._expire())

    def _emit_request(self) -> None:
        run = self.run
        settings = run.spec.approval
        items = [self.ready[i] for i in sorted(self.expected)]
        self.estimate = round(sum(run.estimate_image(i.asset) for i in items), 6)
        self.expires_at = datetime.now(timezone.utc) + timedelta(seconds=settings.timeout_s)
        listing = [{"item_id": i.item_id, "asset_id": i.asset.id, "title": i.asset.title, "prompt": i.prompt,
                    "model": i.model} for i in items]
        common = dict(session_id=run.session_id, batch_id=self.batch_id, items=listing,
                      estimated_cost_usd=self.estimate, expires_at=self.expires_at.isoformat())
        forecast = run.gates.get(forecast_batch_id(run.session_id))
        covered = forecast is not None and forecast.covers(self.estimate)  # every batch uses up its share
        if self.estimate > settings.cost_threshold_usd and not covered:
            self.kind = "threshold_approval_request"
            run.bus.emit(ev.ThresholdApprovalRequest(**common, timeout_policy="hold",
                                                     threshold_usd=settings.cost_threshold_usd,
                                                     budget_usd=run.budget.limit_usd))
        else:
            self.kind = "approval_request"
            run.bus.emit(ev.ApprovalRequest(**common, timeout_policy="approve"))
        self.requested = True
        self._announce()

    def _announce(self) -> None:
        self.announced = True
        if not self.run.paused:
            self.run.set_status("awaiting_approval", "approval")

    async def _expire(self) -> None:
        delay = (self.expires_at - datetime.now(timezone.utc)).total_seconds()
        await asyncio.sleep(max(delay, 0.0))
        if self.decided:
            return
        run = self.run
        if self.kind == "threshold_approval_request":
            self.held = True
            run.bus.emit(ev.ApprovalTimeout(session_id=run.session_id, batch_id=self.batch_id, action="held",
                                            estimated_cost_usd=self.estimate))
            if not run.paused:
                run.hold("approval", source="engine",
                           result=f"approval of {self.batch_id} (est. ${self.estimate:.2f}) expired above the "
                                  f"${run.spec.approval.cost_threshold_usd:.2f} threshold: waiting for a decision")
            return
        run.bus.emit(ev.ApprovalTimeout(session_id=run.session_id, batch_id=self.batch_id, action="auto_approved",
                                        estimated_cost_usd=self.estimate))
        self._resolve({i: Ticket(True, self._prompt(i),
                                 decision={"action": "approval_timeout", "decided_by": "timeout"})
                       for i in self.expected})

    # -- decisions ----------------------------------------------------------------------------
    def apply_decision(self, row: dict[str, Any]) -> str:
        """Apply one decision row; returns the ``result`` written back to it."""
        if self.decided:
            return f"refused: batch {self.batch_id} was already decided"
        action = row["action"]
        by, comment, decision_id = row.get("decided_by"), row.get("comment"), row.get("decision_id")
        try:
            item_ids = self._item_ids(_loads(row.get("item_ids"), "item_ids"))
            modifications = _loads(row.get("modifications"), "modifications")
        except ValueError as exc:
            return f"refused: {exc}"
        record = {"decision_id": decision_id, "action": action, "decided_by": by, "comment": comment}
        run, sid = self.run, self.run.session_id
        members = sorted(self.expected)
        prompt_of = {i: self._prompt(i) for i in members}
        if action == "approve_batch":
            tickets = {i: Ticket(True, prompt_of[i], decision=record) for i in members}
            event = ev.ApproveBatch(session_id=sid, batch_id=self.batch_id, decision_id=decision_id, decided_by=by,
                                    comment=comment, item_ids=members)
            summary = f"approved {len(members)} items"
        elif action == "reject_batch":
            tickets = {i: Ticket(False, None, reason=f"batch rejected by {by or 'operator'}"
                                 + (f": {comment}" if comment else ""), decision=record) for i in members}
            event = ev.RejectBatch(session_id=sid, batch_id=self.batch_id, decision_id=decision_id, decided_by=by,
                                   comment=comment, item_ids=members)
            summary = f"rejected {len(members)} items"
        elif action == "modify_batch":
            if not isinstance(modifications, dict) or not modifications:
                return 'refused: modifications must be a JSON object {"<item_id>": "<edited prompt>"}'
            edits = self._edits(modifications)
            if isinstance(edits, str):
                return edits
            tickets = {i: self._approved(i, prompt_of[i], edits, record) for i in members}
            event = ev.ModifyBatch(session_id=sid, batch_id=self.batch_id, decision_id=decision_id, decided_by=by,
                                   comment=comment, modifications=edits, item_ids=members)
            summary = f"approved {len(members)} items with {len(edits)} edited prompts"
        elif action == "approve_items":
            if not item_ids:
                return "refused: approve_items needs item_ids, a JSON list of the items to approve"
            chosen = set(item_ids)
            edits: dict[str, str] = {}
            if modifications not in (None, {}):
                if not isinstance(modifications, dict):
                    return 'refused: modifications must be a JSON object {"<item_id>": "<edited prompt>"}'
                edits = self._edits(modifications)
                if isinstance(edits, str):
                    return edits
                unchosen = sorted(set(edits) - chosen)
                if unchosen:
                    return (f"refused: {unchosen[0]!r} has an edited prompt but is not among the approved items; "
                            "approve it too or drop its edit")
            rejected = {i: Ticket(False, None, reason=f"not approved by {by or 'operator'}", decision=record)
                        for i in members if i not in chosen}
            tickets = {**rejected, **{i: self._approved(i, prompt_of[i], edits, record) for i in members if i in chosen}}
            event = ev.ApproveItems(session_id=sid, batch_id=self.batch_id, decision_id=decision_id, decided_by=by,
                                    comment=comment, item_ids=sorted(chosen),
                                    rejected_item_ids=sorted(set(members) - chosen), modifications=edits)
            summary = f"approved {len(chosen)} items, rejected {len(members) - len(chosen)}"
            if edits:
                summary += f", {len(edits)} with edited prompts"
        else:
            return f"refused: unknown action {action!r}"
        approved = [i for i, ticket in tickets.items() if ticket.approved]
        estimate = self.estimate_of(approved)
        budget_usd = row.get("budget_usd")
        refusal = budget_refusal(run, self.batch_id, estimate, budget_usd, detail=self.estimate_detail(approved))
        if refusal:
            return refusal
        if budget_usd is not None:  # raised first, so the released items' calls find room
            raise_budget(run, float(budget_usd), batch_id=self.batch_id, decision_id=decision_id, decided_by=by)
            summary += f"; budget ${float(budget_usd):.2f}"
        run.bus.emit(event)
        self._resolve(tickets)
        if run.paused and run.pause_reason == "approval":
            run.release(source="engine", reason="approval", result=f"{self.batch_id} decided")
        return f"applied: {summary}"

    def covers(self, estimate: float) -> bool:
        """Whether this gate's approval already covers another batch's money (only the forecast's does)."""
        return False

    def estimate_of(self, item_ids: list[str]) -> float:
        """What approving ``item_ids`` commits: their images (their prompts are paid already)."""
        items = (self.run.items.get(i) for i in item_ids)
        return round(sum(self.run.estimate_image(item.asset) for item in items if item is not None), 6)

    def estimate_detail(self, item_ids: list[str]) -> str:
        """How ``estimate_of`` is made up, for a refusal message."""
        return f" for the images of {len(item_ids)} item(s)"

    @staticmethod
    def _approved(item_id: str, proposed: str | None, edits: dict[str, str], record: dict) -> Ticket:
        """An approved item's ticket: its edited prompt when there is one, with the original kept beside it."""
        if item_id not in edits:
            return Ticket(True, proposed, decision=record)
        return Ticket(True, edits[item_id], decision={**record, "edited": True, "original_prompt": proposed})

    def _edits(self, modifications: dict) -> dict[str, str] | str:
        """Edited prompts keyed by item id, or the ``refused: …`` result that explains what is wrong."""
        edits = {}
        for key, prompt in modifications.items():
            item_id = self._item_id(key)
            if item_id is None:
                return f"refused: {key!r} is not an item of batch {self.batch_id}"
            if not isinstance(prompt, str) or not prompt.strip():
                return f"refused: the edited prompt for {key!r} must be a non-empty string"
            edits[item_id] = prompt.strip()
        return edits

    def _resolve(self, tickets: dict[str, Ticket]) -> None:
        self.decided = True
        if self._timer and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self.results.update(tickets)
        self.approved += sum(1 for t in tickets.values() if t.approved)
        for item_id, ticket in tickets.items():
            future = self.waiters.get(item_id)
            if future is not None and not future.done():
                future.set_result(ticket)
        run = self.run
        if run.status == "awaiting_approval" and not run.awaiting_decision():
            run.set_status("running", "approval decided")

    def _prompt(self, item_id: str) -> str | None:
        # From the item itself, not ``ready``: after a resume, a decision written while the engine
        # was down applies at the first tick, possibly before every item is back at the gate.
        item = self.run.items.get(item_id)
        return item.prompt if item is not None else None

    def _item_id(self, key: Any) -> str | None:
        if not isinstance(key, str):
            return None
        if key in self.expected:
            return key
        qualified = f"{self.run.session_id}:{key}"  # an asset id is accepted too
        return qualified if qualified in self.expected else None

    def _item_ids(self, value: Any) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError("item_ids must be a JSON list of item ids")
        out = []
        for key in value:
            item_id = self._item_id(key)
            if item_id is None:
                raise ValueError(f"{key!r} is not an item of batch {self.batch_id}")
            out.append(item_id)
        return out


def budget_refusal(run: "SessionRun", batch_id: str, estimate: float, budget_usd: float | None, *,
                   detail: str = "") -> str | None:
    """Why approving ``estimate`` more is refused, or None: it must fit the budget (with ``budget_usd``,
    the decision's new budget). The refusal says the estimate, what is left and what budget to set."""
    budget = run.budget
    committed = budget.spent_usd + budget.reserved_usd
    needed = committed + estimate
    to_set = math.ceil(round(needed * 100, 6)) / 100  # whole cents, upwards
    if budget_usd is None:
        if budget.limit_usd is None or needed <= budget.limit_usd + 1e-9:
            return None
        left = max(budget.limit_usd - committed, 0.0)
        return (f"refused: approving {batch_id} commits an estimated ${estimate:.4f}{detail}, more than the "
                f"${left:.4f} left of the ${budget.limit_usd:.2f} budget (${committed:.4f} spent or reserved); "
                f"decide again with budget_usd of at least ${to_set:.2f} to raise the budget with the approval "
                f"(assetgen approve {batch_id} --budget {to_set:.2f})")
    if float(budget_usd) + 1e-9 < needed:
        return (f"refused: budget_usd ${float(budget_usd):.2f} is too small: approving {batch_id} commits an estimated "
                f"${estimate:.4f}{detail} on top of ${committed:.4f} spent or reserved; set budget_usd to at least "
                f"${to_set:.2f}")
    return None


def raise_budget(run: "SessionRun", amount: float, *, batch_id: str, decision_id: int | None,
                 decided_by: str | None) -> None:
    """The session's budget set by a decision (``control_flag_change`` command ``budget``, reason ``approval``);
    a budget pause ends when the new budget leaves room."""
    previous = run.budget.limit_usd
    run.budget.limit_usd = amount
    result = (f"budget ${amount:.2f}" + (f" (was ${previous:g})" if previous is not None else "")
              + f" with decision #{decision_id} on {batch_id}")
    run.bus.emit(ev.ControlFlagChange(session_id=run.session_id, command="budget",
                                      previous=None if previous is None else f"{previous:g}", new=f"{amount:g}",
                                      reason="approval", control_id=None, source="engine", requested_by=decided_by,
                                      result=result))
    if run.paused and run.pause_reason == "budget" and not run.budget.would_exceed(0.0):
        run.release(source="engine", reason="budget", requested_by=decided_by, result=f"resumed: {result}")


def _loads(value: Any, name: str) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc.msg})") from None
