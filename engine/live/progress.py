"""Terminal progress for a session: a bar with counts, cost and ETA, fed by events."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field

from engine.vocabulary import SESSION_TERMINAL

__all__ = ["SessionProgress", "render_bar", "format_eta", "format_duration", "estimate_eta_s"]


def format_duration(seconds: float | None, *, unknown: str = "--") -> str:
    """The one way the studio writes a duration: 42s, 3m05s, 1h07m."""
    if seconds is None or seconds != seconds:  # None or NaN
        return unknown
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def estimate_eta_s(done: int, total: int, elapsed_s: float) -> float | None:
    """The one ETA: the remaining items at the average pace so far. None before the first item ends."""
    if total <= 0 or done <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, elapsed_s / done * max(total - done, 0))


def format_eta(seconds: float | None) -> str:
    return f"ETA {format_duration(seconds)}"


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
    eta_at: float | None = None  # monotonic time of eta_s, so a view can count down between events
    status: str = "running"
    counts: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)  # item_id -> stage
    last_note: str = ""

    def apply(self, event: str, item_id: str | None, payload: dict) -> None:
        if event == "generation_start":
            self.total, self.budget_usd, self.simulated = payload["total"], payload["budget_usd"], payload["simulated"]
        elif event == "progress_update":
            self.done, self.total, self.eta_s = payload["done"], payload["total"], payload["eta_s"]
            self.eta_at = time.monotonic()
            self.counts = payload.get("counts") or self.counts
        elif event == "cost_update":
            self.cost_usd = payload["total_usd"]
            self.budget_usd = payload.get("budget_usd", self.budget_usd)
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
            self.cost_usd = payload.get("cost_usd", self.cost_usd)
            self.eta_s = None

    def load_row(self, row: dict) -> None:
        """Adopt a ``sessions`` row (a snapshot, or the database when following a daemon's job)."""
        self.status = row.get("status") or self.status
        self.total, self.done = row.get("items_total") or 0, row.get("items_done") or 0
        self.cost_usd, self.budget_usd = row.get("cost_usd") or 0.0, row.get("budget_usd")
        self.simulated = bool(row.get("simulated"))
        if self.status == "paused" and row.get("pause_reason"):
            self.last_note = f"paused ({row['pause_reason']})"

    def eta_now(self) -> float | None:
        """The engine's last ETA, counted down since it came; None once the session has ended."""
        if self.eta_s is None or self.status in SESSION_TERMINAL:
            return None
        return self.eta_s - (time.monotonic() - self.eta_at) if self.eta_at is not None else self.eta_s

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
