"""Tables as projections of the event log.

The projector folds each event into in-memory rows of ``sessions``, ``items``,
``api_calls``, ``proposals`` and ``approvals`` and remembers which rows changed;
the ticker upserts those rows in the same transaction that appends the events,
so the tables never disagree with the log.

Memory follows the work in flight, not the session: an item's rows (its
``items`` row, its ``api_calls`` and ``proposals``) leave memory once written
while the item is pending or finished; only begun, unfinished items are held.
A pending item's row comes back when its ``item_started`` arrives, which carries
every column the pending row had.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from typing import Any, Iterable

from engine.live.bus import Record
from engine.quality.store import score_rows
from engine.store.columns import Columns

__all__ = ["Projector", "TABLE_KEYS"]

log = logging.getLogger(__name__)

TABLE_KEYS = {
    "sessions": ("session_id",),
    "items": ("item_id",),
    "api_calls": ("call_id",),
    "proposals": ("item_id", "model"),
    "approvals": ("batch_id",),
    "scores": ("score_id",),
}
_JSON_COLUMNS = {"params", "item_ids", "detail"}
_CHILD_TABLES = ("api_calls", "proposals")  # rows that belong to one item and leave memory with it


def _ts(record: Record) -> datetime:
    return datetime.fromtimestamp(record.ts_us / 1_000_000, tz=timezone.utc)


class Projector:
    def __init__(self) -> None:
        self._rows: dict[str, dict[tuple, dict[str, Any]]] = {t: {} for t in TABLE_KEYS}
        self._dirty: dict[str, set[tuple]] = {t: set() for t in TABLE_KEYS}
        self._leaving: set[str] = set()  # item ids whose rows may leave memory once written
        self._children: dict[str, list[tuple[str, tuple]]] = {}  # item id -> its api_calls / proposals keys
        self._retired: dict[str, dict[tuple, dict]] = {}  # rows dropped by the last take_dirty (restored on failure)
        self._lock = threading.Lock()
        self._handlers = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("_on_")
        }

    # -- reading the live state (snapshot for websockets clients, tests) ----------------------
    def session(self, session_id: str) -> dict | None:
        row = self._rows["sessions"].get((session_id,))
        return dict(row) if row else None

    def sessions(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._rows["sessions"].values()]

    def items(self, session_id: str) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._rows["items"].values() if r["session_id"] == session_id]

    def load(self, table: str, rows: Iterable[dict]) -> None:
        """Adopt rows already in the database (resuming a session) without marking them dirty."""
        keys = TABLE_KEYS[table]
        with self._lock:
            for row in rows:
                key = tuple(row[k] for k in keys)
                if table in _CHILD_TABLES and row.get("item_id"):
                    self._child(row["item_id"], table, key)
                self._rows[table][key] = dict(row)

    def forget_session(self, session_id: str) -> None:
        """Drop a finished session's rows from memory once they are persisted."""
        with self._lock:
            for table, rows in self._rows.items():
                for key in [k for k, r in rows.items() if r.get("session_id") == session_id]:
                    if key not in self._dirty[table]:
                        del rows[key]
            for item_id in [i for i in self._children if i.startswith(f"{session_id}:")]:
                del self._children[item_id]
            self._leaving = {i for i in self._leaving if (i,) in self._rows["items"]}

    def held_rows(self) -> dict[str, int]:
        """Rows in memory per table (what the engine's memory follows)."""
        with self._lock:
            return {table: len(rows) for table, rows in self._rows.items()}

    # -- folding events -----------------------------------------------------------------------
    def apply(self, records: Iterable[Record]) -> None:
        with self._lock:
            for record in records:
                handler = self._handlers.get(record.type)
                if handler is not None:
                    try:
                        handler(record, record.payload if record.payload is not None else json.loads(record.payload_json))
                    except Exception:  # one malformed event must not stop the rest of the batch
                        log.exception("could not project %s event (seq %d); it is kept in the event log",
                                      record.type, record.seq)

    def _upsert(self, table: str, key: tuple, **values) -> dict:
        rows = self._rows[table]
        row = rows.get(key)
        if row is None:
            row = dict(zip(TABLE_KEYS[table], key))
            rows[key] = row
        row.update(values)
        self._dirty[table].add(key)
        return row

    def _session(self, record: Record, **values) -> dict | None:
        """Update a known session; events of sessions this engine never started are logged only."""
        return self._touch("sessions", record.session_id, "status", record, values)

    def _item(self, record: Record, **values) -> dict | None:
        values["session_id"] = record.session_id
        return self._touch("items", record.item_id, "asset_id", record, values)

    def _touch(self, table: str, key_value: str, creating_field: str, record: Record, values: dict) -> dict | None:
        """Update a one-key row in place, creating it only when ``creating_field`` is given.

        Runs for most events, so it takes ``values`` as a dict rather than going through
        ``_upsert``'s keyword arguments: one call and no re-packing per event.
        """
        key = (key_value,)
        rows = self._rows[table]
        row = rows.get(key)
        if row is None:
            if creating_field not in values:
                return None
            row = rows[key] = {TABLE_KEYS[table][0]: key_value}
        if "updated_at" not in values:
            values["updated_at"] = _ts(record)
        row.update(values)
        self._dirty[table].add(key)
        return row

    def _on_generation_start(self, r: Record, p: dict) -> None:
        now = _ts(r)
        existing = self._rows["sessions"].get((r.session_id,))
        self._session(
            r, status="running", provider=p["provider"], speed=p["speed"], budget_usd=p["budget_usd"],
            simulated=p["simulated"], items_total=p["total"], params=p.get("params") or {},
            pause_reason=None, outcome=None, finished_at=None, message=None,
            created_at=(existing or {}).get("created_at") or now,
            started_at=(existing or {}).get("started_at") or now,
        )
        if existing is None:
            self._rows["sessions"][(r.session_id,)].update(items_done=0, cost_usd=0.0, reserved_usd=0.0)
        self._rows["sessions"][(r.session_id,)]["engine_pid"] = os.getpid()
        self._plan(r, p.get("items") or [], now)

    def _on_items_planned(self, r: Record, p: dict) -> None:
        self._plan(r, p["items"], _ts(r))

    def _plan(self, r: Record, items: list[dict], now: datetime) -> None:
        """Pending rows for the items a session will make; they leave memory once written."""
        for item in items:
            key = (item["item_id"],)
            if key in self._rows["items"]:
                continue
            self._upsert(
                "items", key, session_id=r.session_id, asset_id=item["asset_id"],
                asset_type=item.get("asset_type"), tier=item.get("tier"), title=item.get("title"),
                status="pending", stage=None, cost_usd=0.0, updated_at=now,
            )
            self._leaving.add(item["item_id"])

    def _on_generation_complete(self, r: Record, p: dict) -> None:
        self._session(r, status=p["outcome"], outcome=p["outcome"], finished_at=_ts(r),
                      cost_usd=p["cost_usd"], message=p.get("message") or None, pause_reason=None)

    def _on_session_status(self, r: Record, p: dict) -> None:
        values = {"status": p["status"]}
        if p["status"] == "paused":
            values["pause_reason"] = p["reason"]
        elif p["status"] == "running":
            values["pause_reason"] = None
        if p["status"] in ("failed", "interrupted"):
            values["message"] = p["reason"]
        self._session(r, **values)

    def _on_control_flag_change(self, r: Record, p: dict) -> None:
        if r.session_id and p["command"] == "speed" and p.get("new"):
            self._session(r, speed=p["new"])
        if r.session_id and p["command"] == "budget" and p.get("new"):
            self._session(r, budget_usd=float(p["new"]))

    def _on_progress_update(self, r: Record, p: dict) -> None:
        self._session(r, items_done=p["done"], items_total=p["total"])

    def _on_cost_update(self, r: Record, p: dict) -> None:
        self._session(r, cost_usd=p["total_usd"], reserved_usd=p["reserved_usd"])

    def _on_item_started(self, r: Record, p: dict) -> None:
        # a pending row written earlier has left memory: the event brings back every column it had
        fresh = {} if (r.item_id,) in self._rows["items"] else {"cost_usd": 0.0}
        self._item(r, asset_id=p["asset_id"], asset_type=p["asset_type"], tier=p["tier"], title=p["title"],
                   status="in_progress", stage="discovery", started_at=_ts(r), **fresh)
        self._leaving.discard(r.item_id)

    def _on_pipeline_stage_update(self, r: Record, p: dict) -> None:
        if r.item_id:
            self._item(r, stage=p["stage"])

    def _on_prompt_template_start(self, r: Record, p: dict) -> None:
        self._item(r, template_version=p["template_version"])

    def _on_model_winner_selected(self, r: Record, p: dict) -> None:
        self._item(r, winner_model=p["model"], final_prompt=p["prompt"])

    def _on_item_finished(self, r: Record, p: dict) -> None:
        planned = p.get("planned") if (r.item_id,) not in self._rows["items"] else None
        self._item(r, **(planned or {}), status=p["outcome"], outcome=p["outcome"], reason=p["reason"] or None, stage="done",
                   finished_at=_ts(r), cost_usd=p["cost_usd"],
                   **({"image_path": p["image_path"]} if p.get("image_path") else {}))
        self._leaving.add(r.item_id)

    def _on_image_saved(self, r: Record, p: dict) -> None:
        self._item(r, image_path=p["path"])

    def _on_openrouter_api_call(self, r: Record, p: dict) -> None:
        session = self._rows["sessions"].get((r.session_id,), {})
        self._child(r.item_id, "api_calls", (p["call_id"],))
        self._upsert("api_calls", (p["call_id"],), session_id=r.session_id, item_id=r.item_id,
                     purpose=p["purpose"], model=p["model"], attempt=p["attempt"], started_at=_ts(r),
                     status="in_flight", cost_usd=0.0, cost_estimated=False, simulated=bool(session.get("simulated")))

    def _on_api_call_finished(self, r: Record, p: dict) -> None:
        if (p["call_id"],) not in self._rows["api_calls"]:
            return
        self._upsert("api_calls", (p["call_id"],), status=p["status"], http_status=p["http_status"],
                     latency_ms=p["latency_ms"], prompt_tokens=p["prompt_tokens"],
                     completion_tokens=p["completion_tokens"], cost_usd=p["cost_usd"],
                     generation_id=p.get("generation_id"), error=p.get("error"), finished_at=_ts(r),
                     cost_estimated=bool(p.get("cost_estimated")))

    def _on_api_cost_settled(self, r: Record, p: dict) -> None:
        if (p["call_id"],) not in self._rows["api_calls"]:
            return
        self._upsert("api_calls", (p["call_id"],), cost_usd=p["cost_usd"], cost_estimated=bool(p["estimated"]),
                     error=None if not p["estimated"] else "cost unknown: held at the estimate")

    def _on_prompt_generated(self, r: Record, p: dict) -> None:
        self._child(r.item_id, "proposals", (r.item_id, p["model"]))
        self._upsert("proposals", (r.item_id, p["model"]), session_id=r.session_id, prompt=p["prompt"],
                     confidence=p["confidence"], rationale=p["rationale"], call_id=p["call_id"],
                     latency_ms=p["latency_ms"], cost_usd=p["cost_usd"], is_winner=False)

    def _child(self, item_id: str | None, table: str, key: tuple) -> None:
        if item_id is not None and key not in self._rows[table]:
            self._children.setdefault(item_id, []).append((table, key))

    def _on_model_decision(self, r: Record, p: dict) -> None:
        for entry in p["scores"]:
            key = (r.item_id, entry["model"])
            if key not in self._rows["proposals"]:
                continue
            self._upsert("proposals", key, score=entry["score"], coverage=entry.get("coverage"),
                         is_winner=entry["model"] == p["winner"],
                         reasoning=p["reasoning"] if entry["model"] == p["winner"] else entry.get("note"))

    def _request(self, r: Record, p: dict, kind: str) -> None:
        item_ids = [i["item_id"] for i in p["items"]]
        self._upsert("approvals", (p["batch_id"],), session_id=r.session_id, kind=kind, status="pending",
                     requested_at=_ts(r), expires_at=datetime.fromisoformat(p["expires_at"]),
                     item_ids=item_ids, estimated_cost_usd=p["estimated_cost_usd"],
                     threshold_usd=p.get("threshold_usd"))
        for item_id in item_ids:
            if (item_id,) in self._rows["items"]:
                self._upsert("items", (item_id,), status="awaiting_approval", stage="approval",
                             batch_id=p["batch_id"], updated_at=_ts(r))

    def _on_approval_request(self, r: Record, p: dict) -> None:
        self._request(r, p, "approval_request")

    def _on_threshold_approval_request(self, r: Record, p: dict) -> None:
        self._request(r, p, "threshold_approval_request")

    def _decided(self, r: Record, p: dict, status: str) -> None:
        self._upsert("approvals", (p["batch_id"],), status=status, decided_by=p.get("decided_by"),
                     decided_at=_ts(r))

    def _on_approve_batch(self, r: Record, p: dict) -> None:
        self._decided(r, p, "approved")

    def _on_reject_batch(self, r: Record, p: dict) -> None:
        self._decided(r, p, "rejected")

    def _edited_prompts(self, r: Record, p: dict) -> None:
        for item_id, prompt in (p.get("modifications") or {}).items():
            if (item_id,) in self._rows["items"]:
                self._upsert("items", (item_id,), final_prompt=prompt, updated_at=_ts(r))

    def _on_modify_batch(self, r: Record, p: dict) -> None:
        self._decided(r, p, "modified")
        self._edited_prompts(r, p)

    def _on_approve_items(self, r: Record, p: dict) -> None:
        self._decided(r, p, "partially_approved")
        self._edited_prompts(r, p)

    def _on_approval_closed(self, r: Record, p: dict) -> None:
        self._upsert("approvals", (p["batch_id"],), status="closed", decided_by="engine", decided_at=_ts(r))

    def _on_approval_timeout(self, r: Record, p: dict) -> None:
        status = "timed_out_approved" if p["action"] == "auto_approved" else "held"
        self._upsert("approvals", (p["batch_id"],), status=status, decided_by="timeout", decided_at=_ts(r))

    def _on_quality_scored(self, r: Record, p: dict) -> None:
        for row in score_rows(r.session_id, r.item_id, p, scored_at=_ts(r)):
            self._upsert("scores", (row.pop("score_id"),), **row)
        self._item(r, quality="passed" if p["verdict"] == "passed" else "review", attempts=p["attempt"])

    def _on_quality_gate_failed(self, r: Record, p: dict) -> None:
        if p["action"] == "regenerate":
            self._item(r, quality="regenerating")

    # -- persisting ---------------------------------------------------------------------------
    def take_dirty(self) -> tuple[dict[str, Columns], dict[str, set[tuple]]]:
        """The changed rows per table, as columns ready to upsert, and their keys (for ``restore_dirty``).

        Plain Python lists, not Arrow or pandas frames: DuckDB reads them as list parameters, and the
        engine then never imports pyarrow or pandas (about 80 MB resident; issue 14).
        """
        frames = {}
        with self._lock:
            taken = {t: k for t, k in self._dirty.items() if k}
            self._dirty = {t: set() for t in TABLE_KEYS}
            for table, keys in taken.items():
                rows = [self._rows[table][k] for k in keys if k in self._rows[table]]
                frames[table] = Columns.from_rows(rows, json_columns=_JSON_COLUMNS)
            self._retire()
        return frames, taken

    def _retire(self) -> None:
        """Drop the rows of items that are pending or finished: every change to them is in this write
        (nothing is dirty after a take). Kept aside until the next take, for ``restore_dirty``."""
        items = self._rows["items"]
        retired: dict[str, dict[tuple, dict]] = {t: {} for t in ("items", *_CHILD_TABLES)}
        for item_id in self._leaving:
            key = (item_id,)
            row = items.get(key)
            if row is not None and row.get("status") != "pending" and row.get("outcome") is None:
                continue  # begun since: it stays until it finishes
            if row is not None:
                retired["items"][key] = items.pop(key)
            for table, child in self._children.pop(item_id, ()):
                if child in self._rows[table]:
                    retired[table][child] = self._rows[table].pop(child)
        self._leaving = set()
        self._retired = retired

    def restore_dirty(self, taken: dict[str, set[tuple]]) -> None:
        """The write failed: mark the rows changed again so the next tick retries them."""
        with self._lock:
            for table, rows in self._retired.items():  # rows retired by that take come back to be written
                for key, row in rows.items():
                    self._rows[table].setdefault(key, row)
                    if table == "items":
                        self._leaving.add(key[0])
                    else:
                        self._children.setdefault(row["item_id"], []).append((table, key))
            self._retired = {}
            for table, keys in taken.items():
                self._dirty[table] |= keys
