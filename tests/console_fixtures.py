"""Sample studio databases for console tests, built by emitting REAL events.

Every row the console reads gets there the way the engine puts it there: events
go through Bus -> Projector -> Ticker into a Store in tmp_path. Only operator
rows (controls, decisions, jobs) are inserted directly, as the console or the
CLI would, and stamped applied the way the engine's tick handlers would.

Timestamps are moved onto a synthetic clock before the ticker flushes, so a
session looks like it took minutes rather than the milliseconds it took here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image, PngImagePlugin

from engine import events as ev
from engine.live.bus import Bus
from engine.live.projection import Projector
from engine.store.database import Store
from engine.live.ticker import Ticker

__all__ = ["SampleIds", "Emitter", "build_sample_db", "write_png", "FINISHED", "RUNNING", "AWAITING"]

FINISHED = "s-finished"
RUNNING = "s-running"
AWAITING = "s-awaiting"
MODELS = ("anthropic/claude-sonnet-4.5", "openai/gpt-5-mini")
IMAGE_MODEL = "google/gemini-2.5-flash-image"


@dataclass
class SampleIds:
    db_path: Path
    data_dir: Path
    finished: str = FINISHED
    running: str = RUNNING
    awaiting: str = AWAITING
    batch_id: str = "b-awaiting-1"
    threshold_batch_id: str = "b-threshold-1"
    awaiting_items: list[str] = field(default_factory=list)
    saved_images: list[Path] = field(default_factory=list)
    in_flight_item: str = ""


class Emitter:
    """Emits events at synthetic times and flushes them through the real ticker."""

    def __init__(self, store: Store):
        self.bus = Bus()
        self.projector = Projector()
        self.ticker = Ticker(store, self.bus, self.projector)
        self.now = datetime.now(timezone.utc)

    def at(self, when: datetime) -> "Emitter":
        self.now = when
        return self

    def emit(self, event: ev.Event, *, after_s: float = 0.5):
        self.now += timedelta(seconds=after_s)
        record = self.bus.emit(event)
        record.ts_us = int(self.now.timestamp() * 1_000_000)
        return record

    def flush(self) -> int:
        return self.ticker.flush()


def write_png(path: Path, provenance: dict, *, colour=(120, 90, 160)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("provenance", json.dumps(provenance))
    Image.new("RGB", (32, 32), colour).save(path, pnginfo=info)
    return path


def _start(em: Emitter, session_id: str, assets: list[tuple[str, str, str]], *, provider: str,
           budget: float | None, total: int | None = None) -> None:
    items = [{"item_id": f"{session_id}:{a}", "asset_id": a, "asset_type": t, "tier": tier,
              "title": a.replace("-", " ").title()} for a, t, tier in assets]
    em.emit(ev.GenerationStart(
        session_id=session_id, total=total or len(items), provider=provider, speed="normal", concurrency=2,
        budget_usd=budget, catalog="data/catalogs/estate_planning_v4.toml", simulated=provider == "standin",
        items=items, params={"test": provider == "standin"}))


def _compete(em: Emitter, session_id: str, item_id: str, *, call_base: str, totals: dict) -> str:
    """Prompt stage, model competition and winner; returns the winning prompt."""
    for stage, previous in (("prompt", "discovery"), ("model", "prompt")):
        em.emit(ev.PipelineStageUpdate(session_id=session_id, item_id=item_id, stage=stage, previous=previous))
    em.emit(ev.PromptTemplateStart(session_id=session_id, item_id=item_id, asset_id=item_id.split(":")[1],
                                   asset_type="icon", template_version=1))
    em.emit(ev.ModelCompetitionStart(session_id=session_id, item_id=item_id, models=list(MODELS),
                                     template_version=1))
    scores = []
    for n, model in enumerate(MODELS):
        call_id = f"{call_base}-p{n}"
        cost = 0.0012 + 0.0008 * n
        latency = 900.0 + 400 * n
        prompt = f"{model.split('/')[1]}: a calm heirloom {item_id.split(':')[1]}, warm light"
        _api_call(em, session_id, item_id, call_id, "prompt", model, cost, latency, totals)
        em.emit(ev.PromptGenerated(session_id=session_id, item_id=item_id, model=model, prompt=prompt,
                                   confidence=0.8 - 0.1 * n, rationale="covers trust and legacy",
                                   call_id=call_id, latency_ms=latency, cost_usd=cost))
        scores.append({"model": model, "confidence": 0.8 - 0.1 * n, "coverage": 0.9, "cost_usd": cost,
                       "score": 0.85 - 0.1 * n, "prompt": prompt})
    winner = scores[0]
    em.emit(ev.ModelDecision(session_id=session_id, item_id=item_id, winner=winner["model"],
                             reasoning="highest confidence with full coverage", rule="score",
                             scores=[{k: v for k, v in s.items() if k != "prompt"} for s in scores]))
    em.emit(ev.ModelWinnerSelected(session_id=session_id, item_id=item_id, model=winner["model"],
                                   prompt=winner["prompt"], score=winner["score"],
                                   confidence=winner["confidence"]))
    return winner["prompt"]


def _api_call(em: Emitter, session_id, item_id, call_id, purpose, model, cost, latency, totals) -> None:
    em.emit(ev.OpenrouterApiCall(session_id=session_id, item_id=item_id, call_id=call_id, purpose=purpose,
                                 model=model, attempt=1, estimated_cost_usd=cost))
    em.emit(ev.ApiCallFinished(session_id=session_id, item_id=item_id, call_id=call_id, model=model,
                               status="ok", http_status=200, latency_ms=latency, prompt_tokens=420,
                               completion_tokens=180, cost_usd=cost, generation_id=f"gen-{call_id}"),
            after_s=latency / 1000)
    totals[model] = totals.get(model, 0.0) + cost
    totals["_session"] = totals.get("_session", 0.0) + cost
    em.emit(ev.OpenrouterCost(session_id=session_id, item_id=item_id, call_id=call_id, model=model,
                              purpose=purpose, cost_usd=cost, model_total_usd=totals[model],
                              session_total_usd=totals["_session"]))


def _save_item(em: Emitter, session_id: str, item_id: str, prompt: str, *, data_dir: Path, call_base: str,
               totals: dict, done: int, total: int, budget: float | None) -> Path:
    em.emit(ev.PipelineStageUpdate(session_id=session_id, item_id=item_id, stage="image", previous="model"))
    _api_call(em, session_id, item_id, f"{call_base}-img", "image", IMAGE_MODEL, 0.039, 6200.0, totals)
    em.emit(ev.PipelineStageUpdate(session_id=session_id, item_id=item_id, stage="save", previous="image"))
    asset_id = item_id.split(":")[1]
    path = write_png(data_dir / "assets" / session_id / f"{asset_id}.png",
                     {"session_id": session_id, "item_id": item_id, "prompt": prompt, "model": IMAGE_MODEL,
                      "prompt_model": MODELS[0], "seed": 7, "simulated": session_id != RUNNING})
    em.emit(ev.ImageSaved(session_id=session_id, item_id=item_id, path=str(path), width=32, height=32,
                          bytes=path.stat().st_size, model=IMAGE_MODEL, seed=7, sha256="0" * 64))
    item_cost = sum(0.0012 + 0.0008 * n for n in range(len(MODELS))) + 0.039
    em.emit(ev.ItemFinished(session_id=session_id, item_id=item_id, outcome="saved", reason="",
                            cost_usd=item_cost, image_path=str(path)))
    em.emit(ev.ProgressUpdate(session_id=session_id, done=done, total=total, in_flight=0, eta_s=30.0 * (total - done),
                              elapsed_s=60.0 * done, counts={"saved": done}))
    em.emit(ev.CostUpdate(session_id=session_id, total_usd=totals["_session"], delta_usd=item_cost,
                          by_model={k: v for k, v in totals.items() if not k.startswith("_")}, budget_usd=budget,
                          reserved_usd=0.0, simulated=session_id != RUNNING))
    return path


def _run_item(em: Emitter, session_id: str, asset: tuple[str, str, str]) -> str:
    item_id = f"{session_id}:{asset[0]}"
    em.emit(ev.ItemStarted(session_id=session_id, item_id=item_id, asset_id=asset[0], asset_type=asset[1],
                           tier=asset[2], title=asset[0].replace("-", " ").title()), after_s=2)
    em.emit(ev.PipelineStageUpdate(session_id=session_id, item_id=item_id, stage="discovery", previous=None))
    return item_id


def build_sample_db(tmp_path: Path) -> SampleIds:
    """A finished session, a running one and one awaiting approval, with costs, proposals and images."""
    data_dir = tmp_path / "data"
    ids = SampleIds(db_path=data_dir / "studio.duckdb", data_dir=data_dir)
    store = Store(ids.db_path)
    em = Emitter(store)
    now = datetime.now(timezone.utc)

    # 1. finished, on the stand-in (simulated costs)
    em.at(now - timedelta(hours=2))
    assets = [("icon-will", "icon", "core"), ("icon-trust", "icon", "premium"), ("hero-family", "hero", "luxury")]
    _start(em, FINISHED, assets, provider="standin", budget=1.0)
    totals: dict = {}
    for n, asset in enumerate(assets):
        item_id = _run_item(em, FINISHED, asset)
        prompt = _compete(em, FINISHED, item_id, call_base=f"c-f{n}", totals=totals)
        ids.saved_images.append(_save_item(em, FINISHED, item_id, prompt, data_dir=data_dir, call_base=f"c-f{n}",
                                           totals=totals, done=n + 1, total=len(assets), budget=1.0))
    em.emit(ev.GenerationComplete(session_id=FINISHED, outcome="completed", counts={"saved": 3},
                                  cost_usd=totals["_session"], duration_s=180.0))
    em.flush()

    # 2. awaiting approval: two items with winning prompts held at the gate
    em.at(now - timedelta(minutes=10))
    assets = [("banner-legacy", "banner", "premium"), ("banner-peace", "banner", "core")]
    _start(em, AWAITING, assets, provider="standin", budget=2.0)
    totals = {}
    for n, asset in enumerate(assets):
        item_id = _run_item(em, AWAITING, asset)
        prompt = _compete(em, AWAITING, item_id, call_base=f"c-a{n}", totals=totals)
        ids.awaiting_items.append(item_id)
    batch_items = [{"item_id": i, "asset_id": i.split(":")[1], "prompt": "p", "model": MODELS[0]}
                   for i in ids.awaiting_items]
    expires = (now + timedelta(minutes=5)).isoformat()
    em.emit(ev.ApprovalRequest(session_id=AWAITING, batch_id=ids.batch_id, items=batch_items,
                               estimated_cost_usd=0.078, expires_at=expires, timeout_policy="approve"))
    em.emit(ev.ThresholdApprovalRequest(session_id=AWAITING, batch_id=ids.threshold_batch_id, items=[],
                                        estimated_cost_usd=1.6, expires_at=expires, timeout_policy="hold",
                                        threshold_usd=1.5))
    em.emit(ev.SessionStatus(session_id=AWAITING, status="awaiting_approval", previous="running",
                             reason="approval"))
    em.flush()

    # 3. running on OpenRouter (real costs): one saved, one in flight at the model stage, one pending
    em.at(now - timedelta(minutes=4))
    assets = [("social-home", "social", "core"), ("social-heirs", "social", "core"), ("social-guard", "social", "premium")]
    _start(em, RUNNING, assets, provider="openrouter", budget=0.5)
    totals = {}
    item_id = _run_item(em, RUNNING, assets[0])
    prompt = _compete(em, RUNNING, item_id, call_base="c-r0", totals=totals)
    ids.saved_images.append(_save_item(em, RUNNING, item_id, prompt, data_dir=data_dir, call_base="c-r0",
                                       totals=totals, done=1, total=3, budget=0.5))
    ids.in_flight_item = _run_item(em, RUNNING, assets[1])
    em.emit(ev.PipelineStageUpdate(session_id=RUNNING, item_id=ids.in_flight_item, stage="prompt",
                                   previous="discovery"))
    em.emit(ev.PipelineStageUpdate(session_id=RUNNING, item_id=ids.in_flight_item, stage="model",
                                   previous="prompt"))
    em.at(now - timedelta(seconds=1))
    em.emit(ev.OpenrouterApiCall(session_id=RUNNING, item_id=ids.in_flight_item, call_id="c-r1-p0",
                                 purpose="prompt", model=MODELS[0], attempt=1, estimated_cost_usd=0.002))
    em.flush()

    _operator_rows(store, ids)
    store.close()
    return ids


def _operator_rows(store: Store, ids: SampleIds) -> None:
    """Rows the console/CLI writes, some already applied as the engine would stamp them."""
    with store.write() as con:
        con.execute("INSERT INTO controls (session_id, command, arg, requested_by, source, applied_at, result) "
                    "VALUES (?, 'speed', 'fast', 'ada', 'console', now(), 'applied'), "
                    "(?, 'pause', NULL, 'ada', 'cli', NULL, NULL)", [ids.running, ids.running])
        con.execute("INSERT INTO decisions (batch_id, action, item_ids, comment, decided_by, applied_at, result) "
                    "VALUES ('b-old', 'approve_batch', '[]', 'looks right', 'grace', now(), 'applied')")
        con.execute("INSERT INTO jobs (spec, requested_by, status, session_id) VALUES "
                    "(?, 'ada', 'done', ?), (?, 'grace', 'queued', NULL)",
                    [json.dumps({"test": True, "provider": "standin"}), ids.finished,
                     json.dumps({"test": False, "provider": "openrouter"})])
