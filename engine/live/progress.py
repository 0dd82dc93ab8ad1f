"""Terminal progress for a session: a bar with counts, cost and ETA, fed by events."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field

__all__ = ["SessionProgress", "render_bar", "format_eta"]


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"ETA {seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"ETA {seconds // 60}m{seconds % 60:02d}s"
    return f"ETA {seconds}s"


def render_bar(done: int, total: int, width: int = 28) -> str:
    filled = int(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


@dataclass
class SessionProgress:
    session_id: str
    total: int = 0
    done: int = 0
    cost_usd: float = 0.0
    budget_usd: float | None = None
    simulated: bool = True
    eta_s: float | None = None
    status: str = "running"
    counts: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)  # item_id -> stage
    last_note: str = ""

    def apply(self, event: str, item_id: str | None, payload: dict) -> None:
        if event == "generation_start":
            self.total, self.budget_usd, self.simulated = payload["total"], payload["budget_usd"], payload["simulated"]
        elif event == "progress_update":
            self.done, self.total, self.eta_s = payload["done"], payload["total"], payload["eta_s"]
            self.counts = payload.get("counts") or self.counts
        elif event == "cost_update":
            self.cost_usd = payload["total_usd"]
        elif event == "pipeline_stage_update" and item_id:
            self.stages[item_id] = payload["stage"]
        elif event == "item_finished" and item_id:
            self.stages.pop(item_id, None)
            if payload["outcome"] != "saved":
                self.last_note = f"{item_id.split(':', 1)[-1]} {payload['outcome']}: {payload['reason']}"[:90]
        elif event == "session_status":
            self.status = payload["status"]
        elif event in ("approval_request", "threshold_approval_request"):
            self.last_note = (f"waiting for approval of {payload['batch_id']} ({len(payload['items'])} items, "
                              f"est. ${payload['estimated_cost_usd']:.2f}): approve in the console or "
                              f"`assetgen approve {payload['batch_id']}`")
        elif event == "control_flag_change":
            self.last_note = f"{payload['command']}: {payload['result']}"[:90]
        elif event == "generation_complete":
            self.status = payload["outcome"]

    def apply_frame(self, frame: str) -> None:
        message = json.loads(frame)
        self.apply(message["event"], message.get("item_id"), message["payload"])

    def line(self) -> str:
        cost = f"${self.cost_usd:.4f}" + (" SIMULATED" if self.simulated else "")
        if self.budget_usd:
            cost += f" of ${self.budget_usd:.2f}"
        in_stage: dict[str, int] = {}
        for stage in self.stages.values():
            in_stage[stage] = in_stage.get(stage, 0) + 1
        stages = " ".join(f"{k}:{v}" for k, v in in_stage.items())
        status = "" if self.status == "running" else f" [{self.status}]"
        return (f"{render_bar(self.done, self.total)} {self.done}/{self.total}  {cost}  "
                f"{format_eta(self.eta_s)}{status}  {stages}").rstrip()


class Printer:
    """Redraws one line on a terminal; prints a line every few seconds when piped."""

    def __init__(self, stream=None, *, interval: float = 0.2, piped_interval: float = 5.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else piped_interval
        self._last = 0.0
        self._note = ""
        self._line = ""

    def show(self, progress: SessionProgress, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if progress.last_note and progress.last_note != self._note:
            self._note = progress.last_note
            self._write(f"  {progress.last_note}\n")
        line = progress.line()
        if line == self._line and not self.tty:
            return
        self._line = line
        if self.tty:
            self._write("\r\x1b[2K" + line)
        else:
            self._write(line + "\n")

    def finish(self, progress: SessionProgress) -> None:
        self.show(progress, force=True)
        if self.tty:
            self._write("\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
